"""Who may see what, and why: profile and source roles, and purpose binding. Plain rules, no HTTP.

A profile lists the roles that may use it and the purposes (doelbinding) it serves; a source within it may list
the roles that may receive its data. A caller gets only the sources it may receive: the others are never asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from iko_shared.contracts import RelationPlan, RequestContext, SourceQuery
from iko_shared.profiles import Profile, RelationSpec, SourceSpec, queries_for

# Accepted by every profile, in development mode only (make up / make demo switch it on).
DEV_PURPOSE = "demo"


class Principal(Protocol):
    @property
    def user(self) -> str: ...

    @property
    def all_roles(self) -> bool: ...

    def has_any(self, roles: Iterable[str]) -> bool: ...


class AccessDeniedError(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


def may_use(profile: Profile, caller: Principal) -> bool:
    return caller.has_any(profile.roles)


def may_receive(spec: SourceSpec, caller: Principal) -> bool:
    return caller.has_any(spec.roles)


def _allowed(sources: dict[str, SourceSpec], caller: Principal) -> set[str]:
    return {key for key, spec in sources.items() if may_receive(spec, caller)}


def _relations_for(relations: list[RelationSpec], allowed_from: set[str], caller: Principal) -> list[RelationPlan]:
    plans = []
    for relation in relations:
        if relation.from_ not in allowed_from:
            continue
        allowed = _allowed(relation.sources, caller)
        if not allowed:
            continue
        plans.append(
            RelationPlan(
                name=relation.name,
                from_key=relation.from_,
                select=relation.select,
                identifier_type=relation.identifier,
                queries=queries_for(relation.sources, allowed),
                max_fanout=relation.max_fanout,
                relations=_relations_for(relation.relations, allowed, caller),
            )
        )
    return plans


@dataclass(frozen=True)
class Plan:
    queries: list[SourceQuery]
    relations: list[RelationPlan]
    withheld: list[str]


def plan_for(profile: Profile, caller: Principal) -> Plan:
    """The profile's queries and relations, less every source the caller may not receive."""
    allowed = _allowed(profile.sources, caller)
    if not allowed:
        raise AccessDeniedError(403, "Forbidden", "no source of this profile may be disclosed to you")
    return Plan(
        queries=queries_for(profile.sources, allowed),
        relations=_relations_for(profile.relations, allowed, caller),
        withheld=sorted(set(profile.sources) - allowed),
    )


def require_profile(profile: Profile, caller: Principal) -> None:
    if not may_use(profile, caller):
        raise AccessDeniedError(403, "Forbidden", "you may not use this profile")


def serves(profile: Profile, purpose: str, dev_mode: bool) -> bool:
    """Whether the profile serves the purpose (``demo`` is served by every profile in development mode only)."""
    return purpose in profile.purposes or (dev_mode and purpose == DEV_PURPOSE)


def purpose_for(
    profile: Profile, caller: Principal, doelbinding: str, verwerking: str, dev_mode: bool
) -> RequestContext:
    """The request's context for a purpose the call stated (``decisions.Stated``): 422 without one, 403 for one
    the profile does not serve."""
    purpose, processing = doelbinding.strip(), verwerking.strip()
    if not purpose:
        raise AccessDeniedError(
            422, "Purpose required", "state the purpose (doelbinding) in the body or the x-doelbinding header"
        )
    if not serves(profile, purpose, dev_mode):
        raise AccessDeniedError(403, "Purpose not served", "this profile does not serve the stated purpose")
    return RequestContext(
        doelbinding=purpose,
        verwerking=processing or f"IKO {profile.name}",
        gebruiker=caller.user,
    )
