"""Zaakobjecten: which seeded zaken are about which BAG object, named by its URI in the public BAG API.

A case system registers a BAG object in a zaakobject by the object's URL in BAG Individuele Bevragingen v2;
the ZGW connector builds the same URIs (its default ``IKO_ZGW_OBJECT_URLS``) to ask ``GET /zaakobjecten?object=``.

The objects are those of the BRP test persons who live there, and the zaken are those persons' own seeded zaken
(their index in ``generate_zaken``), so the address and the person tell the same story:

- Boterdiep 31, Rotterdam (BSN 999993653): verblijfsobject 0599010000208579, zaken 0 and 1; its nummeraanduiding
  0599200000219678, zaak 2;
- Zuiderparklaan 12, 's-Gravenhage (BSN 999990068): verblijfsobject 0518010000679502, zaak 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iko_sandbox.zgw.zaken import PREFIX, Zaak, zaak_uuid_of, zgw_uuid

Json = dict[str, Any]

# The public BAG Individuele Bevragingen v2 base URL. The ZGW connector's default IKO_ZGW_OBJECT_URLS
# (iko_zgw_connector.objects.DEFAULT_OBJECT_URLS) is built on the same base: keep the two equal.
BAG_BASE_URL = "https://api.bag.kadaster.nl/lvbag/individuelebevragingen/v2"
ADRESSEERBARE_OBJECTEN = "adresseerbareobjecten"
NUMMERAANDUIDINGEN = "nummeraanduidingen"


def bag_uri(collection: str, identificatie: str) -> str:
    return f"{BAG_BASE_URL}/{collection}/{identificatie}"


@dataclass(frozen=True)
class ObjectSeed:
    bsn: str  # whose zaak it is
    index: int  # which of that person's zaken
    collection: str  # ADRESSEERBARE_OBJECTEN or NUMMERAANDUIDINGEN
    identificatie: str
    # The Zaken API's ObjectTypeEnum has no verblijfsobject. An adresseerbaar object (verblijfsobject, standplaats,
    # ligplaats) is a TERREIN/GEBOUWD OBJECT in the RSGB the enum comes from, whose address group carries the
    # adresseerbaar object's id (TerreinGebouwdObjectAdres.oaoIdentificatie): terrein_gebouwd_object. `adres` is
    # the nummeraanduiding (ObjectAdres: straat, huisnummer). Some case systems register a verblijfsobject as
    # `adres` all the same; the connector filters on the object URI alone, so it finds either.
    object_type: str
    relatieomschrijving: str


SEEDS = (
    ObjectSeed("999993653", 0, ADRESSEERBARE_OBJECTEN, "0599010000208579", "terrein_gebouwd_object", "Locatie"),
    ObjectSeed("999993653", 1, ADRESSEERBARE_OBJECTEN, "0599010000208579", "terrein_gebouwd_object", "Woning"),
    ObjectSeed("999993653", 2, NUMMERAANDUIDINGEN, "0599200000219678", "adres", "Correspondentieadres"),
    ObjectSeed("999990068", 0, ADRESSEERBARE_OBJECTEN, "0518010000679502", "terrein_gebouwd_object", "Locatie"),
)


def seed_zaakobjecten(zaken_by_uuid: dict[str, Zaak], base: str) -> list[Json]:
    """The seeded zaakobjecten, each also listed in its zaak's own ``zaakobjecten``."""
    root = f"{base.rstrip('/')}/{PREFIX}"
    zaakobjecten: list[Json] = []
    for seed in SEEDS:
        zaak = zaken_by_uuid.get(zaak_uuid_of("bsn", seed.bsn, seed.index))
        if zaak is None:
            raise RuntimeError(f"BSN {seed.bsn} has no zaak {seed.index} to seed a zaakobject on")
        uuid = zgw_uuid(zaak.uuid, "zaakobject", seed.collection, seed.identificatie)
        zaakobject: Json = {
            "url": f"{root}/zaakobjecten/{uuid}",
            "uuid": uuid,
            "zaak": zaak.resource["url"],
            "object": bag_uri(seed.collection, seed.identificatie),
            "zaakobjecttype": "",
            "objectType": seed.object_type,
            # objectTypeOverige is left out: only for objectType overige, and its pattern refuses "".
            "objectTypeOverigeDefinitie": None,
            "relatieomschrijving": seed.relatieomschrijving,
        }
        zaak.resource["zaakobjecten"].append(zaakobject["url"])
        zaakobjecten.append(zaakobject)
    return zaakobjecten
