"""Maps the Haal Centraal mock's GBA-like person records to the BRP API v2 `Persoon` shape.

The mock stores dates as "YYYYMMDD" strings, addresses flat and leaves derived values
(voorletters, volledigeNaam, leeftijd, adressering) out; the real API derives them, so
the simulator does too. The result holds every field the person has, including the
automatically delivered ones; `fields` filtering happens afterwards.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from iko_sandbox.brp.dates import age_on, to_date, to_datum
from iko_sandbox.brp.onderzoek import apply_onderzoek

Json = dict[str, Any]

# GBA's "land onbekend": the address abroad is unknown, which v2 calls VerblijfplaatsOnbekend.
LAND_ONBEKEND = "0000"
NATIONALITEIT_ONBEKEND = "0000"
STAATLOOS = "0499"
# The mock still uses the older name for joint parental authority.
GEZAG_TYPE_ALIASES = {"TweehoofdigOuderlijkGezag": "GezamenlijkOuderlijkGezag"}
GEZAG_TOELICHTING = {
    "TijdelijkGeenGezag": "Tijdelijk geen gezag: er is een uitspraak nodig.",
    "GezagNietTeBepalen": "Gezag kan niet worden bepaald op basis van de gegevens in de BRP.",
}


def _copy(source: Json, *keys: str) -> Json:
    return {key: source[key] for key in keys if source.get(key) not in (None, "", {}, [])}


def _waarde(value: Any) -> Json | None:
    if not isinstance(value, dict):
        return None
    table = _copy(value, "code", "omschrijving", "soort")
    return table or None


def _put(target: Json, key: str, value: Any) -> None:
    if value not in (None, "", {}, []):
        target[key] = value


def voorletters(voornamen: str) -> str:
    # A name that is already an initial ("R.") stays as it is.
    letters = [name if name.endswith(".") else f"{name[0]}." for name in voornamen.split() if name]
    # The API caps voorletters at 40 characters; very long lists of names are cut off.
    return "".join(letters)[:40]


def volledige_naam(naam: Json) -> str:
    titel = naam.get("adellijkeTitelPredicaat") or {}
    omschrijving = str(titel.get("omschrijving", "")).lower()
    parts: list[str] = []
    if titel.get("soort") == "predicaat":
        parts.append(omschrijving)
    parts.append(str(naam.get("voornamen", "")))
    if titel.get("soort") == "titel":
        parts.append(omschrijving)
    parts.extend([str(naam.get("voorvoegsel", "")), str(naam.get("geslachtsnaam", ""))])
    return " ".join(part for part in parts if part.strip())


def map_naam(raw: Json, *, persoon: bool) -> Json:
    naam: Json = {}
    voornamen = " ".join(str(raw.get("voornamen", "")).split())
    _put(naam, "voornamen", voornamen)
    _put(naam, "adellijkeTitelPredicaat", _waarde(raw.get("adellijkeTitelPredicaat")))
    _put(naam, "voorvoegsel", raw.get("voorvoegsel"))
    _put(naam, "geslachtsnaam", raw.get("geslachtsnaam"))
    if voornamen:
        naam["voorletters"] = voorletters(voornamen)
    if persoon:
        _put(naam, "volledigeNaam", volledige_naam(naam))
        _put(naam, "aanduidingNaamgebruik", _waarde(raw.get("aanduidingNaamgebruik")))
    return naam


def map_plaatsdatum(raw: Json | None) -> Json:
    """Geboorte, overlijden, aangaan and ontbinding share the datum/land/plaats shape."""
    result: Json = {}
    if not raw:
        return result
    _put(result, "datum", to_datum(raw.get("datum")))
    _put(result, "land", _waarde(raw.get("land")))
    _put(result, "plaats", _waarde(raw.get("plaats")))
    return result


def _bag_id(value: Any) -> str | None:
    # A few mock records carry damaged BAG ids (" 051820000162525", a digit short); a BAG id
    # is 16 digits, and guessing the missing one would invent an address, so those are left out.
    text = str(value or "").strip()
    return text if len(text) == 16 and text.isdigit() else None


def map_verblijfplaats(raw: Json, gemeente: Json) -> Json | None:
    if not raw:
        return None
    result: Json = {}
    land = raw.get("land") or {}
    if land or raw.get("regel1"):
        if land.get("code") == LAND_ONBEKEND:
            result["type"] = "VerblijfplaatsOnbekend"
        else:
            result["type"] = "VerblijfplaatsBuitenland"
            adres: Json = {}
            for key in ("regel1", "regel2", "regel3"):
                _put(adres, key, raw.get(key))
            _put(adres, "land", _waarde(land))
            _put(result, "verblijfadres", adres)
        _put(result, "datumVan", to_datum(raw.get("datumAanvangAdresBuitenland")))
    elif raw.get("locatiebeschrijving"):
        result["type"] = "Locatie"
        result["verblijfadres"] = {"locatiebeschrijving": raw["locatiebeschrijving"]}
        _put(result, "functieAdres", _waarde(raw.get("functieAdres")))
        _put(result, "datumVan", to_datum(raw.get("datumAanvangAdreshouding")))
    else:
        result["type"] = "Adres"
        adres = {}
        _put(adres, "officieleStraatnaam", raw.get("naamOpenbareRuimte"))
        _put(adres, "korteStraatnaam", str(raw.get("straat", ""))[:24])
        if str(raw.get("huisnummer", "")).isdigit():
            adres["huisnummer"] = int(raw["huisnummer"])
        _put(adres, "huisletter", raw.get("huisletter"))
        _put(adres, "huisnummertoevoeging", raw.get("huisnummertoevoeging"))
        _put(adres, "aanduidingBijHuisnummer", _waarde(raw.get("aanduidingBijHuisnummer")))
        _put(adres, "postcode", raw.get("postcode"))
        # Without a BAG woonplaats the BRP names the municipality, as GBA does.
        _put(adres, "woonplaats", raw.get("woonplaats") or gemeente.get("omschrijving"))
        _put(result, "verblijfadres", adres)
        _put(result, "functieAdres", _waarde(raw.get("functieAdres")))
        _put(result, "adresseerbaarObjectIdentificatie", _bag_id(raw.get("adresseerbaarObjectIdentificatie")))
        _put(result, "nummeraanduidingIdentificatie", _bag_id(raw.get("nummeraanduidingIdentificatie")))
        _put(result, "datumVan", to_datum(raw.get("datumAanvangAdreshouding")))
    _put(result, "datumIngangGeldigheid", to_datum(raw.get("datumIngangGeldigheid")))
    return result


def map_nationaliteit(raw: Json) -> Json:
    code = (raw.get("nationaliteit") or {}).get("code")
    result: Json = {}
    if code == STAATLOOS:
        result["type"] = "Staatloos"
    elif code == NATIONALITEIT_ONBEKEND:
        result["type"] = "NationaliteitOnbekend"
    elif raw.get("aanduidingBijzonderNederlanderschap", {}).get("code") == "B":
        result["type"] = "BehandeldAlsNederlander"
    elif raw.get("aanduidingBijzonderNederlanderschap", {}).get("code") == "V":
        result["type"] = "VastgesteldNietNederlander"
    else:
        result["type"] = "Nationaliteit"
        _put(result, "nationaliteit", _waarde(raw.get("nationaliteit")))
    _put(result, "redenOpname", _waarde(raw.get("redenOpname")))
    _put(result, "datumIngangGeldigheid", to_datum(raw.get("datumIngangGeldigheid")))
    return result


def map_gerelateerde(raw: Json, extra_keys: tuple[str, ...]) -> Json:
    result: Json = _copy(raw, "burgerservicenummer", *extra_keys)
    for key in ("geslacht", "soortVerbintenis"):
        if key in result:
            result[key] = _waarde(result[key])
    _put(result, "naam", map_naam(raw.get("naam") or {}, persoon=False))
    _put(result, "geboorte", map_plaatsdatum(raw.get("geboorte")))
    return result


def map_ouder(raw: Json) -> Json:
    result = map_gerelateerde(raw, ("geslacht", "ouderAanduiding"))
    _put(
        result,
        "datumIngangFamilierechtelijkeBetrekking",
        to_datum(raw.get("datumIngangFamilierechtelijkeBetrekking")),
    )
    return result


def map_partner(raw: Json) -> Json:
    result = map_gerelateerde(raw, ("geslacht", "soortVerbintenis"))
    _put(result, "aangaanHuwelijkPartnerschap", map_plaatsdatum(raw.get("aangaanHuwelijkPartnerschap")))
    ontbinding = raw.get("ontbindingHuwelijkPartnerschap") or {}
    if to_datum(ontbinding.get("datum")):
        result["ontbindingHuwelijkPartnerschap"] = {"datum": to_datum(ontbinding.get("datum"))}
    return result


class NameIndex:
    """Looks up the full name of a BSN in the dataset, for gezag relations."""

    def __init__(self, records: list[Json]) -> None:
        self._names = {
            str(record["burgerservicenummer"]): volledige_naam(map_naam(record.get("naam") or {}, persoon=True))
            for record in records
        }

    def naam(self, bsn: str | None) -> Json:
        name = self._names.get(bsn or "")
        return {"volledigeNaam": name} if name else {}


def map_gezag(raw_list: list[Json], persoon_bsn: str, names: NameIndex) -> list[Json]:
    def gezag_persoon(raw: Json | None) -> Json:
        bsn = (raw or {}).get("burgerservicenummer")
        result: Json = {"naam": names.naam(bsn)}
        _put(result, "burgerservicenummer", bsn)
        return result

    relaties: list[Json] = []
    for raw in raw_list:
        gezag_type = GEZAG_TYPE_ALIASES.get(raw["type"], raw["type"])
        minderjarige_bsn = (raw.get("minderjarige") or {}).get("burgerservicenummer") or persoon_bsn
        relatie: Json = {
            "type": gezag_type,
            "minderjarige": {"burgerservicenummer": minderjarige_bsn, "naam": names.naam(minderjarige_bsn)},
        }
        if not relatie["minderjarige"]["naam"]:
            del relatie["minderjarige"]["naam"]
        if raw.get("ouders"):
            relatie["ouders"] = [gezag_persoon(ouder) for ouder in raw["ouders"]]
        if raw.get("ouder"):
            relatie["ouder"] = gezag_persoon(raw["ouder"])
        if raw.get("derde"):
            relatie["derde"] = {"type": "BekendeDerde", **gezag_persoon(raw["derde"])}
        elif gezag_type == "GezamenlijkGezag":
            relatie["derde"] = {"type": "OnbekendeDerde"}
        if gezag_type == "Voogdij":
            relatie["derden"] = [{"type": "BekendeDerde", **gezag_persoon(d)} for d in raw.get("derden", [])]
        if gezag_type in GEZAG_TOELICHTING:
            relatie["toelichting"] = raw.get("toelichting") or GEZAG_TOELICHTING[gezag_type]
        relaties.append(relatie)
    return relaties


def map_persoon(raw: Json, names: NameIndex, today: date) -> Json:
    persoon: Json = _copy(raw, "aNummer", "burgerservicenummer")
    _put(persoon, "datumEersteInschrijvingGBA", to_datum(raw.get("datumEersteInschrijvingGBA")))
    if raw.get("geheimhoudingPersoonsgegevens") not in (None, "0", 0, False):
        persoon["geheimhoudingPersoonsgegevens"] = True
    _put(persoon, "geslacht", _waarde(raw.get("geslacht")))
    if (raw.get("uitsluitingKiesrecht") or {}).get("uitgeslotenVanKiesrecht"):
        uitsluiting: Json = {"uitgeslotenVanKiesrecht": True}
        _put(uitsluiting, "einddatum", to_datum(raw["uitsluitingKiesrecht"].get("einddatum")))
        persoon["uitsluitingKiesrecht"] = uitsluiting
    if raw.get("europeesKiesrecht"):
        europees: Json = {}
        _put(europees, "aanduiding", _waarde(raw["europeesKiesrecht"].get("aanduiding")))
        _put(europees, "einddatumUitsluiting", to_datum(raw["europeesKiesrecht"].get("einddatumUitsluiting")))
        _put(persoon, "europeesKiesrecht", europees)
    birth = to_date((raw.get("geboorte") or {}).get("datum"))
    # The API gives no age for the deceased: it would be the age they never reached.
    if birth and not raw.get("overlijden"):
        persoon["leeftijd"] = age_on(birth, today)
    _put(persoon, "naam", map_naam(raw.get("naam") or {}, persoon=True))
    _put(persoon, "nationaliteiten", [map_nationaliteit(n) for n in raw.get("nationaliteiten", [])])
    _put(persoon, "geboorte", map_plaatsdatum(raw.get("geboorte")))
    if raw.get("opschortingBijhouding"):
        opschorting: Json = {}
        _put(opschorting, "reden", _waarde(raw["opschortingBijhouding"].get("reden")))
        _put(opschorting, "datum", to_datum(raw["opschortingBijhouding"].get("datum")))
        _put(persoon, "opschortingBijhouding", opschorting)
    _put(persoon, "overlijden", map_plaatsdatum(raw.get("overlijden")))
    gemeente = raw.get("gemeenteVanInschrijving") or {}
    _put(persoon, "verblijfplaats", map_verblijfplaats(raw.get("verblijfplaats") or {}, gemeente))
    immigratie = raw.get("immigratie") or {}
    if immigratie:
        mapped: Json = {}
        _put(mapped, "landVanwaarIngeschreven", _waarde(immigratie.get("landVanwaarIngeschreven")))
        _put(mapped, "datumVestigingInNederland", to_datum(immigratie.get("datumVestigingInNederland")))
        _put(persoon, "immigratie", mapped)
    _put(persoon, "gemeenteVanInschrijving", _waarde(gemeente))
    _put(persoon, "datumInschrijvingInGemeente", to_datum(raw.get("datumInschrijvingInGemeente")))
    if raw.get("indicatieCurateleRegister"):
        persoon["indicatieCurateleRegister"] = True
    _put(persoon, "indicatieGezagMinderjarige", _waarde(raw.get("indicatieGezagMinderjarige")))
    _put(persoon, "gezag", map_gezag(raw.get("gezag", []), str(raw["burgerservicenummer"]), names))
    titel = raw.get("verblijfstitel") or {}
    einde = to_date(titel.get("datumEinde"))
    # Only a current verblijfstitel is delivered.
    if titel and not (einde and einde < today):
        verblijfstitel: Json = {}
        _put(verblijfstitel, "aanduiding", _waarde(titel.get("aanduiding")))
        _put(verblijfstitel, "datumIngang", to_datum(titel.get("datumIngang")))
        _put(verblijfstitel, "datumEinde", to_datum(titel.get("datumEinde")))
        _put(persoon, "verblijfstitel", verblijfstitel)
    _put(persoon, "kinderen", [map_gerelateerde(k, ()) for k in raw.get("kinderen", [])])
    _put(persoon, "ouders", [map_ouder(o) for o in raw.get("ouders", [])])
    _put(persoon, "partners", [map_partner(p) for p in raw.get("partners", [])])
    _put(persoon, "rni", [_map_rni(r) for r in raw.get("rni", [])])
    if raw.get("verificatie"):
        verificatie: Json = {}
        _put(verificatie, "datum", to_datum(raw["verificatie"].get("datum")))
        _put(verificatie, "omschrijving", raw["verificatie"].get("omschrijving"))
        _put(persoon, "verificatie", verificatie)
    _put(persoon, "adressering", adressering(persoon))
    apply_onderzoek(persoon, raw)
    return persoon


def _map_rni(raw: Json) -> Json:
    result: Json = {}
    _put(result, "deelnemer", _waarde(raw.get("deelnemer")))
    _put(result, "omschrijvingVerdrag", raw.get("omschrijvingVerdrag"))
    _put(result, "categorie", raw.get("categorie"))
    return result


def _aanspreeknaam(persoon: Json) -> tuple[str, str]:
    """The surname as used in address lines, following aanduidingNaamgebruik, and its voorletters."""
    naam = persoon.get("naam") or {}
    eigen = " ".join(p for p in (naam.get("voorvoegsel", ""), naam.get("geslachtsnaam", "")) if p)
    partner_naam = ((persoon.get("partners") or [{}])[0]).get("naam") or {}
    partner = " ".join(p for p in (partner_naam.get("voorvoegsel", ""), partner_naam.get("geslachtsnaam", "")) if p)
    gebruik = (naam.get("aanduidingNaamgebruik") or {}).get("code", "E")
    if partner and gebruik == "P":
        achternaam = partner
    elif partner and gebruik == "V":
        achternaam = f"{partner}-{eigen}"
    elif partner and gebruik == "N":
        achternaam = f"{eigen}-{partner}"
    else:
        achternaam = eigen
    return achternaam, str(naam.get("voorletters", ""))


def adressering(persoon: Json) -> Json:
    """Derives the address block and forms of address the API computes for letters."""
    result: Json = {}
    achternaam, letters = _aanspreeknaam(persoon)
    if achternaam:
        result["aanschrijfwijze"] = {"naam": f"{letters} {achternaam}".strip()}
        geslacht = (persoon.get("geslacht") or {}).get("code")
        hoofdletter = achternaam[:1].upper() + achternaam[1:]
        if geslacht == "M":
            result["aanhef"] = f"Geachte heer {hoofdletter}"
            result["gebruikInLopendeTekst"] = f"de heer {hoofdletter}"
        elif geslacht == "V":
            result["aanhef"] = f"Geachte mevrouw {hoofdletter}"
            result["gebruikInLopendeTekst"] = f"mevrouw {hoofdletter}"
        else:
            result["aanhef"] = f"Geachte {letters} {achternaam}".replace("  ", " ")
            result["gebruikInLopendeTekst"] = f"{letters} {achternaam}".strip()
    plaats = persoon.get("verblijfplaats") or {}
    adres = plaats.get("verblijfadres") or {}
    if plaats.get("type") == "Adres":
        nummer = "".join(str(p) for p in (adres.get("huisnummer", ""), adres.get("huisletter", "")) if p != "")
        if adres.get("huisnummertoevoeging"):
            nummer = f"{nummer}-{adres['huisnummertoevoeging']}"
        _put(result, "adresregel1", f"{adres.get('korteStraatnaam', '')} {nummer}".strip()[:40])
        postcode = str(adres.get("postcode", ""))
        if len(postcode) == 6:
            postcode = f"{postcode[:4]} {postcode[4:]}"
        _put(result, "adresregel2", f"{postcode}  {str(adres.get('woonplaats', '')).upper()}".strip()[:50])
    elif plaats.get("type") == "Locatie":
        _put(result, "adresregel1", str(adres.get("locatiebeschrijving", ""))[:40])
    elif plaats.get("type") == "VerblijfplaatsBuitenland":
        _put(result, "adresregel1", adres.get("regel1"))
        _put(result, "adresregel2", adres.get("regel2"))
        _put(result, "adresregel3", adres.get("regel3"))
        _put(result, "land", adres.get("land"))
    return result
