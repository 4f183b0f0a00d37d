"""The JSON Schema of a profile's lookup answer, derived from its sources, their fields and its relations."""

from __future__ import annotations

from typing import Any

from iko_shared.profiles import Profile, RelationSpec, SourceSpec

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def fields_schema(fields: list[str]) -> dict[str, Any]:
    """An object schema with one (nested) property per field path; what a field holds is the source's business."""
    if not fields:
        return {"description": "the source's answer as it is"}
    root: dict[str, Any] = {}
    for path in fields:
        node = root
        parts = path.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            node = child if isinstance(child, dict) else node
        node.setdefault(parts[-1], {})

    def to_schema(tree: dict[str, Any]) -> dict[str, Any]:
        properties = {name: (to_schema(sub) if sub else {}) for name, sub in tree.items()}
        return {"type": ["object", "array"], "properties": properties}

    return to_schema(root)


def source_result_schema(key: str, spec: SourceSpec) -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"{key}: {spec.connector(key)} {spec.operation}",
        "required": ["source", "status"],
        "properties": {
            "source": {"const": spec.connector(key)},
            "status": {"enum": ["ok", "not_found", "error", "timeout"]},
            "retrieved_at": {"type": ["string", "null"], "format": "date-time"},
            "duration_ms": {"type": ["number", "null"]},
            "data": fields_schema(spec.fields),
            "error": {
                "type": ["object", "null"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}},
            },
        },
    }


def _branch_patterns(relations: list[RelationSpec], prefix: str = "") -> dict[str, Any]:
    patterns: dict[str, Any] = {}
    for relation in relations:
        branch = rf"{prefix}{relation.name}\[\d+\]\."
        for key, spec in relation.sources.items():
            patterns[f"^{branch}{key}$"] = source_result_schema(key, spec)
        patterns.update(_branch_patterns(relation.relations, branch))
    return patterns


def answer_schema(profile: Profile) -> dict[str, Any]:
    return {
        "$schema": DIALECT,
        "title": f"IKO lookup answer: {profile.name}",
        "description": profile.description or profile.title,
        "type": "object",
        "required": ["request_id", "profile", "status", "completed_by", "sources"],
        "properties": {
            "request_id": {"type": "string"},
            "profile": {"const": profile.name},
            "identifier": {
                "type": ["object", "null"],
                "properties": {"type": {"enum": list(profile.identifiers)}, "value": {"type": "string"}},
            },
            "status": {"enum": ["complete", "partial"]},
            "completed_by": {"enum": ["all_sources", "deadline"]},
            "requested_at": {"type": "number"},
            "completed_at": {"type": "number"},
            "sources": {
                "type": "object",
                "properties": {key: source_result_schema(key, spec) for key, spec in profile.sources.items()},
                "patternProperties": _branch_patterns(profile.relations),
                "additionalProperties": False,
            },
            "branches": {
                "type": "object",
                "description": "relation instances by branch prefix, e.g. partners[0]",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "relation": {"enum": [r.name for r in profile.relations] or [None]},
                        "parent": {"type": "string"},
                        "identifier": {"type": "object"},
                        "keys": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
            "timed_out": {"type": "array", "items": {"type": "string"}},
            "not_expanded": {"type": "array", "items": {"type": "string"}},
            "truncated": {"type": "array", "items": {"type": "string"}},
            "view": {"description": "the profile's transform over this answer" if profile.transform else "data by key"},
        },
    }
