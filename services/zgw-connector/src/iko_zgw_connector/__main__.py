from iko_shared.connector import load_source_settings, run_connector

from iko_zgw_connector.source import ZgwSettings, ZgwSource


def main() -> None:
    def factory() -> tuple[ZgwSource, ZgwSettings]:
        settings = load_source_settings(ZgwSettings)
        return ZgwSource(settings), settings

    run_connector(factory)


if __name__ == "__main__":
    main()
