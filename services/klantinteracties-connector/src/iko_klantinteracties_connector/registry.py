"""The source registry's entry (``iko_shared.sources``) for klantinteracties; it imports nothing of the connector."""

from iko_shared.sources import SourceEntry

SOURCE = SourceEntry(
    name="klantinteracties",
    connector_module="iko_klantinteracties_connector",
    identifier_types=frozenset({"bsn", "kvk"}),
    operations=frozenset({"contactmomenten"}),
    settings_class="iko_klantinteracties_connector.source:KlantinteractiesSettings",
    source_class="iko_klantinteracties_connector.source:KlantinteractiesSource",
    simulator_module="iko_sandbox.klantinteracties",
    simulator_port=8104,
)
