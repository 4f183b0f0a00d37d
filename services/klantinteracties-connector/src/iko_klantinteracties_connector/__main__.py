from iko_shared.connector import load_source_settings, run_connector

from iko_klantinteracties_connector.source import KlantinteractiesSettings, KlantinteractiesSource


def main() -> None:
    def factory() -> tuple[KlantinteractiesSource, KlantinteractiesSettings]:
        settings = load_source_settings(KlantinteractiesSettings)
        return KlantinteractiesSource(settings), settings

    run_connector(factory)


if __name__ == "__main__":
    main()
