from iko_shared.connector import load_source_settings, run_connector

from iko_bag_connector.source import BagSettings, BagSource


def main() -> None:
    def factory() -> tuple[BagSource, BagSettings]:
        settings = load_source_settings(BagSettings)
        return BagSource(settings), settings

    run_connector(factory)


if __name__ == "__main__":
    main()
