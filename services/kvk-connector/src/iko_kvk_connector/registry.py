"""The KVK's entry in the source registry (``iko_shared.sources``); kept free of the connector's own imports."""

from iko_shared.sources import SourceEntry

SOURCE = SourceEntry(
    name="kvk",
    connector_module="iko_kvk_connector",
    identifier_types=frozenset({"kvk"}),
    operations=frozenset({"basisprofiel", "vestigingsprofiel", "zoeken"}),
    settings_class="iko_kvk_connector.source:KvkSettings",
    source_class="iko_kvk_connector.source:KvkSource",
    simulator_module="iko_sandbox.kvk",
    simulator_port=8102,
)
