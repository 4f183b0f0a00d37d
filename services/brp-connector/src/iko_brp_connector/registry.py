"""The BRP's entry in the source registry (``iko_shared.sources``); kept free of the connector's own imports."""

from iko_shared.sources import SourceEntry

SOURCE = SourceEntry(
    name="brp",
    connector_module="iko_brp_connector",
    identifier_types=frozenset({"bsn", "adresseerbaarobject", "nummeraanduiding"}),
    operations=frozenset(
        {
            "RaadpleegMetBurgerservicenummer",
            "ZoekMetGeslachtsnaamEnGeboortedatum",
            "ZoekMetNaamEnGemeenteVanInschrijving",
            "ZoekMetPostcodeEnHuisnummer",
            "ZoekMetStraatHuisnummerEnGemeenteVanInschrijving",
            "ZoekMetNummeraanduidingIdentificatie",
            "ZoekMetAdresseerbaarObjectIdentificatie",
        }
    ),
    settings_class="iko_brp_connector.source:BrpSettings",
    source_class="iko_brp_connector.source:BrpSource",
    simulator_module="iko_sandbox.brp",
    simulator_port=8101,
)
