"""Deterministic zaken for the sandbox's test persons and companies.

Each identifier (BSN, kvkNummer, vestigingsnummer) seeds its own random generator, so a
given identifier always has the same zaken, statuses and dates, in every run and on
every machine.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson

from iko_sandbox.paths import data_file
from iko_sandbox.zgw.catalogi import Catalogi

Json = dict[str, Any]
PREFIX = "zaken/api/v1"
NAMESPACE = uuid.UUID("6f1c3a52-8f3e-4f7e-9a55-3c1f7f0e2b11")
BRONORGANISATIE = "002220647"  # an RSIN that passes the 11-proof, standing in for the municipality
# Identifiers that must have zaken whatever their seed says: the demo's person, company
# and the company's hoofdvestiging.
ALWAYS_SOME = frozenset({"999993653", "69599084", "000038509504"})
# Enough zaken on one company to exercise `next` links across pages.
MANY_ZAKEN = {"90006577": 250}
KVK_SKIPPED = frozenset({"90004973", "90002903", "12345678"})
OMSCHRIJVINGEN = (
    "Aanvraag ondersteuning",
    "Melding openbare ruimte",
    "Vergunningaanvraag",
    "Bezwaar tegen besluit",
    "Wijziging gegevens",
    "Verzoek om informatie",
)


@dataclass
class Zaak:
    uuid: str
    resource: Json
    statussen: list[Json] = field(default_factory=list)
    rollen: list[Json] = field(default_factory=list)


@dataclass(frozen=True)
class Betrokkene:
    kind: str  # "bsn", "kvk" or "vestiging"
    identifier: str
    kvk_nummer: str | None = None


def test_bsns() -> list[str]:
    persons = orjson.loads(data_file("brp", "personen-mock-test-data.json").read_bytes())
    return [str(p["burgerservicenummer"]) for p in persons]


def test_companies() -> list[tuple[str, list[str]]]:
    """kvkNummers with the vestigingsnummers the KVK simulator serves for them."""
    from iko_sandbox.kvk.companies import load_companies

    companies = load_companies()
    return [(k, [v.vestigingsnummer for v in c.vestigingen][:5]) for k, c in companies.items() if k not in KVK_SKIPPED]


def zgw_uuid(*parts: str) -> str:
    """The uuid5 of ``parts``: the same resource has the same uuid in every run."""
    return str(uuid.uuid5(NAMESPACE, ":".join(parts)))


def zaak_uuid_of(kind: str, identifier: str, index: int) -> str:
    """The uuid of the ``index``-th zaak generated for a betrokkene (``kind`` as in ``Betrokkene``)."""
    return zgw_uuid(kind, identifier, str(index))


def _betrokkene_identificatie(betrokkene: Betrokkene) -> tuple[str, Json]:
    if betrokkene.kind == "bsn":
        return "natuurlijk_persoon", {
            "inpBsn": betrokkene.identifier,
            "anpIdentificatie": "",
            "inpA_nummer": "",
            "geslachtsnaam": "",
            "voorvoegselGeslachtsnaam": "",
            "voorletters": "",
            "voornamen": "",
            "geslachtsaanduiding": "",
            "geboortedatum": "",
        }
    if betrokkene.kind == "kvk":
        # Zaken API 1.5.1 offers no kvkNummer on a niet-natuurlijk persoon; innNnpId carries it.
        return "niet_natuurlijk_persoon", {
            "innNnpId": betrokkene.identifier,
            "annIdentificatie": "",
            "statutaireNaam": "",
            "innRechtsvorm": "",
            "bezoekadres": "",
        }
    return "vestiging", {
        "vestigingsNummer": betrokkene.identifier,
        "handelsnaam": [],
        "kvkNummer": betrokkene.kvk_nummer or "",
    }


def generate_zaken(betrokkene: Betrokkene, catalogi: Catalogi, base: str, today: date) -> list[Zaak]:
    rng = random.Random(f"zgw:{betrokkene.kind}:{betrokkene.identifier}")
    count = MANY_ZAKEN.get(betrokkene.identifier, rng.choice((0, 0, 1, 1, 2, 3, 4)))
    if betrokkene.identifier in ALWAYS_SOME:
        count = max(count, 3)
    root = f"{base.rstrip('/')}/{PREFIX}"
    zaaktypen = sorted(catalogi.zaaktypen.values(), key=lambda z: str(z["identificatie"]))
    zaken: list[Zaak] = []
    for index in range(count):
        zaaktype = zaaktypen[rng.randrange(len(zaaktypen))]
        # The first zaak of a demo identifier stays open so the demo always shows a running case.
        closed = rng.random() < 0.45 and not (index == 0 and betrokkene.identifier in ALWAYS_SOME)
        startdatum = today - timedelta(days=rng.randint(5, 1500))
        zaak_uuid = zaak_uuid_of(betrokkene.kind, betrokkene.identifier, index)
        url = f"{root}/zaken/{zaak_uuid}"
        statustypen = catalogi.statustypen_of(zaaktype["url"])
        reached = len(statustypen) if closed else rng.randint(1, max(1, len(statustypen) - 1))
        statussen: list[Json] = []
        moment = datetime.combine(startdatum, time(9, 0), tzinfo=UTC)
        for number, statustype in enumerate(statustypen[:reached]):
            moment += timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 7))
            status_uuid = zgw_uuid(zaak_uuid, "status", str(number))
            statussen.append(
                {
                    "url": f"{root}/statussen/{status_uuid}",
                    "uuid": status_uuid,
                    "zaak": url,
                    "statustype": statustype["url"],
                    "datumStatusGezet": moment.isoformat().replace("+00:00", "Z"),
                    "statustoelichting": "",
                    "indicatieLaatstGezetteStatus": number == reached - 1,
                    "gezetdoor": "",
                    "zaakinformatieobjecten": [],
                }
            )
        einddatum = min(moment.date(), today) if closed else None
        betrokkene_type, identificatie = _betrokkene_identificatie(betrokkene)
        roltype = catalogi.roltype_of(zaaktype["url"], "initiator")
        rol_uuid = zgw_uuid(zaak_uuid, "rol", "initiator")
        rol: Json = {
            "url": f"{root}/rollen/{rol_uuid}",
            "uuid": rol_uuid,
            "zaak": url,
            "betrokkene": "",
            "betrokkeneType": betrokkene_type,
            "roltype": roltype["url"] if roltype else "",
            "omschrijving": roltype["omschrijving"] if roltype else "Initiator",
            "omschrijvingGeneriek": "initiator",
            "roltoelichting": "Initiator van de zaak",
            "registratiedatum": f"{startdatum.isoformat()}T09:00:00Z",
            "indicatieMachtiging": "",
            "betrokkeneIdentificatie": identificatie,
        }
        resource: Json = {
            "url": url,
            "uuid": zaak_uuid,
            "identificatie": f"ZAAK-{startdatum.year}-{int(zaak_uuid[:8], 16) % 10**10:010d}",
            "bronorganisatie": BRONORGANISATIE,
            "omschrijving": f"{rng.choice(OMSCHRIJVINGEN)}",
            "toelichting": "",
            "zaaktype": zaaktype["url"],
            "registratiedatum": startdatum.isoformat(),
            "verantwoordelijkeOrganisatie": BRONORGANISATIE,
            "startdatum": startdatum.isoformat(),
            "einddatum": einddatum.isoformat() if einddatum else None,
            "einddatumGepland": (startdatum + timedelta(days=91)).isoformat(),
            "uiterlijkeEinddatumAfdoening": (startdatum + timedelta(days=182)).isoformat(),
            "publicatiedatum": None,
            "communicatiekanaal": "",
            "productenOfDiensten": [],
            "vertrouwelijkheidaanduiding": zaaktype["vertrouwelijkheidaanduiding"],
            "betalingsindicatie": "",
            "betalingsindicatieWeergave": "",
            "laatsteBetaaldatum": None,
            "zaakgeometrie": None,
            "verlenging": None,
            "opschorting": {"indicatie": False, "reden": ""},
            "selectielijstklasse": "",
            "hoofdzaak": None,
            "deelzaken": [],
            "relevanteAndereZaken": [],
            "eigenschappen": [],
            "rollen": [rol["url"]],
            "status": statussen[-1]["url"] if statussen else None,
            "zaakinformatieobjecten": [],
            "zaakobjecten": [],
            "kenmerken": [],
            "archiefnominatie": None,
            "archiefstatus": "nog_te_archiveren",
            "archiefactiedatum": None,
            "resultaat": None,
            "opdrachtgevendeOrganisatie": "",
            "processobjectaard": "",
            "startdatumBewaartermijn": None,
            "processobject": None,
        }
        zaken.append(Zaak(zaak_uuid, resource, statussen, [rol]))
    return zaken


def all_betrokkenen() -> list[Betrokkene]:
    betrokkenen = [Betrokkene("bsn", bsn) for bsn in test_bsns()]
    for kvk_nummer, vestigingsnummers in test_companies():
        betrokkenen.append(Betrokkene("kvk", kvk_nummer))
        betrokkenen.extend(Betrokkene("vestiging", v, kvk_nummer) for v in vestigingsnummers)
    return betrokkenen
