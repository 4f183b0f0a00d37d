"""Klantinteracties data in API shape: the Open Klant fixture plus generated contact moments.

Resources are built per base URL (URLs in the API are absolute). Generation is deterministic: uuid5 of a
fixed namespace and a generator seeded by the identifier, so every run serves the same klantcontacten.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson

from iko_sandbox.paths import data_file

Json = dict[str, Any]
API = "/klantinteracties/api/v1"
NAMESPACE = uuid.UUID("5b7d1b1e-6c1a-4f0e-9d53-1f4b2f8a7c01")

# Generated subjects: (codeObjecttype, codeSoortObjectId, codeRegister, objectId, name, number of klantcontacten).
# 999990068 has more than one page at the default page size (100).
PERSONS = (
    ("999993653", ("Suzanne", "", "Moulin"), 6),
    ("999990068", ("Merel", "de", "Vries"), 120),
    ("999993409", ("Jan", "", "Jansen"), 3),
)
COMPANIES = (("69599084", "Test EMZ Dagobert", 4), ("68750110", "Test BV Donald", 2))
ANCHOR = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
KANALEN = ("Telefoon", "E-mail", "Balie", "Webformulier", "Brief")
ONDERWERPEN = (
    "Vraag over parkeervergunning",
    "Melding openbare ruimte",
    "Vraag over afvalinzameling",
    "Aanvraag uittreksel BRP",
    "Vraag over WOZ-beschikking",
    "Klacht over afhandeling",
    "Vraag over bijstandsuitkering",
    "Verhuizing doorgeven",
)
MEDEWERKERS = (("Jasmijn", "receptioniste"), ("Tim", "receptioniste"), ("Fatima", "klantcontactmedewerker"))


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def _naam(voornaam: str, voorvoegsel: str, achternaam: str) -> str:
    return " ".join(part for part in (voornaam, voorvoegsel, achternaam) if part)


def _adres(fields: Json, prefix: str) -> Json | None:
    adres = {
        "nummeraanduidingId": fields[f"{prefix}_nummeraanduiding_id"],
        "straatnaam": fields[f"{prefix}_straatnaam"],
        "huisnummer": fields[f"{prefix}_huisnummer"],
        "huisnummertoevoeging": fields[f"{prefix}_huisnummertoevoeging"],
        "postcode": fields[f"{prefix}_postcode"],
        "stad": fields[f"{prefix}_stad"],
        "adresregel1": fields[f"{prefix}_adresregel1"],
        "adresregel2": fields[f"{prefix}_adresregel2"],
        "adresregel3": fields[f"{prefix}_adresregel3"],
        "land": fields[f"{prefix}_land"],
    }
    # Open Klant answers null for an address group without content; the fixture's default huisnummer 1 is no content.
    if not any(value for key, value in adres.items() if key != "huisnummer"):
        return None
    return {key: value for key, value in adres.items() if value != ""}


@dataclass
class KlantinteractiesStore:
    base: str
    klantcontacten: dict[str, Json] = field(default_factory=dict)
    betrokkenen: dict[str, Json] = field(default_factory=dict)
    partijen: dict[str, Json] = field(default_factory=dict)
    onderwerpobjecten: dict[str, Json] = field(default_factory=dict)
    actoren: dict[str, Json] = field(default_factory=dict)
    internetaken: dict[str, Json] = field(default_factory=dict)
    bijlagen: dict[str, Json] = field(default_factory=dict)
    digitaleadressen: dict[str, Json] = field(default_factory=dict)

    def ref(self, collection: str, resource_uuid: str) -> Json:
        return {"uuid": resource_uuid, "url": f"{self.base}{API}/{collection}/{resource_uuid}"}

    # -- building blocks -------------------------------------------------------------------------------------

    def add_actor(self, actor_uuid: str, naam: str, functie: str, email: str, telefoon: str) -> None:
        self.actoren[actor_uuid] = {
            **self.ref("actoren", actor_uuid),
            "naam": naam,
            "soortActor": "medewerker",
            "indicatieActief": True,
            "actoridentificator": None,
            "actorIdentificatie": {"functie": functie, "emailadres": email, "telefoonnummer": telefoon},
        }

    def add_partij(
        self,
        partij_uuid: str,
        *,
        nummer: str,
        soort: str,
        identificatie: Json,
        identificatoren: list[tuple[str, str, str, str, str]],
        bezoekadres: Json | None = None,
        digitale_adressen: list[str] | None = None,
        voorkeurs_digitaal_adres: str | None = None,
    ) -> None:
        self.partijen[partij_uuid] = {
            **self.ref("partijen", partij_uuid),
            "nummer": nummer,
            "interneNotitie": "",
            "betrokkenen": [],
            "categorieRelaties": [],
            "digitaleAdressen": [self.ref("digitaleadressen", d) for d in digitale_adressen or []],
            "voorkeursDigitaalAdres": self.ref("digitaleadressen", voorkeurs_digitaal_adres)
            if voorkeurs_digitaal_adres
            else None,
            "vertegenwoordigden": [],
            "rekeningnummers": [],
            "voorkeursRekeningnummer": None,
            "partijIdentificatoren": [
                {
                    **self.ref("partij-identificatoren", pi_uuid),
                    "identificeerdePartij": self.ref("partijen", partij_uuid),
                    "anderePartijIdentificator": "",
                    "partijIdentificator": {
                        "codeObjecttype": objecttype,
                        "codeSoortObjectId": soort_object_id,
                        "objectId": object_id,
                        "codeRegister": register,
                    },
                    "subIdentificatorVan": None,
                }
                for pi_uuid, objecttype, soort_object_id, object_id, register in identificatoren
            ],
            "soortPartij": soort,
            "indicatieGeheimhouding": False,
            "voorkeurstaal": "nld",
            "indicatieActief": True,
            "bezoekadres": bezoekadres,
            "correspondentieadres": None,
            "partijIdentificatie": identificatie,
        }

    def add_klantcontact(self, kc_uuid: str, fields: Json, actor_uuids: list[str]) -> None:
        self.klantcontacten[kc_uuid] = {
            **self.ref("klantcontacten", kc_uuid),
            "gingOverOnderwerpobjecten": [],
            "hadBetrokkenActoren": [self.actoren[a] for a in actor_uuids],
            "omvatteBijlagen": [],
            "hadBetrokkenen": [],
            "leiddeTotInterneTaken": [],
            "nummer": fields.get("nummer"),
            "referentienummer": fields.get("referentienummer"),
            "kanaal": fields["kanaal"],
            "onderwerp": fields["onderwerp"],
            "inhoud": fields["inhoud"],
            "reactie": fields.get("reactie", ""),
            "indicatieContactGelukt": fields["indicatie_contact_gelukt"],
            "hoofdOnderwerpType": "",
            "verdereActieOndernomen": False,
            "taal": fields["taal"],
            "vertrouwelijk": fields["vertrouwelijk"],
            "plaatsgevondenOp": fields["plaatsgevonden_op"],
            "metadata": {},
        }

    def add_betrokkene(
        self,
        betrokkene_uuid: str,
        *,
        partij_uuid: str | None,
        kc_uuid: str,
        rol: str,
        initiator: bool,
        contactnaam: Json | None,
        organisatienaam: str = "",
        bezoekadres: Json | None = None,
        digitale_adressen: list[str] | None = None,
    ) -> None:
        naam = _naam(
            (contactnaam or {}).get("voornaam", ""),
            (contactnaam or {}).get("voorvoegselAchternaam", ""),
            (contactnaam or {}).get("achternaam", ""),
        )
        self.betrokkenen[betrokkene_uuid] = {
            **self.ref("betrokkenen", betrokkene_uuid),
            "wasPartij": self.ref("partijen", partij_uuid) if partij_uuid else None,
            "hadKlantcontact": self.ref("klantcontacten", kc_uuid),
            "digitaleAdressen": [self.ref("digitaleadressen", d) for d in digitale_adressen or []],
            "bezoekadres": bezoekadres,
            "correspondentieadres": None,
            "contactnaam": contactnaam,
            "volledigeNaam": naam or organisatienaam,
            "rol": rol,
            "organisatienaam": organisatienaam,
            "initiator": initiator,
        }
        self.klantcontacten[kc_uuid]["hadBetrokkenen"].append(self.ref("betrokkenen", betrokkene_uuid))
        if partij_uuid:
            self.partijen[partij_uuid]["betrokkenen"].append(self.ref("betrokkenen", betrokkene_uuid))

    def add_onderwerpobject(self, ow_uuid: str, kc_uuid: str, identificator: Json) -> None:
        self.onderwerpobjecten[ow_uuid] = {
            **self.ref("onderwerpobjecten", ow_uuid),
            "klantcontact": self.ref("klantcontacten", kc_uuid),
            "wasKlantcontact": None,
            "onderwerpobjectidentificator": identificator,
        }
        self.klantcontacten[kc_uuid]["gingOverOnderwerpobjecten"].append(self.ref("onderwerpobjecten", ow_uuid))

    # -- queries ---------------------------------------------------------------------------------------------

    def identificatoren(self, kc: Json) -> list[Json]:
        """The partij identificatoren of every betrokkene of a klantcontact that was a partij."""
        found: list[Json] = []
        for ref in kc["hadBetrokkenen"]:
            partij_ref = self.betrokkenen[ref["uuid"]]["wasPartij"]
            if partij_ref:
                found.extend(
                    pi["partijIdentificator"] for pi in self.partijen[partij_ref["uuid"]]["partijIdentificatoren"]
                )
        return found


def _load_fixture(store: KlantinteractiesStore) -> None:
    rows = orjson.loads(data_file("klantinteracties", "open-klant-fixtures-klantinteracties.json").read_bytes())
    by_model: dict[str, dict[int, Json]] = {}
    for row in rows:
        by_model.setdefault(row["model"].split(".")[1], {})[row["pk"]] = row["fields"]
    uuids: dict[str, dict[int, str]] = {
        model: {pk: f["uuid"] for pk, f in items.items() if "uuid" in f} for model, items in by_model.items()
    }
    for pk, actor in by_model["actor"].items():
        medewerker = next(m for m in by_model["medewerker"].values() if m["actor"] == pk)
        store.add_actor(
            actor["uuid"], actor["naam"], medewerker["functie"], medewerker["emailadres"], medewerker["telefoonnummer"]
        )
    for pk, partij in by_model["partij"].items():
        identificatie: Json
        if partij["soort_partij"] == "persoon":
            p = next(x for x in by_model["persoon"].values() if x["partij"] == pk)
            contactnaam = {
                "voorletters": p["contactnaam_voorletters"],
                "voornaam": p["contactnaam_voornaam"],
                "voorvoegselAchternaam": p["contactnaam_voorvoegsel_achternaam"],
                "achternaam": p["contactnaam_achternaam"],
            }
            naam = _naam(contactnaam["voornaam"], contactnaam["voorvoegselAchternaam"], contactnaam["achternaam"])
            identificatie = {"contactnaam": contactnaam, "volledigeNaam": naam}
        elif partij["soort_partij"] == "organisatie":
            identificatie = {"naam": next(o["naam"] for o in by_model["organisatie"].values() if o["partij"] == pk)}
        else:
            c = next(x for x in by_model["contactpersoon"].values() if x["partij"] == pk)
            contactnaam = {
                "voorletters": c["contactnaam_voorletters"],
                "voornaam": c["contactnaam_voornaam"],
                "voorvoegselAchternaam": c["contactnaam_voorvoegsel_achternaam"],
                "achternaam": c["contactnaam_achternaam"],
            }
            naam = _naam(contactnaam["voornaam"], contactnaam["voorvoegselAchternaam"], contactnaam["achternaam"])
            identificatie = {
                "contactnaam": contactnaam,
                "volledigeNaam": naam,
                "uuid": c["uuid"],
                "werkteVoorPartij": store.ref("partijen", uuids["partij"][c["werkte_voor_partij"]]),
            }
        store.add_partij(
            partij["uuid"],
            nummer=partij["nummer"],
            soort=partij["soort_partij"],
            identificatie=identificatie,
            identificatoren=[
                (
                    pi["uuid"],
                    pi["partij_identificator_code_objecttype"],
                    pi["partij_identificator_code_soort_object_id"],
                    pi["partij_identificator_object_id"],
                    pi["partij_identificator_code_register"],
                )
                for pi in by_model["partijidentificator"].values()
                if pi["partij"] == pk
            ],
            bezoekadres=_adres(partij, "bezoekadres"),
            digitale_adressen=[d["uuid"] for d in by_model["digitaaladres"].values() if d["partij"] == pk],
            voorkeurs_digitaal_adres=uuids["digitaaladres"].get(partij["voorkeurs_digitaal_adres"]),
        )
    for pk, kc in by_model["klantcontact"].items():
        actors = [uuids["actor"][a["actor"]] for a in by_model["actorklantcontact"].values() if a["klantcontact"] == pk]
        store.add_klantcontact(kc["uuid"], kc, actors)
    for b in by_model["betrokkene"].values():
        contactnaam = {
            "voorletters": b["contactnaam_voorletters"],
            "voornaam": b["contactnaam_voornaam"],
            "voorvoegselAchternaam": b["contactnaam_voorvoegsel_achternaam"],
            "achternaam": b["contactnaam_achternaam"],
        }
        store.add_betrokkene(
            b["uuid"],
            partij_uuid=uuids["partij"][b["partij"]] if b["partij"] else None,
            kc_uuid=uuids["klantcontact"][b["klantcontact"]],
            rol=b["rol"],
            initiator=b["initiator"],
            contactnaam=contactnaam if any(contactnaam.values()) else None,
            organisatienaam=b["organisatienaam"],
            bezoekadres=_adres(b, "bezoekadres"),
        )
    for d in by_model["digitaaladres"].values():
        store.digitaleadressen[d["uuid"]] = {
            **store.ref("digitaleadressen", d["uuid"]),
            "verstrektDoorBetrokkene": store.ref("betrokkenen", uuids["betrokkene"][d["betrokkene"]])
            if d["betrokkene"]
            else None,
            "verstrektDoorPartij": store.ref("partijen", uuids["partij"][d["partij"]]) if d["partij"] else None,
            "adres": d["adres"],
            "soortDigitaalAdres": d["soort_digitaal_adres"].lower(),
            "isStandaardAdres": False,
            "omschrijving": d["omschrijving"],
            "referentie": "",
            "verificatieDatum": None,
        }
        if d["betrokkene"]:
            betrokkene = store.betrokkenen[uuids["betrokkene"][d["betrokkene"]]]
            betrokkene["digitaleAdressen"].append(store.ref("digitaleadressen", d["uuid"]))
    for ow in by_model["onderwerpobject"].values():
        store.add_onderwerpobject(
            ow["uuid"],
            uuids["klantcontact"][ow["klantcontact"]],
            {
                "objectId": ow["onderwerpobjectidentificator_object_id"],
                "codeObjecttype": ow["onderwerpobjectidentificator_code_objecttype"],
                "codeRegister": ow["onderwerpobjectidentificator_code_register"],
                "codeSoortObjectId": ow["onderwerpobjectidentificator_code_soort_object_id"],
            },
        )
        if ow["was_klantcontact"]:
            was = uuids["klantcontact"][ow["was_klantcontact"]]
            store.onderwerpobjecten[ow["uuid"]]["wasKlantcontact"] = store.ref("klantcontacten", was)
    for bijlage in by_model["bijlage"].values():
        kc_uuid = uuids["klantcontact"][bijlage["klantcontact"]]
        store.bijlagen[bijlage["uuid"]] = {
            **store.ref("bijlagen", bijlage["uuid"]),
            "wasBijlageVanKlantcontact": store.ref("klantcontacten", kc_uuid),
            "bijlageidentificator": {
                "objectId": bijlage["bijlageidentificator_object_id"],
                "codeObjecttype": bijlage["bijlageidentificator_code_objecttype"],
                "codeRegister": bijlage["bijlageidentificator_code_register"],
                "codeSoortObjectId": bijlage["bijlageidentificator_code_soort_object_id"],
            },
        }
        store.klantcontacten[kc_uuid]["omvatteBijlagen"].append(store.ref("bijlagen", bijlage["uuid"]))
    for taak in by_model["internetaak"].values():
        kc_uuid = uuids["klantcontact"][taak["klantcontact"]]
        actoren = [store.ref("actoren", uuids["actor"][a]) for a in taak["actoren"]]
        store.internetaken[taak["uuid"]] = {
            **store.ref("internetaken", taak["uuid"]),
            "nummer": taak["nummer"],
            "referentienummer": taak["nummer"],
            "gevraagdeHandeling": taak["gevraagde_handeling"],
            "aanleidinggevendKlantcontact": store.ref("klantcontacten", kc_uuid),
            "toegewezenAanActor": actoren[0] if actoren else None,
            "toegewezenAanActoren": actoren,
            "toelichting": taak["toelichting"],
            "status": taak["status"],
            "toegewezenOp": taak["toegewezen_op"],
            "afgehandeldOp": None,
        }
        store.klantcontacten[kc_uuid]["leiddeTotInterneTaken"].append(store.ref("internetaken", taak["uuid"]))


def _generate(store: KlantinteractiesStore) -> None:
    for index, (naam, functie) in enumerate(MEDEWERKERS[2:], start=3):
        email = f"{naam.lower()}@gemeente.example"
        store.add_actor(_uuid("actor", naam), naam, functie, email, f"06{index:08d}")
    actor_uuids = list(store.actoren)
    subjects: list[tuple[str, str, str, str, Json, str, int]] = []
    for bsn, (voornaam, voorvoegsel, achternaam), count in PERSONS:
        persoon_naam = {
            "voorletters": f"{voornaam[0]}.",
            "voornaam": voornaam,
            "voorvoegselAchternaam": voorvoegsel,
            "achternaam": achternaam,
        }
        naam = _naam(voornaam, voorvoegsel, achternaam)
        identificatie: Json = {"contactnaam": persoon_naam, "volledigeNaam": naam}
        subjects.append(("persoon", "natuurlijk_persoon", "bsn", bsn, identificatie, "brp", count))
    for kvk_nummer, naam, count in COMPANIES:
        subjects.append(
            ("organisatie", "niet_natuurlijk_persoon", "kvk_nummer", kvk_nummer, {"naam": naam}, "hr", count)
        )
    nummer = 1000
    for soort, objecttype, soort_object_id, object_id, identificatie, register, count in subjects:
        rng = random.Random(f"klantinteracties:{object_id}")
        partij_uuid = _uuid("partij", object_id)
        nummer += 1
        store.add_partij(
            partij_uuid,
            nummer=f"{nummer:010d}",
            soort=soort,
            identificatie=identificatie,
            identificatoren=[
                (_uuid("partij-identificator", object_id), objecttype, soort_object_id, object_id, register)
            ],
        )
        for n in range(count):
            kc_uuid = _uuid("klantcontact", object_id, str(n))
            onderwerp = rng.choice(ONDERWERPEN)
            when = ANCHOR - timedelta(
                days=n * 3 + rng.randint(0, 2), hours=rng.randint(0, 8), minutes=rng.randint(0, 59)
            )
            nummer += 1
            fields = {
                "nummer": f"{nummer:010d}",
                "referentienummer": f"KC{nummer:08d}",
                "kanaal": rng.choice(KANALEN),
                "onderwerp": onderwerp,
                "inhoud": f"{onderwerp}: contact {n + 1} met {object_id}.",
                "reactie": rng.choice(("Doorverwezen naar vakafdeling.", "Vraag direct beantwoord.", "")),
                "indicatie_contact_gelukt": rng.random() > 0.15,
                "taal": "nld",
                "vertrouwelijk": rng.random() < 0.2,
                "plaatsgevonden_op": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            store.add_klantcontact(kc_uuid, fields, [rng.choice(actor_uuids)])
            store.add_betrokkene(
                _uuid("betrokkene", object_id, str(n)),
                partij_uuid=partij_uuid,
                kc_uuid=kc_uuid,
                rol="klant",
                initiator=True,
                contactnaam=identificatie.get("contactnaam"),
                organisatienaam=str(identificatie.get("naam", "")),
            )
            if n % 2 == 0:
                # Every other contact was about a zaak (Open Zaak identifies it by uuid).
                store.add_onderwerpobject(
                    _uuid("onderwerpobject", object_id, str(n)),
                    kc_uuid,
                    {
                        "objectId": _uuid("zaak", object_id, str(n)),
                        "codeObjecttype": "zaak",
                        "codeRegister": "open-zaak",
                        "codeSoortObjectId": "uuid",
                    },
                )


@lru_cache(maxsize=8)
def store_for(base: str) -> KlantinteractiesStore:
    store = KlantinteractiesStore(base.rstrip("/"))
    _load_fixture(store)
    _generate(store)
    return store
