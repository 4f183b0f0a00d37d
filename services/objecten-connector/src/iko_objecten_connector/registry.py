"""The source registry's entry (``iko_shared.sources``) for objecten; it imports nothing of the connector."""

from iko_shared.sources import SourceEntry

SOURCE = SourceEntry(
    name="objecten",
    connector_module="iko_objecten_connector",
    identifier_types=frozenset({"bsn", "kvk", "nummeraanduiding"}),
    operations=frozenset({"registraties"}),
    settings_class="iko_objecten_connector.source:ObjectenSettings",
    source_class="iko_objecten_connector.source:ObjectenSource",
    simulator_module="iko_sandbox.objecten",
    simulator_port=8105,
)
