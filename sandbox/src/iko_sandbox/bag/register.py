"""The simulated BAG: one address per distinct address of the BRP mock persons.

Every BAG identifier a mock person's verblijfplaats carries (nummeraanduiding, adresseerbaar
object) is kept, so that a person's `nummeraanduidingIdentificatie` resolves to an address with
the person's postcode and huisnummer. What the BRP does not know (openbare ruimte, woonplaats and
pand identifications, gebruiksdoelen, oppervlakte, bouwjaar, geometry, registration dates) is
derived deterministically from the identifications, so every run serves the same register.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import orjson

from iko_sandbox.paths import data_file

NUMMERAANDUIDING = re.compile(r"^[0-9]{4}20[0-9]{10}$")
VERBLIJFSOBJECT = re.compile(r"^[0-9]{4}01[0-9]{10}$")
POSTCODE = re.compile(r"^[1-9][0-9]{3}[A-Z]{2}$")
HUISLETTER = re.compile(r"^[a-zA-Z]$")
TOEVOEGING = re.compile(r"^[0-9a-zA-Z]{1,4}$")

# Mostly dwellings: these are the addresses people are registered at.
GEBRUIKSDOELEN: tuple[tuple[str, ...], ...] = (
    *(("woonfunctie",),) * 17,
    ("woonfunctie", "kantoorfunctie"),
    ("woonfunctie", "winkelfunctie"),
    ("woonfunctie", "bijeenkomstfunctie"),
)


@dataclass(frozen=True)
class Voorkomen:
    tijdstip_registratie: str
    begin_geldigheid: str
    versie: int
    documentdatum: str
    documentnummer: str


@dataclass(frozen=True)
class Woonplaats:
    identificatie: str
    naam: str
    voorkomen: Voorkomen


@dataclass(frozen=True)
class OpenbareRuimte:
    identificatie: str
    naam: str
    korte_naam: str
    woonplaats: Woonplaats
    voorkomen: Voorkomen


@dataclass(frozen=True)
class Pand:
    identificatie: str
    oorspronkelijk_bouwjaar: str
    geometrie: list[list[list[float]]]
    voorkomen: Voorkomen


@dataclass(frozen=True)
class Verblijfsobject:
    identificatie: str
    gebruiksdoelen: tuple[str, ...]
    oppervlakte: int
    punt: tuple[float, float, float]
    pand: Pand
    voorkomen: Voorkomen


@dataclass(frozen=True)
class Adres:
    nummeraanduiding_identificatie: str
    huisnummer: int
    huisletter: str | None
    huisnummertoevoeging: str | None
    postcode: str
    openbare_ruimte: OpenbareRuimte
    verblijfsobject: Verblijfsobject
    voorkomen: Voorkomen

    @property
    def woonplaats(self) -> Woonplaats:
        return self.openbare_ruimte.woonplaats


def _digits(seed: str, count: int) -> str:
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    return str(number % 10**count).zfill(count)


def _rng(seed: str) -> random.Random:
    # A string seed is hashed with SHA-512 by random.Random: stable across runs and platforms.
    return random.Random(f"iko-sandbox-bag:{seed}")


def _voorkomen(seed: str, earliest: int = 2010) -> Voorkomen:
    rng = _rng(f"voorkomen:{seed}")
    begin = date(earliest, 1, 1) + timedelta(days=rng.randrange(0, 12 * 365))
    registered = begin + timedelta(days=rng.randrange(0, 30))
    seconds = rng.randrange(0, 86_400)
    clock = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return Voorkomen(
        tijdstip_registratie=f"{registered.isoformat()}T{clock}",
        begin_geldigheid=begin.isoformat(),
        versie=rng.randint(1, 3),
        documentdatum=begin.isoformat(),
        documentnummer=f"BAG-{begin.year}-{rng.randrange(10_000, 99_999)}",
    )


@dataclass
class _Candidate:
    """One person's flat BRP address, checked against the BAG's patterns."""

    postcode: str
    huisnummer: int
    huisletter: str | None
    toevoeging: str | None
    straat: str
    naam_openbare_ruimte: str | None
    woonplaats: str
    gemeentecode: str
    nummeraanduiding: str | None
    adresseerbaar_object: str | None

    @property
    def key(self) -> tuple[str, int, str, str]:
        return (self.postcode, self.huisnummer, (self.huisletter or "").lower(), (self.toevoeging or "").lower())


def _candidate(person: dict[str, Any]) -> _Candidate | None:
    raw = person.get("verblijfplaats") or {}
    if not raw or raw.get("land") or raw.get("regel1") or raw.get("locatiebeschrijving"):
        return None
    postcode = str(raw.get("postcode") or "")
    huisnummer = str(raw.get("huisnummer") or "")
    straat = str(raw.get("straat") or raw.get("naamOpenbareRuimte") or "")
    huisletter = raw.get("huisletter") or None
    toevoeging = raw.get("huisnummertoevoeging") or None
    if not (POSTCODE.fullmatch(postcode) and huisnummer.isdigit() and straat):
        return None
    if (huisletter and not HUISLETTER.fullmatch(huisletter)) or (toevoeging and not TOEVOEGING.fullmatch(toevoeging)):
        return None
    gemeente = person.get("gemeenteVanInschrijving") or {}
    nummeraanduiding = str(raw.get("nummeraanduidingIdentificatie") or "").strip()
    adresseerbaar_object = str(raw.get("adresseerbaarObjectIdentificatie") or "").strip()
    # Without a BAG woonplaats the BRP names the municipality, as the BRP simulator does.
    woonplaats = str(raw.get("woonplaats") or gemeente.get("omschrijving") or "")
    if not woonplaats:
        return None
    return _Candidate(
        postcode=postcode,
        huisnummer=int(huisnummer),
        huisletter=huisletter,
        toevoeging=toevoeging,
        straat=straat,
        naam_openbare_ruimte=raw.get("naamOpenbareRuimte") or None,
        woonplaats=woonplaats,
        gemeentecode=str(gemeente.get("code") or "0000").zfill(4)[:4],
        nummeraanduiding=nummeraanduiding if NUMMERAANDUIDING.fullmatch(nummeraanduiding) else None,
        adresseerbaar_object=adresseerbaar_object if VERBLIJFSOBJECT.fullmatch(adresseerbaar_object) else None,
    )


def _most_common(values: list[str]) -> str:
    # Counter keeps first-seen order among equals, so ties go to the first person in the data.
    return Counter(values).most_common(1)[0][0]


class BagRegister:
    def __init__(self, persons: list[dict[str, Any]]) -> None:
        candidates = [c for c in (_candidate(p) for p in persons) if c is not None]
        # One address per nummeraanduiding the BRP names; its details are those most persons
        # registered there carry (the mock has a few persons whose address contradicts the id).
        groups: dict[str, list[_Candidate]] = defaultdict(list)
        for candidate in candidates:
            if candidate.nummeraanduiding:
                groups[candidate.nummeraanduiding].append(candidate)
        covered = set()
        for members in groups.values():
            covered.add(_most_common_key(members))
        # Addresses without BAG ids in the BRP get a nummeraanduiding of their own.
        for candidate in candidates:
            if candidate.nummeraanduiding is None and candidate.key not in covered:
                generated = self._free_id(candidate.gemeentecode, "20", f"na:{candidate.key}", groups)
                groups[generated].append(candidate)
                covered.add(candidate.key)

        self._woonplaatsen: dict[str, Woonplaats] = {}
        self._openbare_ruimten: dict[str, OpenbareRuimte] = {}
        self._panden: dict[str, Pand] = {}
        self._verblijfsobjecten: dict[str, Verblijfsobject] = {}
        self._adressen: dict[str, Adres] = {}
        woonplaats_by_name = self._assign_woonplaatsen(sorted({c.woonplaats for c in candidates}))
        pand_by_number: dict[tuple[str, int], Pand] = {}
        openbare_ruimte_by_name: dict[tuple[str, str], OpenbareRuimte] = {}
        used_objects: set[str] = set()

        for nummeraanduiding, members in groups.items():
            key = _most_common_key(members)
            chosen = [m for m in members if m.key == key]
            first = chosen[0]
            gemeentecode = nummeraanduiding[:4]
            woonplaats = woonplaats_by_name[_most_common([m.woonplaats for m in chosen])]
            straat = _most_common([m.straat for m in chosen])
            officieel = [m.naam_openbare_ruimte for m in chosen if m.naam_openbare_ruimte]
            naam = _most_common(officieel) if officieel else straat
            ruimte_key = (woonplaats.identificatie, naam)
            ruimte = openbare_ruimte_by_name.get(ruimte_key)
            if ruimte is None:
                identificatie = self._free_id(gemeentecode, "30", f"or:{ruimte_key}", self._openbare_ruimten)
                ruimte = OpenbareRuimte(identificatie, naam, straat[:24], woonplaats, _voorkomen(identificatie, 1990))
                openbare_ruimte_by_name[ruimte_key] = ruimte
                self._openbare_ruimten[identificatie] = ruimte
            pand = pand_by_number.get((first.postcode, first.huisnummer))
            if pand is None:
                identificatie = self._free_id(
                    gemeentecode, "10", f"pand:{first.postcode}:{first.huisnummer}", self._panden
                )
                pand = _pand(identificatie)
                pand_by_number[(first.postcode, first.huisnummer)] = pand
                self._panden[identificatie] = pand
            known = [m.adresseerbaar_object for m in chosen if m.adresseerbaar_object]
            object_id = _most_common(known) if known else None
            if object_id is None or object_id in used_objects:
                object_id = self._free_id(gemeentecode, "01", f"vbo:{nummeraanduiding}", used_objects)
            used_objects.add(object_id)
            verblijfsobject = _verblijfsobject(object_id, pand)
            self._verblijfsobjecten[object_id] = verblijfsobject
            self._adressen[nummeraanduiding] = Adres(
                nummeraanduiding_identificatie=nummeraanduiding,
                huisnummer=first.huisnummer,
                huisletter=first.huisletter,
                huisnummertoevoeging=first.toevoeging,
                postcode=first.postcode,
                openbare_ruimte=ruimte,
                verblijfsobject=verblijfsobject,
                voorkomen=_voorkomen(nummeraanduiding),
            )
        self._by_object = {a.verblijfsobject.identificatie: a for a in self._adressen.values()}

    @staticmethod
    def _free_id(gemeentecode: str, objecttype: str, seed: str, taken: Any) -> str:
        attempt = 0
        while True:
            identificatie = f"{gemeentecode}{objecttype}{_digits(f'{seed}:{attempt}', 10)}"
            if identificatie not in taken:
                return identificatie
            attempt += 1

    def _assign_woonplaatsen(self, names: list[str]) -> dict[str, Woonplaats]:
        result: dict[str, Woonplaats] = {}
        for name in names:
            attempt = 0
            while True:
                identificatie = str(1000 + int(_digits(f"wp:{name}:{attempt}", 8)) % 9000)
                if identificatie not in self._woonplaatsen:
                    break
                attempt += 1
            woonplaats = Woonplaats(identificatie, name, _voorkomen(identificatie, 1990))
            self._woonplaatsen[identificatie] = woonplaats
            result[name] = woonplaats
        return result

    @classmethod
    def load(cls) -> BagRegister:
        return cls(orjson.loads(data_file("brp", "personen-mock-test-data.json").read_bytes()))

    def adres(self, nummeraanduiding: str) -> Adres | None:
        return self._adressen.get(nummeraanduiding)

    def adres_of_object(self, adresseerbaar_object: str) -> Adres | None:
        return self._by_object.get(adresseerbaar_object)

    def adressen(self) -> list[Adres]:
        return list(self._adressen.values())

    def pand(self, identificatie: str) -> Pand | None:
        return self._panden.get(identificatie)

    def openbare_ruimte(self, identificatie: str) -> OpenbareRuimte | None:
        return self._openbare_ruimten.get(identificatie)

    def woonplaats(self, identificatie: str) -> Woonplaats | None:
        return self._woonplaatsen.get(identificatie)


def _most_common_key(members: list[_Candidate]) -> tuple[str, int, str, str]:
    counts = Counter(m.key for m in members)
    return counts.most_common(1)[0][0]


def _pand(identificatie: str) -> Pand:
    rng = _rng(f"pand:{identificatie}")
    bouwjaar = rng.choice((rng.randint(1880, 1939), rng.randint(1945, 1999), rng.randint(2000, 2022)))
    x = round(rng.uniform(20_000, 270_000), 3)
    y = round(rng.uniform(310_000, 610_000), 3)
    right, top = round(x + rng.uniform(6, 30), 3), round(y + rng.uniform(8, 20), 3)
    ring = [[x, y, 0.0], [right, y, 0.0], [right, top, 0.0], [x, top, 0.0], [x, y, 0.0]]
    return Pand(identificatie, str(bouwjaar), [ring], _voorkomen(identificatie))


def _verblijfsobject(identificatie: str, pand: Pand) -> Verblijfsobject:
    rng = _rng(f"vbo:{identificatie}")
    ring = pand.geometrie[0]
    x = round(rng.uniform(ring[0][0], ring[1][0]), 3)
    y = round(rng.uniform(ring[0][1], ring[2][1]), 3)
    return Verblijfsobject(
        identificatie=identificatie,
        gebruiksdoelen=rng.choice(GEBRUIKSDOELEN),
        oppervlakte=rng.randint(25, 250),
        punt=(x, y, 0.0),
        pand=pand,
        voorkomen=_voorkomen(identificatie),
    )
