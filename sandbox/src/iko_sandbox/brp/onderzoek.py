"""Maps GBA 'gegevens in onderzoek' markers onto the v2 `inOnderzoek` objects.

GBA marks an investigation with an LO3 code "CCGGEE" (category, group, element): "010240"
is one element (geslachtsnaam), "010200" the whole naam group, "010000" the whole
category. The v2 API turns that into boolean flags next to the fields concerned, plus the
date the investigation started; `fields` filtering then keeps a flag only with its field.
"""

from __future__ import annotations

from typing import Any

from iko_sandbox.brp.dates import to_datum

Json = dict[str, Any]
Table = dict[str, tuple[str, ...]]

NAAM: Table = {
    "voornamen": ("0210",),
    "adellijkeTitelPredicaat": ("0220",),
    "voorvoegsel": ("0230",),
    "geslachtsnaam": ("0240",),
    "voorletters": ("0210",),
}
NAAM_PERSOON: Table = {
    **NAAM,
    "volledigeNaam": ("0210", "0220", "0230", "0240"),
    "aanduidingNaamgebruik": ("6110",),
}
GEBOORTE: Table = {"datum": ("0310",), "plaats": ("0320",), "land": ("0330",)}
PERSOON: Table = {"burgerservicenummer": ("0120",), "geslacht": ("0410",), "leeftijd": ("0310",)}
OUDER: Table = {
    "burgerservicenummer": ("0120",),
    "geslacht": ("0410",),
    "datumIngangFamilierechtelijkeBetrekking": ("6210",),
}
KIND: Table = {"burgerservicenummer": ("0120",)}
PARTNER: Table = {"burgerservicenummer": ("0120",), "geslacht": ("0410",), "soortVerbintenis": ("1510",)}
AANGAAN: Table = {"datum": ("0610",), "plaats": ("0620",), "land": ("0630",)}
ONTBINDING: Table = {"datum": ("0710",)}
NATIONALITEIT: Table = {"nationaliteit": ("0510",), "redenOpname": ("6310",), "type": ("0510",)}
OVERLIJDEN: Table = {"datum": ("0810",), "plaats": ("0820",), "land": ("0830",)}
ADRES: Table = {
    "datumVan": ("1030", "1320"),
    "datumIngangGeldigheid": ("8510",),
    "functieAdres": ("1010",),
    "adresseerbaarObjectIdentificatie": ("1180",),
    "nummeraanduidingIdentificatie": ("1190",),
}
VERBLIJFADRES: Table = {
    "korteStraatnaam": ("1110",),
    "officieleStraatnaam": ("1115",),
    "huisnummer": ("1120",),
    "huisletter": ("1130",),
    "huisnummertoevoeging": ("1140",),
    "aanduidingBijHuisnummer": ("1150",),
    "postcode": ("1160",),
    "woonplaats": ("1170",),
    "locatiebeschrijving": ("1210",),
    "land": ("1310",),
    "regel1": ("1330",),
    "regel2": ("1340",),
    "regel3": ("1350",),
}
GEMEENTE: Table = {"gemeenteVanInschrijving": ("0910",), "datumInschrijvingInGemeente": ("0920",)}
IMMIGRATIE: Table = {"landVanwaarIngeschreven": ("1410",), "datumVestigingInNederland": ("1420",)}
GEZAG: Table = {"indicatieGezagMinderjarige": ("3210",), "indicatieCurateleRegister": ("3310",)}


def _covers(aanduiding: str, element: str) -> bool:
    """Whether the LO3 marker covers element "GGEE" of its own category."""
    code = aanduiding[2:]
    return code == "0000" or code == element or (code[2:] == "00" and code[:2] == element[:2])


def _flags(marker: Json | None, table: Table) -> Json:
    aanduiding = str((marker or {}).get("aanduidingGegevensInOnderzoek", ""))
    if len(aanduiding) != 6 or not aanduiding.isdigit():
        return {}
    return {name: True for name, elements in table.items() if any(_covers(aanduiding, e) for e in elements)}


def _datum(marker: Json | None) -> Any:
    return to_datum((marker or {}).get("datumIngangOnderzoek"))


def _mark(target: Json | None, marker: Json | None, table: Table, date_key: str) -> None:
    if not isinstance(target, dict):
        return
    flags = _flags(marker, table)
    if not flags:
        return
    onderzoek = target.setdefault("inOnderzoek", {})
    onderzoek.update(flags)
    datum = _datum(marker)
    if datum:
        onderzoek[date_key] = datum


def _mark_gerelateerde(target: Json, marker: Json | None, own: Table) -> None:
    _mark(target, marker, own, "datumIngangOnderzoek")
    _mark(target.get("naam"), marker, NAAM, "datumIngangOnderzoek")
    _mark(target.get("geboorte"), marker, GEBOORTE, "datumIngangOnderzoek")


def apply_onderzoek(persoon: Json, raw: Json) -> None:
    marker = raw.get("persoonInOnderzoek")
    _mark(persoon, marker, PERSOON, "datumIngangOnderzoekPersoon")
    _mark(persoon.get("naam"), marker, NAAM_PERSOON, "datumIngangOnderzoek")
    _mark(persoon.get("geboorte"), marker, GEBOORTE, "datumIngangOnderzoek")

    gezag_marker = raw.get("gezagInOnderzoek")
    _mark(persoon, gezag_marker, GEZAG, "datumIngangOnderzoekGezag")

    overlijden = raw.get("overlijden") or {}
    _mark(persoon.get("overlijden"), overlijden.get("inOnderzoek"), OVERLIJDEN, "datumIngangOnderzoek")

    plaats_marker = (raw.get("verblijfplaats") or {}).get("inOnderzoek")
    verblijfplaats = persoon.get("verblijfplaats")
    if isinstance(verblijfplaats, dict):
        # Only an investigation of the whole category puts the kind of verblijfplaats in doubt.
        _mark(verblijfplaats, plaats_marker, {**ADRES, "type": ("0000",)}, "datumIngangOnderzoek")
        _mark(verblijfplaats.get("verblijfadres"), plaats_marker, VERBLIJFADRES, "datumIngangOnderzoek")
    _mark(persoon, plaats_marker, GEMEENTE, "datumIngangOnderzoekGemeente")
    _mark(persoon.get("immigratie"), plaats_marker, IMMIGRATIE, "datumIngangOnderzoek")

    for mapped, source in zip(persoon.get("nationaliteiten", []), raw.get("nationaliteiten", []), strict=False):
        _mark(mapped, source.get("inOnderzoek"), NATIONALITEIT, "datumIngangOnderzoek")
    for mapped, source in zip(persoon.get("ouders", []), raw.get("ouders", []), strict=False):
        _mark_gerelateerde(mapped, source.get("inOnderzoek"), OUDER)
    for mapped, source in zip(persoon.get("kinderen", []), raw.get("kinderen", []), strict=False):
        _mark_gerelateerde(mapped, source.get("inOnderzoek"), KIND)
    for mapped, source in zip(persoon.get("partners", []), raw.get("partners", []), strict=False):
        marker = source.get("inOnderzoek")
        _mark_gerelateerde(mapped, marker, PARTNER)
        _mark(mapped.get("aangaanHuwelijkPartnerschap"), marker, AANGAAN, "datumIngangOnderzoek")
        _mark(mapped.get("ontbindingHuwelijkPartnerschap"), marker, ONTBINDING, "datumIngangOnderzoek")
