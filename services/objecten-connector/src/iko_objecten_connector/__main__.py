from iko_shared.connector import load_source_settings, run_connector

from iko_objecten_connector.source import ObjectenSettings, ObjectenSource


def main() -> None:
    def factory() -> tuple[ObjectenSource, ObjectenSettings]:
        settings = load_source_settings(ObjectenSettings)
        return ObjectenSource(settings), settings

    run_connector(factory)


if __name__ == "__main__":
    main()
