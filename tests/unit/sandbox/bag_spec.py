"""Validates BAG simulator requests and responses against the copied BAG Individuele Bevragingen v2 spec."""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx
import orjson
import yaml
from iko_sandbox.paths import data_file
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockResponse

from tests.unit.sandbox.spec_check import HOST, _mock_request

SPEC_FILE = "bag-individuelebevragingen-v2-openapi.yaml"


def _patch(spec: dict[str, Any]) -> None:
    # The spec's Adres lists "kortNaam" as required while its property (and the real API's
    # answer, see Kadaster's getting-started example) is "korteNaam": only that name is corrected.
    adres = spec["components"]["schemas"]["Adres"]
    adres["required"] = ["korteNaam" if name == "kortNaam" else name for name in adres["required"]]
    # Voorkomen's timestamps are typed `date-time` (RFC 3339, with an offset), yet the real API
    # answers local times without one ("2010-12-10T02:45:55", "2010-12-10T03:01:55.973" in the
    # getting-started examples), and so does the simulator: only these fields' format is relaxed.
    for field in spec["components"]["schemas"]["Voorkomen"]["properties"].values():
        if field.get("format") == "date-time":
            field.pop("format")
            field["pattern"] = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,3})?$"


@cache
def bag_openapi() -> OpenAPI:
    spec = yaml.safe_load(data_file("specs", SPEC_FILE).read_text(encoding="utf-8"))
    spec["servers"] = [{"url": HOST}]
    _patch(spec)
    config = Config(
        extra_media_type_deserializers={
            "application/problem+json": orjson.loads,
            "application/hal+json": orjson.loads,
        }
    )
    return OpenAPI.from_dict(spec, config=config)


def validate_bag(response: httpx.Response, *, request: bool = True) -> None:
    """Raises when the request or the response does not match the spec's operation."""
    if request:
        bag_openapi().validate_request(_mock_request(response.request))
    content_type = response.headers.get("content-type", "application/json")
    mock = MockResponse(
        response.content, status_code=response.status_code, headers=dict(response.headers), content_type=content_type
    )
    bag_openapi().validate_response(_mock_request(response.request), mock)


def declared_bag_properties() -> frozenset[str]:
    spec = yaml.safe_load(data_file("specs", SPEC_FILE).read_text(encoding="utf-8"))
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
