"""Validates simulator requests and responses against the copied OpenAPI specs with openapi-core."""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
import yaml
from iko_sandbox.paths import data_file
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

HOST = "http://sandbox"
# Each spec's own server URL, rebased on the in-process test host.
SPECS = {
    "brp": ("openapi-resolved-v2.yaml", HOST),
    "basisprofiel": ("basisprofiel-v1-openapi.yaml", f"{HOST}/v1"),
    "vestigingsprofiel": ("vestigingsprofiel-v1-openapi.yaml", HOST),
    "zoeken": ("zoeken-v2-openapi.yaml", f"{HOST}/v2"),
    "zaken": ("zaken-api-1.5.1-openapi.yaml", f"{HOST}/zaken/api/v1"),
    "catalogi": ("catalogi-api-1.3.1-openapi.yaml", f"{HOST}/catalogi/api/v1"),
    "klantinteracties": ("open-klant-klantinteracties-openapi.yaml", f"{HOST}/klantinteracties/api/v1"),
    "objecten": ("objects-api-v2-openapi.yaml", f"{HOST}/objects/api/v2"),
    "objecttypen": ("objecttypes-api-v2-openapi.yaml", f"{HOST}/objecttypes/api/v2"),
}


def _patch_catalogi(spec: dict[str, Any]) -> None:
    # Catalogi API 1.3.1's generated spec types ZaakType.informatieobjecttypen as a string;
    # the reference implementation (Open Zaak) and the standard's docs return a list of URLs,
    # which the simulator does too. Only this property is corrected, nothing else.
    spec["components"]["schemas"]["ZaakType"]["properties"]["informatieobjecttypen"] = {
        "type": "array",
        "readOnly": True,
        "items": {"type": "string", "format": "uri"},
    }


def _patch_klantinteracties(spec: dict[str, Any]) -> None:
    # Medewerker.telefoonnummer has a write-side pattern ("0612345678" style) that Open Klant's own
    # fixture does not meet ("693624816"); the API serves stored values as they are, and so does the
    # simulator, so only this pattern is dropped; the length limit stays.
    telefoon = spec["components"]["schemas"]["Medewerker"]["properties"]["telefoonnummer"]
    telefoon.pop("pattern", None)


def _patch_objecten(spec: dict[str, Any]) -> None:
    # ObjectRecord.correctedBy is generated as a non-nullable integer, yet the Objects API answers
    # `"correctedBy": null` for a record nobody corrected (every example in its usage docs); only this
    # property is made nullable.
    spec["components"]["schemas"]["ObjectRecord"]["properties"]["correctedBy"]["nullable"] = True


def _nullable_refs(node: Any) -> None:
    """Lets `nullable: true` next to an `allOf` reference accept null, as the ZGW APIs intend.

    The ZGW specs are generated (drf-spectacular) as `{allOf: [$ref], nullable: true}` for
    fields such as zaakgeometrie and processobject; by the OAS 3.0.3 clarification the null
    then fails the referenced schema, yet Open Zaak returns null there. Rewritten to
    `anyOf: [$ref, null]`, which is what the generator meant.
    """
    if isinstance(node, dict):
        for key, value in list(node.items()):
            if (
                isinstance(value, dict)
                and value.get("nullable") is True
                and isinstance(value.get("allOf"), list)
                and len(value["allOf"]) == 1
            ):
                rest = {k: v for k, v in value.items() if k not in ("allOf", "nullable")}
                node[key] = {**rest, "anyOf": [value["allOf"][0], {"enum": [None], "nullable": True}]}
            _nullable_refs(node[key])
    elif isinstance(node, list):
        for item in node:
            _nullable_refs(item)


def _patch_brp(spec: dict[str, Any]) -> None:
    # The Waardetabel.omschrijving pattern forbids "/" and "+", yet the same repository's
    # tabelwaarden.csv has "geslachtsnaam echtgenoot/geregistreerd partner ..." and its mock
    # data "ouder1 + ouder2 hebben het gezag": the real API delivers these texts, so only
    # this one pattern is dropped; the length limit stays.
    omschrijving = spec["components"]["schemas"]["Waardetabel"]["properties"]["omschrijving"]
    omschrijving.pop("pattern", None)
    omschrijving["maxLength"] = 200


