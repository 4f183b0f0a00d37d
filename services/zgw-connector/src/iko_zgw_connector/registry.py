"""The ZGW's entry in the source registry (``iko_shared.sources``); kept free of the connector's own imports."""

from iko_shared.sources import SourceEntry

SOURCE = SourceEntry(
    name="zgw",
    connector_module="iko_zgw_connector",
    identifier_types=frozenset({"bsn", "kvk", "adresseerbaarobject", "nummeraanduiding"}),
    operations=frozenset({"zaken", "zaken_by_object"}),
    settings_class="iko_zgw_connector.source:ZgwSettings",
    source_class="iko_zgw_connector.source:ZgwSource",
    simulator_module="iko_sandbox.zgw",
    simulator_port=8103,
)
