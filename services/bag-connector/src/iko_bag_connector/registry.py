"""The source registry's entry (``iko_shared.sources``) for bag; it imports nothing of the connector."""

from iko_shared.sources import SourceEntry

SOURCE = SourceEntry(
    name="bag",
    connector_module="iko_bag_connector",
    identifier_types=frozenset({"nummeraanduiding"}),
    operations=frozenset({"adres", "zoeken"}),
    settings_class="iko_bag_connector.source:BagSettings",
    source_class="iko_bag_connector.source:BagSource",
    simulator_module="iko_sandbox.bag",
    simulator_port=8106,
)
