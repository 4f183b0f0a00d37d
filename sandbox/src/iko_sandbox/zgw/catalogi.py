"""The Open Zaak catalogi fixture rendered as Catalogi API 1.3 resources.

The fixture's zaaktypen are all `concept: true`; the Catalogi API hides concepts by
default (`status=definitief`), so the simulator publishes them, as a demo catalogue would be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from iko_sandbox.paths import data_file

Json = dict[str, Any]
PREFIX = "catalogi/api/v1"


@dataclass(frozen=True)
class Catalogi:
    catalogus: Json
    zaaktypen: dict[str, Json]  # uuid -> resource
    statustypen: dict[str, Json]
    resultaattypen: dict[str, Json]
    roltypen: dict[str, Json]

    def statustypen_of(self, zaaktype_url: str) -> list[Json]:
        found = [s for s in self.statustypen.values() if s["zaaktype"] == zaaktype_url]
        return sorted(found, key=lambda s: int(s["volgnummer"]))

    def resultaattypen_of(self, zaaktype_url: str) -> list[Json]:
        return [r for r in self.resultaattypen.values() if r["zaaktype"] == zaaktype_url]

    def roltype_of(self, zaaktype_url: str, generiek: str) -> Json | None:
        return next(
            (
                r
                for r in self.roltypen.values()
                if r["zaaktype"] == zaaktype_url and r["omschrijvingGeneriek"] == generiek
            ),
            None,
        )


def _json_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value:
        parsed = orjson.loads(value)
        return parsed if isinstance(parsed, list) else []
    return []


def load_catalogi(base: str) -> Catalogi:
    """`base` is the simulator root URL; every resource URL is built on it."""
    root = f"{base.rstrip('/')}/{PREFIX}"
    fixture: list[Json] = orjson.loads(data_file("zgw", "open-zaak-docker-fixtures-catalogi.json").read_bytes())
    by_model: dict[str, list[Json]] = {}
    for item in fixture:
        by_model.setdefault(item["model"], []).append(item)

    raw_catalogus = by_model["catalogi.catalogus"][0]["fields"]
    catalogus_url = f"{root}/catalogussen/{raw_catalogus['uuid']}"
    zaaktype_uuid = {item["pk"]: item["fields"]["uuid"] for item in by_model.get("catalogi.zaaktype", [])}

    def zaaktype_url(pk: int) -> str:
        return f"{root}/zaaktypen/{zaaktype_uuid[pk]}"

    statustypen: dict[str, Json] = {}
    eind_per_zaaktype: dict[int, int] = {}
    for item in by_model.get("catalogi.statustype", []):
        f = item["fields"]
        eind_per_zaaktype[f["zaaktype"]] = max(eind_per_zaaktype.get(f["zaaktype"], 0), f["statustypevolgnummer"])
    zaaktype_identificatie = {
        item["pk"]: item["fields"]["identificatie"] for item in by_model.get("catalogi.zaaktype", [])
    }
    for item in by_model.get("catalogi.statustype", []):
        f = item["fields"]
        statustypen[f["uuid"]] = {
            "url": f"{root}/statustypen/{f['uuid']}",
            "omschrijving": f["statustype_omschrijving"],
            "omschrijvingGeneriek": f["statustype_omschrijving_generiek"],
            "statustekst": f["statustekst"],
            "zaaktype": zaaktype_url(f["zaaktype"]),
            "zaaktypeIdentificatie": zaaktype_identificatie[f["zaaktype"]],
            "volgnummer": f["statustypevolgnummer"],
            "isEindstatus": f["statustypevolgnummer"] == eind_per_zaaktype[f["zaaktype"]],
            "informeren": f["informeren"],
            "doorlooptijd": f["doorlooptijd"],
            "toelichting": f["toelichting"],
            "checklistitemStatustype": [],
            "catalogus": catalogus_url,
            "eigenschappen": [],
            "zaakobjecttype": "",
            "beginGeldigheid": f["datum_begin_geldigheid"],
            "eindeGeldigheid": f["datum_einde_geldigheid"],
            "beginObject": f["datum_begin_geldigheid"],
            "eindeObject": f["datum_einde_geldigheid"],
        }

    resultaattypen: dict[str, Json] = {}
    for item in by_model.get("catalogi.resultaattype", []):
        f = item["fields"]
        resultaattypen[f["uuid"]] = {
            "url": f"{root}/resultaattypen/{f['uuid']}",
            "zaaktype": zaaktype_url(f["zaaktype"]),
            "omschrijving": f["omschrijving"],
            "omschrijvingGeneriek": f["omschrijving_generiek"],
            "archiefnominatie": f["archiefnominatie"],
            "archiefactietermijn": f["archiefactietermijn"],
        }

    roltypen: dict[str, Json] = {}
    for item in by_model.get("catalogi.roltype", []):
        f = item["fields"]
        roltypen[f["uuid"]] = {
            "url": f"{root}/roltypen/{f['uuid']}",
            "zaaktype": zaaktype_url(f["zaaktype"]),
            "omschrijving": f["omschrijving"],
            "omschrijvingGeneriek": f["omschrijving_generiek"],
        }

    iot_uuid = {item["pk"]: item["fields"]["uuid"] for item in by_model.get("catalogi.informatieobjecttype", [])}
    ztiot = by_model.get("catalogi.zaaktypeinformatieobjecttype", [])
    besluittypen = by_model.get("catalogi.besluittype", [])
    eigenschappen = by_model.get("catalogi.eigenschap", [])

    zaaktypen: dict[str, Json] = {}
    for item in by_model.get("catalogi.zaaktype", []):
        f = item["fields"]
        pk = item["pk"]
        url = zaaktype_url(pk)
        resource: Json = {
            "url": url,
            "identificatie": f["identificatie"],
            "omschrijving": f["zaaktype_omschrijving"],
            "omschrijvingGeneriek": f["zaaktype_omschrijving_generiek"],
            "vertrouwelijkheidaanduiding": f["vertrouwelijkheidaanduiding"],
            "doel": f["doel"],
            "aanleiding": f["aanleiding"],
            "toelichting": f["toelichting"],
            "indicatieInternOfExtern": f["indicatie_intern_of_extern"],
            "handelingInitiator": f["handeling_initiator"],
            "onderwerp": f["onderwerp"],
            "handelingBehandelaar": f["handeling_behandelaar"],
            "doorlooptijd": f["doorlooptijd_behandeling"],
            "servicenorm": f["servicenorm_behandeling"],
            "opschortingEnAanhoudingMogelijk": f["opschorting_en_aanhouding_mogelijk"],
            "verlengingMogelijk": f["verlenging_mogelijk"],
            "verlengingstermijn": f["verlengingstermijn"],
            "trefwoorden": _json_list(f["trefwoorden"]),
            "publicatieIndicatie": f["publicatie_indicatie"],
            "publicatietekst": f["publicatietekst"],
            "verantwoordingsrelatie": _json_list(f["verantwoordingsrelatie"]),
            "productenOfDiensten": _json_list(f["producten_of_diensten"]),
            "selectielijstProcestype": f["selectielijst_procestype"],
            "referentieproces": {"naam": f["referentieproces_naam"], "link": f["referentieproces_link"]},
            "verantwoordelijke": f["verantwoordelijke"],
            "zaakobjecttypen": [],
            "catalogus": catalogus_url,
            "statustypen": [s["url"] for s in statustypen.values() if s["zaaktype"] == url],
            "resultaattypen": [r["url"] for r in resultaattypen.values() if r["zaaktype"] == url],
            "eigenschappen": [
                f"{root}/eigenschappen/{e['fields']['uuid']}" for e in eigenschappen if e["fields"]["zaaktype"] == pk
            ],
            "informatieobjecttypen": [
                f"{root}/informatieobjecttypen/{iot_uuid[z['fields']['informatieobjecttype']]}"
                for z in ztiot
                if z["fields"]["zaaktype"] == pk
            ],
            "roltypen": [r["url"] for r in roltypen.values() if r["zaaktype"] == url],
            "besluittypen": [
                f"{root}/besluittypen/{b['fields']['uuid']}" for b in besluittypen if pk in b["fields"]["zaaktypen"]
            ],
            "deelzaaktypen": [zaaktype_url(d) for d in f.get("deelzaaktypen", [])],
            "gerelateerdeZaaktypen": [],
            "beginGeldigheid": f["datum_begin_geldigheid"],
            "eindeGeldigheid": f["datum_einde_geldigheid"],
            "beginObject": f["datum_begin_geldigheid"],
            "eindeObject": f["datum_einde_geldigheid"],
            "versiedatum": f["versiedatum"],
            # Published for the demo: see the module docstring.
            "concept": False,
        }
        zaaktypen[f["uuid"]] = resource

    catalogus: Json = {
        "url": catalogus_url,
        "domein": raw_catalogus["domein"],
        "rsin": raw_catalogus["rsin"],
        "contactpersoonBeheerNaam": raw_catalogus["contactpersoon_beheer_naam"],
        "naam": raw_catalogus["naam"],
        "zaaktypen": [z["url"] for z in zaaktypen.values()],
    }
    return Catalogi(catalogus, zaaktypen, statustypen, resultaattypen, roltypen)
