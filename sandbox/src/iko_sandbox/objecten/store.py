"""Object types and objects in API shape, built per base URL (object and type URLs are absolute).

Deterministic: uuid5 of a fixed namespace for every identifier and fixed dates, so every run serves the
same objects. The melding openbare ruimte type's first version is the Objects API's own example schema.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

from iko_sandbox.paths import data_file

Json = dict[str, Any]
OBJECTS_API = "/objects/api/v2"
OBJECTTYPES_API = "/objecttypes/api/v2"
NAMESPACE = uuid.UUID("0c3f2d4e-8a1b-4f6c-9e2d-7b5a1c3e9f10")
CREATED = "2025-01-15"
MAINTAINER = "Gemeente Sandbox"

# BRP test persons and their verblijfplaats (nummeraanduidingIdentificatie from data/brp/personen-mock-test-data.json).
PERSON_ADDRESSES = {
    "999993653": ("0599200000219678", "Boterdiep 31 Rotterdam"),
    "999990068": ("0518200000679501", "Zuiderparklaan 12 's-Gravenhage"),
}


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def _schema(title: str, properties: Json, required: list[str]) -> Json:
    return {
        "$schema": "http://json-schema.org/draft-07/schema",
        "type": "object",
        "title": title,
        "properties": properties,
        "required": required,
    }


STRING = {"type": "string"}
DATE = {"type": "string", "format": "date"}
BSN = {"type": "string", "pattern": "^[0-9]{9}$"}
KVK_NUMMER = {"type": "string", "pattern": "^[0-9]{8}$"}
NUMMERAANDUIDING = {"type": "string", "pattern": "^[0-9]{16}$"}


def _melding_schemas() -> list[Json]:
    example = orjson.loads(data_file("objecten", "example-objecttype-melding.schema.json").read_bytes())
    extended = copy.deepcopy(example)
    extended.setdefault("properties", {})["nummeraanduidingIdentificatie"] = {
        **NUMMERAANDUIDING,
        "title": "Nummeraanduiding",
        "description": "BAG-identificatie van de nummeraanduiding van het adres van de melding.",
    }
    return [example, extended]


# (key, name, namePlural, description, dataClassification, versions' JSON schemas, allowGeometry)
TYPES: tuple[tuple[str, str, str, str, str, list[Json], bool], ...] = (
    (
        "parkeervergunning",
        "parkeervergunning",
        "parkeervergunningen",
        "Parkeervergunningen voor bewoners.",
        "confidential",
        [
            _schema(
                "Parkeervergunning",
                {
                    "vergunningnummer": STRING,
                    "bsn": BSN,
                    "kenteken": STRING,
                    "zone": STRING,
                    "status": {"type": "string", "enum": ["actief", "verlopen", "aangevraagd"]},
                    "geldigVan": DATE,
                    "geldigTot": DATE,
                },
                ["vergunningnummer", "bsn", "kenteken"],
            )
        ],
        False,
    ),
    (
        "melding-openbare-ruimte",
        "melding openbare ruimte",
        "meldingen openbare ruimte",
        "Meldingen over de openbare ruimte.",
        "open",
        [],  # filled from the example schema in _build
        True,
    ),
    (
        "bedrijfsvergunning",
        "bedrijfsvergunning",
        "bedrijfsvergunningen",
        "Exploitatie- en bedrijfsvergunningen van ondernemingen.",
        "intern",
        [
            _schema(
                "Bedrijfsvergunning",
                {
                    "vergunningnummer": STRING,
                    "kvkNummer": KVK_NUMMER,
                    "vestigingsnummer": {"type": "string", "pattern": "^[0-9]{12}$"},
                    "soort": STRING,
                    "status": {"type": "string", "enum": ["verleend", "ingetrokken", "in behandeling"]},
                    "geldigVan": DATE,
                    "geldigTot": DATE,
                },
                ["vergunningnummer", "kvkNummer", "soort"],
            )
        ],
        False,
    ),
)

# (type key, object key, typeVersion, data, geometry or None, startAt)
OBJECTS: tuple[tuple[str, str, int, Json, Json | None, str], ...] = (
    (
        "parkeervergunning",
        "pv-1",
        1,
        {
            "vergunningnummer": "PV-2025-000101",
            "bsn": "999993653",
            "kenteken": "AB-123-C",
            "zone": "Rotterdam Centrum",
            "status": "actief",
            "geldigVan": "2025-02-01",
            "geldigTot": "2027-01-31",
        },
        None,
        "2025-02-01",
    ),
    (
        "parkeervergunning",
        "pv-2",
        1,
        {
            "vergunningnummer": "PV-2023-000457",
            "bsn": "999993653",
            "kenteken": "XY-987-Z",
            "zone": "Rotterdam Centrum",
            "status": "verlopen",
            "geldigVan": "2023-03-01",
            "geldigTot": "2024-02-29",
        },
        None,
        "2023-03-01",
    ),
    (
        "parkeervergunning",
        "pv-3",
        1,
        {
            "vergunningnummer": "PV-2025-000233",
            "bsn": "999990068",
            "kenteken": "GH-45-JK",
            "zone": "Den Haag Zuiderpark",
            "status": "actief",
            "geldigVan": "2025-06-01",
            "geldigTot": "2026-05-31",
        },
        None,
        "2025-06-01",
    ),
    (
        "melding-openbare-ruimte",
        "mor-1",
        2,
        {
            "hoofdcategorie": "groen",
            "subcategorie": "snoeien",
            "toelichting": "Struiken belemmeren de doorgang op de stoep.",
            "locatie": "lat-long, 51°56'N 4°31'E",
            "adres": "Boterdiep 31 Rotterdam",
            "nummeraanduidingIdentificatie": "0599200000219678",
        },
        {"type": "Point", "coordinates": [4.5205, 51.9394]},
        "2025-09-12",
    ),
    (
        "melding-openbare-ruimte",
        "mor-2",
        2,
        {
            "hoofdcategorie": "grijs",
            "toelichting": "Losliggende stoeptegels voor de deur.",
            "locatie": "lat-long, 51°56'N 4°31'E",
            "adres": "Boterdiep 31 Rotterdam",
            "nummeraanduidingIdentificatie": "0599200000219678",
        },
        {"type": "Point", "coordinates": [4.5207, 51.9395]},
        "2026-02-03",
    ),
    (
        "melding-openbare-ruimte",
        "mor-3",
        2,
        {
            "hoofdcategorie": "water",
            "toelichting": "Verstopte kolk, water blijft op straat staan.",
            "locatie": "lat-long, 52°03'N 4°17'E",
            "adres": "Zuiderparklaan 12 's-Gravenhage",
            "nummeraanduidingIdentificatie": "0518200000679501",
        },
        {"type": "Point", "coordinates": [4.2833, 52.0556]},
        "2026-03-20",
    ),
    (
        "bedrijfsvergunning",
        "bv-1",
        1,
        {
            "vergunningnummer": "BV-2024-000012",
            "kvkNummer": "69599084",
            "vestigingsnummer": "000038509504",
            "soort": "exploitatievergunning horeca",
            "status": "verleend",
            "geldigVan": "2024-04-01",
            "geldigTot": "2029-03-31",
        },
        None,
        "2024-04-01",
    ),
    (
        "bedrijfsvergunning",
        "bv-2",
        1,
        {
            "vergunningnummer": "BV-2026-000003",
            "kvkNummer": "69599084",
            "vestigingsnummer": "000038509520",
            "soort": "terrasvergunning",
            "status": "in behandeling",
            "geldigVan": "2026-05-01",
        },
        None,
        "2026-01-10",
    ),
    (
        "bedrijfsvergunning",
        "bv-3",
        1,
        {
            "vergunningnummer": "BV-2022-000088",
            "kvkNummer": "68750110",
            "soort": "evenementenvergunning",
            "status": "verleend",
            "geldigVan": "2022-07-01",
            "geldigTot": "2022-07-03",
        },
        None,
        "2022-06-01",
    ),
)


# The objecttypes' fixed uuids, by key: a connector's configuration can name
# <base>/objecttypes/api/v2/objecttypes/<uuid> without asking the Objecttypen API first.
OBJECTTYPE_UUIDS = {key: _uuid("objecttype", key) for key, *_ in TYPES}


@dataclass
class ObjectenStore:
    base: str
    objecttypes: dict[str, Json] = field(default_factory=dict)
    versions: dict[str, list[Json]] = field(default_factory=dict)
    objects: dict[str, Json] = field(default_factory=dict)

    def objecttype_url(self, type_uuid: str) -> str:
        return f"{self.base}{OBJECTTYPES_API}/objecttypes/{type_uuid}"

    def type_uuid(self, key: str) -> str:
        return OBJECTTYPE_UUIDS[key]


def _build(base: str) -> ObjectenStore:
    store = ObjectenStore(base.rstrip("/"))
    for key, name, plural, description, classification, schemas, allow_geometry in TYPES:
        type_uuid = store.type_uuid(key)
        url = store.objecttype_url(type_uuid)
        json_schemas = schemas or _melding_schemas()
        store.versions[type_uuid] = [
            {
                "url": f"{url}/versions/{number}",
                "version": number,
                "objectType": url,
                "status": "published",
                "jsonSchema": schema,
                "createdAt": CREATED,
                "modifiedAt": CREATED,
                "publishedAt": CREATED,
            }
            for number, schema in enumerate(json_schemas, start=1)
        ]
        store.objecttypes[type_uuid] = {
            "url": url,
            "uuid": type_uuid,
            "name": name,
            "namePlural": plural,
            "description": description,
            "dataClassification": classification,
            "maintainerOrganization": MAINTAINER,
            "maintainerDepartment": "Dienstverlening",
            "contactPerson": "Functioneel beheer",
            "contactEmail": "objecten@gemeente.example",
            "source": "IKO sandbox",
            "updateFrequency": "real_time",
            "providerOrganization": MAINTAINER,
            "documentationUrl": "https://objects-and-objecttypes-api.readthedocs.io/",
            "labels": {},
            "createdAt": CREATED,
            "modifiedAt": CREATED,
            "allowGeometry": allow_geometry,
            "versions": [v["url"] for v in store.versions[type_uuid]],
        }
    for type_key, object_key, type_version, data, geometry, start_at in OBJECTS:
        object_uuid = _uuid("object", object_key)
        store.objects[object_uuid] = {
            "url": f"{store.base}{OBJECTS_API}/objects/{object_uuid}",
            "uuid": object_uuid,
            "type": store.objecttype_url(store.type_uuid(type_key)),
            "record": {
                "index": 1,
                "typeVersion": type_version,
                "data": data,
                "geometry": geometry,
                "references": [],
                "startAt": start_at,
                "endAt": None,
                "registrationAt": start_at,
                "correctionFor": None,
                "correctedBy": None,
            },
        }
    return store


@lru_cache(maxsize=8)
def store_for(base: str) -> ObjectenStore:
    return _build(base)
