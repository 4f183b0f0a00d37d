"""From a profile to the self-describing request: root queries, the relation tree, the transform."""

from __future__ import annotations

from iko_shared.contracts import RelationPlan, SourceQuery, SubjectRule
from iko_shared.profiles.model import Profile, RelationSpec, SourceSpec


def queries_for(sources: dict[str, SourceSpec], allowed: set[str] | None = None) -> list[SourceQuery]:
    """One query per source; ``allowed`` (keys) leaves out sources the caller may not receive."""
    return [
        SourceQuery(
            key=key,
            source=spec.connector(key),
            operation=spec.operation,
            fields=spec.fields,
            params=spec.params,
            subjects=SubjectRule(type=spec.subjects.type, select=spec.subjects.select) if spec.subjects else None,
        )
        for key, spec in sources.items()
        if allowed is None or key in allowed
    ]


def relation_plans(relations: list[RelationSpec]) -> list[RelationPlan]:
    return [
        RelationPlan(
            name=relation.name,
            from_key=relation.from_,
            select=relation.select,
            identifier_type=relation.identifier,
            queries=queries_for(relation.sources),
            max_fanout=relation.max_fanout,
            relations=relation_plans(relation.relations),
        )
        for relation in relations
    ]


def lookup_plan(profile: Profile) -> tuple[list[SourceQuery], list[RelationPlan]]:
    return queries_for(profile.sources), relation_plans(profile.relations)
