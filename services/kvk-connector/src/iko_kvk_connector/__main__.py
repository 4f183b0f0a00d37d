from iko_shared.connector import load_source_settings, run_connector

from iko_kvk_connector.source import KvkSettings, KvkSource


def main() -> None:
    def factory() -> tuple[KvkSource, KvkSettings]:
        settings = load_source_settings(KvkSettings)
        return KvkSource(settings), settings

    run_connector(factory)


if __name__ == "__main__":
    main()
