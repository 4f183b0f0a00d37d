"""BAG resources in the hal+json shapes of the Individuele Bevragingen v2 spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iko_sandbox.bag.register import (
    Adres,
    OpenbareRuimte,
    Pand,
    Verblijfsobject,
    Voorkomen,
    Woonplaats,
)

Json = dict[str, Any]
DOMEIN = "NL.IMBAG"


@dataclass(frozen=True)
class Links:
    """Builds absolute links on the address the caller used, so they can be followed."""

    base: str

    def href(self, path: str) -> Json:
        return {"href": f"{self.base.rstrip('/')}/{path.lstrip('/')}"}


def _voorkomen(voorkomen: Voorkomen) -> Json:
    return {
        "tijdstipRegistratie": voorkomen.tijdstip_registratie,
        "versie": voorkomen.versie,
        "beginGeldigheid": voorkomen.begin_geldigheid,
        "tijdstipRegistratieLV": f"{voorkomen.tijdstip_registratie}.000",
    }


def _document(voorkomen: Voorkomen) -> Json:
    return {"geconstateerd": "N", "documentdatum": voorkomen.documentdatum, "documentnummer": voorkomen.documentnummer}


def _huisnummer_fields(adres: Adres) -> Json:
    body: Json = {"huisnummer": adres.huisnummer}
    if adres.huisletter:
        body["huisletter"] = adres.huisletter
    if adres.huisnummertoevoeging:
        body["huisnummertoevoeging"] = adres.huisnummertoevoeging
    body["postcode"] = adres.postcode
    return body


def adres_links(adres: Adres, links: Links, self_path: str) -> Json:
    return {
        "self": links.href(self_path),
        "openbareRuimte": links.href(f"openbareruimten/{adres.openbare_ruimte.identificatie}"),
        "nummeraanduiding": links.href(f"nummeraanduidingen/{adres.nummeraanduiding_identificatie}"),
        "woonplaats": links.href(f"woonplaatsen/{adres.woonplaats.identificatie}"),
        "adresseerbaarObject": links.href(f"verblijfsobjecten/{adres.verblijfsobject.identificatie}"),
        "panden": [links.href(f"panden/{adres.verblijfsobject.pand.identificatie}")],
    }


def _adres_fields(adres: Adres) -> Json:
    return {
        "openbareRuimteNaam": adres.openbare_ruimte.naam,
        "korteNaam": adres.openbare_ruimte.korte_naam,
        **_huisnummer_fields(adres),
        "woonplaatsNaam": adres.woonplaats.naam,
        "nummeraanduidingIdentificatie": adres.nummeraanduiding_identificatie,
        "openbareRuimteIdentificatie": adres.openbare_ruimte.identificatie,
        "woonplaatsIdentificatie": adres.woonplaats.identificatie,
        "adresseerbaarObjectIdentificatie": adres.verblijfsobject.identificatie,
        "pandIdentificaties": [adres.verblijfsobject.pand.identificatie],
    }


def adres(adres: Adres, links: Links, expand: frozenset[str]) -> Json:
    """AdresIOHal; `expand` holds nummeraanduiding, openbareRuimte and/or woonplaats."""
    body = _adres_fields(adres)
    embedded: Json = {}
    if "nummeraanduiding" in expand:
        embedded["nummeraanduiding"] = nummeraanduiding(adres, links)
    if "openbareRuimte" in expand:
        embedded["openbareRuimte"] = openbare_ruimte(adres.openbare_ruimte, links)
    if "woonplaats" in expand:
        embedded["woonplaats"] = woonplaats(adres.woonplaats, links)
    if embedded:
        body["_embedded"] = embedded
    body["_links"] = adres_links(adres, links, f"adressen/{adres.nummeraanduiding_identificatie}")
    return body


def adres_uitgebreid(adres: Adres, links: Links) -> Json:
    """AdresUitgebreidHal: the address with its verblijfsobject and pand in one answer."""
    verblijfsobject = adres.verblijfsobject
    return {
        **_adres_fields(adres),
        "typeAdresseerbaarObject": "Verblijfsobject",
        "adresseerbaarObjectGeometrie": {"punt": {"type": "Point", "coordinates": list(verblijfsobject.punt)}},
        "adresseerbaarObjectStatus": "Verblijfsobject in gebruik",
        "gebruiksdoelen": list(verblijfsobject.gebruiksdoelen),
        "oppervlakte": verblijfsobject.oppervlakte,
        "oorspronkelijkBouwjaar": [verblijfsobject.pand.oorspronkelijk_bouwjaar],
        "_links": adres_links(adres, links, f"adressenuitgebreid/{adres.nummeraanduiding_identificatie}"),
    }


def nummeraanduiding(adres: Adres, links: Links, expand: frozenset[str] = frozenset()) -> Json:
    """NummeraanduidingIOHal; `expand` holds ligtInWoonplaats and/or ligtAanOpenbareRuimte."""
    body: Json = {
        "identificatie": adres.nummeraanduiding_identificatie,
        "domein": f"{DOMEIN}.Nummeraanduiding",
        **_huisnummer_fields(adres),
        "typeAdresseerbaarObject": "Verblijfsobject",
        "status": "Naamgeving uitgegeven",
        **_document(adres.voorkomen),
        "voorkomen": _voorkomen(adres.voorkomen),
        "ligtIn": adres.woonplaats.identificatie,
        "ligtAan": adres.openbare_ruimte.identificatie,
    }
    result: Json = {"nummeraanduiding": body}
    embedded: Json = {}
    if "ligtInWoonplaats" in expand:
        embedded["ligtInWoonplaats"] = woonplaats(adres.woonplaats, links)
    if "ligtAanOpenbareRuimte" in expand:
        embedded["ligtAanOpenbareRuimte"] = openbare_ruimte(adres.openbare_ruimte, links)
    if embedded:
        result["_embedded"] = embedded
    return {
        **result,
        "_links": {
            "self": links.href(f"nummeraanduidingen/{adres.nummeraanduiding_identificatie}"),
            "ligtInWoonplaats": links.href(f"woonplaatsen/{adres.woonplaats.identificatie}"),
            "ligtAanOpenbareRuimte": links.href(f"openbareruimten/{adres.openbare_ruimte.identificatie}"),
        },
    }


def openbare_ruimte(ruimte: OpenbareRuimte, links: Links, expand: frozenset[str] = frozenset()) -> Json:
    """OpenbareRuimteIOHal; `expand` may hold ligtInWoonplaats."""
    embedded: Json = {"ligtInWoonplaats": woonplaats(ruimte.woonplaats, links)} if "ligtInWoonplaats" in expand else {}
    return {
        "openbareRuimte": {
            "identificatie": ruimte.identificatie,
            "domein": f"{DOMEIN}.OpenbareRuimte",
            "naam": ruimte.naam,
            "type": "Weg",
            "status": "Naamgeving uitgegeven",
            "korteNaam": ruimte.korte_naam,
            **_document(ruimte.voorkomen),
            "voorkomen": _voorkomen(ruimte.voorkomen),
            "ligtIn": ruimte.woonplaats.identificatie,
        },
        **({"_embedded": embedded} if embedded else {}),
        "_links": {
            "self": links.href(f"openbareruimten/{ruimte.identificatie}"),
            "ligtInWoonplaats": links.href(f"woonplaatsen/{ruimte.woonplaats.identificatie}"),
        },
    }


def woonplaats(plaats: Woonplaats, links: Links) -> Json:
    """WoonplaatsIOHal (without geometry: that only comes with expand=geometrie)."""
    return {
        "woonplaats": {
            "identificatie": plaats.identificatie,
            "domein": f"{DOMEIN}.Woonplaats",
            "naam": plaats.naam,
            "status": "Woonplaats aangewezen",
            **_document(plaats.voorkomen),
            "voorkomen": _voorkomen(plaats.voorkomen),
        },
        "_links": {"self": links.href(f"woonplaatsen/{plaats.identificatie}")},
    }


def pand(item: Pand, links: Links) -> Json:
    """PandIOHal."""
    return {
        "pand": {
            "identificatie": item.identificatie,
            "domein": f"{DOMEIN}.Pand",
            "geometrie": {"type": "Polygon", "coordinates": item.geometrie},
            "oorspronkelijkBouwjaar": item.oorspronkelijk_bouwjaar,
            "status": "Pand in gebruik",
            **_document(item.voorkomen),
            "voorkomen": _voorkomen(item.voorkomen),
        },
        "_links": {"self": links.href(f"panden/{item.identificatie}")},
    }


def verblijfsobject(adres: Adres, links: Links, expand: frozenset[str]) -> Json:
    """VerblijfsobjectIOHal; `expand` holds heeftAlsHoofdAdres and/or maaktDeelUitVan."""
    item: Verblijfsobject = adres.verblijfsobject
    body: Json = {
        "verblijfsobject": {
            "type": "Verblijfsobject",
            "heeftAlsHoofdAdres": adres.nummeraanduiding_identificatie,
            "identificatie": item.identificatie,
            "domein": f"{DOMEIN}.Verblijfsobject",
            "geometrie": {"punt": {"type": "Point", "coordinates": list(item.punt)}},
            "gebruiksdoelen": list(item.gebruiksdoelen),
            "oppervlakte": item.oppervlakte,
            "status": "Verblijfsobject in gebruik",
            **_document(item.voorkomen),
            "voorkomen": _voorkomen(item.voorkomen),
            "maaktDeelUitVan": [item.pand.identificatie],
        }
    }
    embedded: Json = {}
    if "heeftAlsHoofdAdres" in expand:
        embedded["heeftAlsHoofdAdres"] = nummeraanduiding(adres, links)
    if "maaktDeelUitVan" in expand:
        embedded["maaktDeelUitVan"] = [pand(item.pand, links)]
    if embedded:
        body["_embedded"] = embedded
    body["_links"] = {
        "self": links.href(f"verblijfsobjecten/{item.identificatie}"),
        "heeftAlsHoofdAdres": links.href(f"nummeraanduidingen/{adres.nummeraanduiding_identificatie}"),
        "maaktDeelUitVan": [links.href(f"panden/{item.pand.identificatie}")],
    }
    return body
