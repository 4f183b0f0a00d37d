from iko_shared.connector import load_source_settings, run_connector

from iko_brp_connector.source import BrpSettings, BrpSource


def main() -> None:
    def factory() -> tuple[BrpSource, BrpSettings]:
        settings = load_source_settings(BrpSettings)
        return BrpSource(settings), settings

    run_connector(factory)


if __name__ == "__main__":
    main()