def _enforce_discriminators(spec: dict[str, Any]) -> None:
    """Makes discriminated schemas check the concrete variant, not only the abstract base.

    JSON Schema ignores OpenAPI's `discriminator`, so validating `AbstractDatum` would only
    check `type` and `langFormaat`, and a wrong `Datum` would pass. Each discriminated
    schema becomes its base plus an if/then per mapped variant; the variants' own allOf
    reference to the abstract schema is pointed at the base to avoid a cycle.
    """
    schemas = spec["components"]["schemas"]
    for name, schema in list(schemas.items()):
        mapping = (schema.get("discriminator") or {}).get("mapping")
        if not mapping:
            continue
        prop = schema["discriminator"]["propertyName"]
        base_name = f"{name}__Base"
        base = {k: v for k, v in schema.items() if k != "discriminator"}
        schemas[base_name] = base
        parent_ref = f"#/components/schemas/{name}"
        for ref in mapping.values():
            variant = schemas[ref.rsplit("/", 1)[1]]
            for part in variant.get("allOf", []):
                if part.get("$ref") == parent_ref:
                    part["$ref"] = f"#/components/schemas/{base_name}"
        schemas[name] = {
            "allOf": [
                {"$ref": f"#/components/schemas/{base_name}"},
                {"properties": {prop: {"enum": sorted(mapping)}}},
                *(
                    {"if": {"properties": {prop: {"const": value}}, "required": [prop]}, "then": {"$ref": ref}}
                    for value, ref in mapping.items()
                ),
            ]
        }


def declared_properties(name: str) -> frozenset[str]:
    """Every property name any schema of the spec declares."""
    filename, _ = SPECS[name]
    spec = yaml.safe_load(data_file("specs", filename).read_text(encoding="utf-8"))
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict):
                names.update(node["properties"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    return frozenset(names)


def undeclared_keys(value: Any, declared: frozenset[str], path: str = "") -> list[str]:
    """Keys in an answer that no schema of the spec declares: typos the schemas would let through."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, sub in value.items():
            if key not in declared:
                found.append(f"{path}.{key}")
            found.extend(undeclared_keys(sub, declared, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            found.extend(undeclared_keys(sub, declared, f"{path}[{index}]"))
    return found


@cache
def openapi(name: str) -> OpenAPI:
    filename, server = SPECS[name]
    spec = yaml.safe_load(data_file("specs", filename).read_text(encoding="utf-8"))
    spec["servers"] = [{"url": server}]
    if name == "catalogi":
        _patch_catalogi(spec)
    if name == "klantinteracties":
        _patch_klantinteracties(spec)
    if name == "objecten":
        _patch_objecten(spec)
    if name in ("zaken", "catalogi", "klantinteracties", "objecten", "objecttypen"):
        _nullable_refs(spec["components"]["schemas"])
    if name == "brp":
        _patch_brp(spec)
        # OAS 3.1 only (if/then); the 3.0 specs' discriminators sit on resources not served here.
        _enforce_discriminators(spec)
    # The sources' JSON variants (problem+json, hal+json) are JSON too; openapi-core only knows plain JSON.
    config = Config(
        extra_media_type_deserializers={
            "application/problem+json": orjson.loads,
            "application/hal+json": orjson.loads,
        }
    )
    return OpenAPI.from_dict(spec, config=config)


def _mock_request(request: httpx.Request) -> MockRequest:
    url = request.url
    args = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(url.query.decode(), keep_blank_values=True).items()}
    content_type = request.headers.get("content-type", "application/json")
    return MockRequest(
        HOST,
        request.method.lower(),
        url.path,
        args=args,
        headers=dict(request.headers),
        data=request.content or None,
        content_type=content_type,
    )


def validate_response(name: str, response: httpx.Response) -> None:
    """Raises when the response does not match the operation's declared response."""
    content_type = response.headers.get("content-type", "application/json")
    mock = MockResponse(
        response.content, status_code=response.status_code, headers=dict(response.headers), content_type=content_type
    )
    openapi(name).validate_response(_mock_request(response.request), mock)


def validate_request(name: str, request: httpx.Request) -> None:
    openapi(name).validate_request(_mock_request(request))
