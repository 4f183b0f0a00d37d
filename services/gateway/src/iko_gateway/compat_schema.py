"""IKO Server compatibility: the JSON Schema of a profile's view, as ``GET /aggregated-data-profiles/{name}/schema``
answers it.

The IKO Server (``AggregatedDataProfileSchemaService``) answers the schema of the *result*, after the profile's
result transform, inferred by running the transform over mock data made from the connectors' OpenAPI documents. We
do the same with what a profile knows: every source (and one branch per relation) answers ``ok`` with a mock made
from its ``fields`` (leaves ``null``), the transform runs over that answer, and the schema is inferred from the
result. Leaves are left open (the profile names fields, not their types); a container is described as the list or,
with a paged ``containerParam``, the Spring Page it becomes.
"""

from __future__ import annotations

from typing import Any

from iko_shared.profiles import Profile, RelationSpec, SourceSpec, run_jq

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def mock_data(fields: list[str]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in fields:
        node = root
        parts = path.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node.setdefault(parts[-1], None)
    return root


def _result(key: str, spec: SourceSpec) -> dict[str, Any]:
    return {"source": spec.connector(key), "status": "ok", "data": mock_data(spec.fields), "error": None}


def mock_answer(profile: Profile) -> dict[str, Any]:
    sources = {key: _result(key, spec) for key, spec in profile.sources.items()}
    branches: dict[str, Any] = {}

    def walk(relations: list[RelationSpec], prefix: str) -> None:
        for relation in relations:
            branch = f"{prefix}{relation.name}[0]"
            keys = [f"{branch}.{key}" for key in relation.sources]
            branches[branch] = {"relation": relation.name, "parent": prefix.rstrip("."), "keys": keys}
            for key, spec in relation.sources.items():
                sources[f"{branch}.{key}"] = _result(key, spec)
            walk(relation.relations, f"{branch}.")

    walk(profile.relations, "")
    return {
        "request_id": "schema",
        "profile": profile.name,
        "identifier": {"type": profile.identifiers[0], "value": ""},
        "status": "complete",
        "completed_by": "all_sources",
        "sources": sources,
        "branches": branches,
        "timed_out": [],
        "not_expanded": [],
        "truncated": [],
    }


def infer(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {"type": "object", "properties": {k: infer(v) for k, v in value.items()}}
    if isinstance(value, list):
        items = [infer(v) for v in value]
        return {"type": "array", "items": items[0] if items else {}}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    return {"type": "string"}


PAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "a Spring Page: the container after a paged containerParam",
    "required": ["content", "totalElements"],
    "properties": {
        "content": {"type": "array"},
        "totalElements": {"type": "integer"},
        "totalPages": {"type": "integer"},
        "number": {"type": "integer"},
        "size": {"type": "integer"},
        "numberOfElements": {"type": "integer"},
        "first": {"type": "boolean"},
        "last": {"type": "boolean"},
        "empty": {"type": "boolean"},
    },
}


def view_schema(profile: Profile) -> dict[str, Any]:
    answer = mock_answer(profile)
    if profile.transform is None:
        view: Any = {key: result["data"] for key, result in answer["sources"].items()}
    else:
        try:
            view = run_jq(profile.transform, answer).first()
        except ValueError:
            view = None
    schema: dict[str, Any] = infer(view) if isinstance(view, dict) else {"type": "object"}
    properties = schema.get("properties", {})
    for container_id, expression in profile.containers.items():
        # A container at a top-level key (.zaken) is described as such; deeper paths keep what was inferred.
        key = expression.strip().lstrip(".")
        if key in properties:
            items = properties[key].get("items", {}) if properties[key].get("type") == "array" else {}
            properties[key] = {
                "description": f"container {container_id!r}: a list, or a Spring Page after a paged containerParam",
                "oneOf": [{"type": "array", "items": items}, PAGE_SCHEMA],
            }
    return {
        "$schema": DIALECT,
        "title": f"IKO view: {profile.name}",
        "description": profile.description or profile.title,
        **schema,
    }
