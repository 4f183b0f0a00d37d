"""Relations: from one arrived fragment to the follow-up lookups it starts. Pure functions, no broker, no Redis.

Keys name a fragment's place in the relation tree: ``brp`` is a root source, ``partners[0].zgw`` the zgw
query of the first partner, ``partners[0].kinderen[2].brp`` deeper still. A relation rooted at key ``k`` of a
branch runs when the fragment at ``k`` arrives: its jq selection picks identifiers, each becomes a branch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from iko_shared.contracts import Identifier, RelationPlan, SourceQuery
from iko_shared.identifiers import identifier_problem
from iko_shared.profiles import run_jq

from iko_assembler.store import ChildQuery, dedup_token

_SEGMENT = re.compile(r"^(?P<name>[a-z][a-z0-9_-]*)\[(?P<index>\d+)\]$")


@dataclass(frozen=True)
class FollowUp:
    """One branch: the identifier it follows and the queries to ask for it (full keys)."""

    branch: str
    identifier: Identifier
    queries: list[SourceQuery]


@dataclass
class Expansion:
    children: list[ChildQuery] = field(default_factory=list)
    branches: dict[str, dict[str, Any]] = field(default_factory=dict)
    truncated: list[str] = field(default_factory=list)
    followups: list[FollowUp] = field(default_factory=list)
    # Selected values that were no valid identifier (skipped, never asked).
    rejected: int = 0


def split_key(key: str) -> tuple[list[str], str]:
    """``partners[0].brp`` -> (["partners[0]"], "brp")."""
    *segments, local = key.split(".")
    return segments, local


def plans_at(plans: list[RelationPlan], segments: list[str]) -> list[RelationPlan]:
    """The relations defined inside the branch that ``segments`` names."""
    current = plans
    for segment in segments:
        match = _SEGMENT.match(segment)
        if match is None:
            return []
        found = next((p for p in current if p.name == match["name"]), None)
        if found is None:
            return []
        current = found.relations
    return current


def starts_relations(relations: list[RelationPlan], key: str) -> bool:
    """Whether the fragment at ``key`` starts relations of the request (``relations``: its whole tree)."""
    segments, local = split_key(key)
    return any(plan.from_key == local for plan in plans_at(relations, segments))


def expanding_keys(plans: list[RelationPlan], local_keys: list[str]) -> set[str]:
    """The local keys at one level that start relations."""
    return {plan.from_key for plan in plans} & set(local_keys)


def _selected(select: str, data: Any) -> list[str]:
    values: list[str] = []
    for value in run_jq(select, data).all():
        if isinstance(value, str | int) and not isinstance(value, bool):
            text = str(value)
            if text not in values:
                values.append(text)
    return values


def expand(relations: list[RelationPlan], parent_key: str, fragment: dict[str, Any]) -> Expansion:
    """The follow-ups of the fragment at ``parent_key`` (``relations``: the request's whole relation tree)."""
    segments, local = split_key(parent_key)
    scope = "".join(f"{s}." for s in segments)
    result = Expansion()
    if fragment.get("status") != "ok":
        return result
    for plan in plans_at(relations, segments):
        if plan.from_key != local:
            continue
        values = _selected(plan.select, fragment.get("data"))
        valid = [v for v in values if identifier_problem(plan.identifier_type, v) is None]
        result.rejected += len(values) - len(valid)
        if len(valid) > plan.max_fanout:
            result.truncated.append(f"{scope}{plan.name}: {len(valid)} selected, {plan.max_fanout} followed")
            valid = valid[: plan.max_fanout]
        nested_from = expanding_keys(plan.relations, [q.key for q in plan.queries])
        for index, value in enumerate(valid):
            branch = f"{scope}{plan.name}[{index}]"
            identifier = Identifier(type=plan.identifier_type, value=value)
            queries = [
                q.model_copy(update={"key": f"{branch}.{q.key}", "identifier": identifier}) for q in plan.queries
            ]
            result.branches[branch] = {
                "relation": plan.name,
                "parent": parent_key,
                "identifier": identifier.model_dump(),
                "keys": [q.key for q in queries],
            }
            for template, query in zip(plan.queries, queries, strict=True):
                result.children.append(
                    ChildQuery(
                        key=query.key,
                        descriptor={"source": query.source, "relation": plan.name, "branch": branch},
                        dedup_token=dedup_token(query.source, query.operation, identifier),
                        expanding=template.key in nested_from,
                    )
                )
            result.followups.append(FollowUp(branch, identifier, queries))
    return result
