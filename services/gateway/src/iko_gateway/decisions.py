"""The one place that decides what a call may do: from (caller, profile or endpoint, identifier, purpose,
parameters) to the request that may run. Plain code: no HTTP, no broker.

Every API goes through here — native lookups, searches and streams, the compatible views and the compatible
``/endpoints`` — so a rule holds everywhere or nowhere. Routes translate HTTP to these calls and back.

``/endpoints`` is served only as an operation that a profile the caller may use *exposes* for that source: as a
root source (for one identifier, of a type the profile takes) or as a search action. Relations are not exposed. An
exposure carries its profile's roles, the source's or action's roles and the profile's purposes; the caller's
grant is the union of the exposures it may use for the stated purpose, and a call is served when one of them
admits it whole. Caller parameters narrow an exposure, never widen it: fields within the granted fields, numbers
at most the granted ones, lists within the granted list, only the filters a search action declares, one
identifier where the action takes one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from iko_shared.contracts import Identifier, RelationPlan, RequestContext, SourceQuery
from iko_shared.identifiers import IDENTIFIER_TYPES, identifier_problem
from iko_shared.profiles import Profile, ProfileCatalogue, SearchAction

from iko_gateway.access import (
    DEV_PURPOSE,
    AccessDeniedError,
    Principal,
    may_use,
    plan_for,
    purpose_for,
    require_profile,
    serves,
)
from iko_gateway.filters import FilterInputError, paging_params, search_params, whole_number

# The purpose recorded for an inzage that states none: the data subject's request (AVG art. 15).
INZAGE_PURPOSE = "inzageverzoek"
# What ``/endpoints`` reads from the query string itself rather than as a source parameter.
FIELDS_PARAM = "fields"


class InvalidInputError(AccessDeniedError):
    """The call cannot be read: 422 on the native API, 400 on the compatible one."""

    def __init__(self, title: str, detail: str) -> None:
        super().__init__(422, title, detail)


@dataclass(frozen=True)
class Stated:
    """The purpose a call states (body first, else headers); empty when it states none."""

    doelbinding: str = ""
    verwerking: str = ""

    @classmethod
    def of(cls, doelbinding: str | None, verwerking: str | None, headers: Mapping[str, str]) -> Stated:
        return cls(
            (doelbinding or headers.get("x-doelbinding") or "").strip(),
            (verwerking or headers.get("x-verwerking") or "").strip(),
        )


@dataclass(frozen=True)
class Ask:
    """One request to send: what to ask, for how long, on whose behalf."""

    profile: str
    identifier: Identifier | None
    queries: list[SourceQuery]
    timeout_ms: int
    relations: list[RelationPlan]
    transform: str | None = None
    context: RequestContext = field(default_factory=RequestContext)


@dataclass(frozen=True)
class SearchPlan:
    profile: Profile
    action_key: str
    action: SearchAction
    ask: Ask


@dataclass(frozen=True)
class Exposure:
    """One way a profile opens a source operation to ``/endpoints``."""

    profile: Profile
    kind: Literal["source", "search"]
    # The source's key in the profile, or the search action's key.
    key: str
    roles: tuple[str, ...]
    fields: tuple[str, ...]
    params: Mapping[str, Any]
    action: SearchAction | None = None


@dataclass(frozen=True)
class EndpointPlan:
    ask: Ask
    operation: str
    identifier: Identifier | None
    params: dict[str, Any]
    # The exposure that admitted the call: for a search, its rows name the persons or companies disclosed.
    exposure: Exposure


def caller_token(caller: Any) -> str:
    """An opaque, stable token of the caller (client and end user) for the connectors' fairness rules."""
    raw = f"{caller.kind}:{caller.client or ''}:{caller.subject}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _context(stated: Stated, profile: Profile, caller: Principal, dev_mode: bool) -> RequestContext:
    context = purpose_for(profile, caller, stated.doelbinding, stated.verwerking, dev_mode)
    return context.model_copy(update={"caller": caller_token(caller)})


def field_within(requested: str, granted: Iterable[str]) -> bool:
    """``naam.voornamen`` is within ``naam``; ``partners`` is not within ``partners.naam``."""
    return any(requested == g or requested.startswith(g + ".") for g in granted)


class AccessDecider:
    def __init__(
        self,
        profiles: ProfileCatalogue,
        *,
        dev_mode: bool,
        compat_doelbinding: str = "",
        compat_verwerking: str = "",
        compat_timeout_ms: int = 5000,
        inzage_roles: tuple[str, ...] = ("iko-privacy",),
        portal_roles: tuple[str, ...] = ("iko-portaal",),
    ) -> None:
        self.profiles = profiles
        # Never empty-means-everyone here: the audit trail is only for the roles named.
        self.inzage_roles = inzage_roles
        self.portal_roles = portal_roles
        self.dev_mode = dev_mode
        self.compat_doelbinding = compat_doelbinding
        self.compat_verwerking = compat_verwerking
        self.compat_timeout_ms = compat_timeout_ms

    # --- profiles -----------------------------------------------------------------------------------------

    def visible(self, caller: Principal) -> list[Profile]:
        return [p for p in self.profiles if may_use(p, caller)]

    def profile(self, caller: Principal, name: str, *, unknown: str | None = None) -> Profile:
        """The profile, when it exists (404) and the caller may use it (403)."""
        found = self.profiles.get(name)
        if found is None:
            raise AccessDeniedError(404, "Unknown profile", unknown or f"there is no profile {name!r}")
        require_profile(found, caller)
        return found

    # --- lookups ------------------------------------------------------------------------------------------

    def lookup(
        self, caller: Principal, name: str, identifier: Identifier, timeout_ms: int | None, stated: Stated
    ) -> Ask:
        profile = self.profile(caller, name)
        if identifier.type not in profile.identifiers:
            raise InvalidInputError(
                "Wrong identifier type",
                f"profile {name!r} looks up by {', '.join(profile.identifiers)}, not {identifier.type}",
            )
        why = identifier_problem(identifier.type, identifier.value)
        if why is not None:
            raise InvalidInputError("Malformed identifier", why)
        return self._profile_ask(
            profile, caller, identifier, timeout_ms, _context(stated, profile, caller, self.dev_mode)
        )

    def view(self, caller: Principal, name: str, raw_id: str | None, stated: Stated) -> tuple[Profile, Ask]:
        """The compatible ``/aggregated-data-profiles`` call: the profile's lookup for its first identifier type,
        with the deployment's default purpose when the call states none (Valtimo sends none)."""
        found = self.profiles.get(name)
        if found is None:
            raise AccessDeniedError(404, "Unknown profile", f"ADP with name: {name} was not found")
        kind = found.identifiers[0]
        if not raw_id:
            raise InvalidInputError("Unreadable id", "Query parameter(s) [id] could not be parsed: the id is missing")
        why = identifier_problem(kind, raw_id)
        if why is not None:
            raise InvalidInputError("Unreadable id", f"Query parameter(s) [id] could not be parsed: {why}")
        require_profile(found, caller)
        context = _context(self._compat(stated), found, caller, self.dev_mode)
        # Valtimo sets no timeout: the profile's default applies.
        return found, self._profile_ask(found, caller, Identifier(type=kind, value=raw_id), None, context)

    def _profile_ask(
        self,
        profile: Profile,
        caller: Principal,
        identifier: Identifier,
        timeout_ms: int | None,
        context: RequestContext,
    ) -> Ask:
        plan = plan_for(profile, caller)
        return Ask(
            profile=profile.name,
            identifier=identifier,
            queries=plan.queries,
            timeout_ms=profile.timeout.effective_ms(timeout_ms),
            relations=plan.relations,
            transform=profile.transform,
            context=context,
        )

    # --- searches -----------------------------------------------------------------------------------------

    def search(
        self,
        caller: Principal,
        name: str,
        action_key: str,
        filters: dict[str, str | int | bool],
        page: int,
        page_size: int,
        timeout_ms: int | None,
        stated: Stated,
    ) -> SearchPlan:
        profile = self.profile(caller, name)
        action = profile.searches.get(action_key)
        if action is None:
            raise AccessDeniedError(404, "Unknown search action", f"profile {name!r} has no action {action_key!r}")
        if not caller.has_any(action.roles):
            raise AccessDeniedError(403, "Forbidden", "you may not run this search")
        context = _context(stated, profile, caller, self.dev_mode)
        try:
            params = {**search_params(action, filters), **paging_params(action, page, page_size)}
        except FilterInputError as exc:
            raise InvalidInputError("Invalid filters", str(exc)) from None
        query = SourceQuery(
            key="search", source=action.source, operation=action.operation, fields=action.fields, params=params
        )
        ask = Ask(
            profile=profile.name,
            identifier=None,
            queries=[query],
            timeout_ms=profile.timeout.effective_ms(timeout_ms),
            relations=[],
            context=context,
        )
        return SearchPlan(profile, action_key, action, ask)

    # --- inzage -------------------------------------------------------------------------------------------

    def inzage(self, caller: Principal, identifier: Identifier, stated: Stated, *, citizen: bool) -> RequestContext:
        """Who may read the audit trail of one data subject: the inzage roles (the citizen's form also to the
        portal roles), for a valid identifier; the purpose defaults to the inzage request itself."""
        roles = self.inzage_roles + (self.portal_roles if citizen else ())
        if not roles or not caller.has_any(roles):
            raise AccessDeniedError(403, "Forbidden", "you may not read the audit trail")
        why = identifier_problem(identifier.type, identifier.value)
        if why is not None:
            raise InvalidInputError("Malformed identifier", why)
        return RequestContext(
            doelbinding=stated.doelbinding or INZAGE_PURPOSE,
            verwerking=stated.verwerking or ("Inzage burger" if citizen else "Inzage privacy officer"),
            gebruiker=caller.user,
            caller=caller_token(caller),
        )

    # --- the compatible /endpoints ------------------------------------------------------------------------

    def exposures(self, connector: str, operation: str) -> list[Exposure]:
        """Every exposure of this operation in the catalogue, whoever may use it."""
        found: list[Exposure] = []
        for profile in self.profiles:
            for key, spec in profile.sources.items():
                if spec.connector(key) == connector and spec.operation == operation:
                    found.append(Exposure(profile, "source", key, tuple(spec.roles), tuple(spec.fields), spec.params))
            for key, action in profile.searches.items():
                if action.source == connector and action.operation == operation:
                    found.append(
                        Exposure(
                            profile, "search", key, tuple(action.roles), tuple(action.fields), action.params, action
                        )
                    )
        return found

    def endpoint(
        self,
        caller: Principal,
        connector: str,
        operation: str,
        raw_id: str | None,
        query: Sequence[tuple[str, str]],
        stated: Stated,
    ) -> EndpointPlan:
        if connector not in self.profiles.connectors():
            raise AccessDeniedError(404, "Unknown connector", f"Connector with name: {connector}, not found")
        values = _grouped(query)
        requested_fields = _fields(values.pop(FIELDS_PARAM, None))
        # Valtimo names the BRP query type in a parameter (its own example: type=ZoekMet...); it wins over the path.
        if connector == "brp" and "type" in values:
            operation = _single("type", values.pop("type"))
        kind = "source" if raw_id is not None else "search"
        every = self.exposures(connector, operation)
        candidates = [e for e in every if e.kind == kind]
        if not candidates:
            how = "for one identifier" if raw_id is not None else "as a search"
            raise AccessDeniedError(404, "Unknown operation", f"{connector} serves no operation {operation!r} {how}")
        usable = [e for e in candidates if may_use(e.profile, caller) and caller.has_any(e.roles)]
        if not usable:
            raise AccessDeniedError(403, "Forbidden", "you may not receive data of this source")
        resolved = self._compat(stated)
        if not resolved.doelbinding:
            raise AccessDeniedError(
                422, "Purpose required", "state the purpose (doelbinding) in the x-doelbinding header"
            )
        served = [e for e in usable if self._serves(e.profile, resolved.doelbinding)]
        if not served:
            raise AccessDeniedError(403, "Purpose not served", "no profile you may use serves the stated purpose")
        refusals: list[AccessDeniedError] = []
        for exposure in served:
            try:
                return self._admit(exposure, caller, connector, operation, raw_id, values, requested_fields, resolved)
            except AccessDeniedError as exc:
                refusals.append(exc)
        # An exposure that took every parameter but found a value unreadable says most precisely what is wrong.
        unreadable = [r for r in refusals if isinstance(r, InvalidInputError)]
        raise (unreadable or refusals)[0]

    def _admit(
        self,
        exposure: Exposure,
        caller: Principal,
        connector: str,
        operation: str,
        raw_id: str | None,
        values: dict[str, list[str]],
        requested_fields: list[str] | None,
        stated: Stated,
    ) -> EndpointPlan:
        identifier: Identifier | None = None
        if exposure.kind == "source":
            assert raw_id is not None
            identifier = _identifier_for(exposure.profile, connector, raw_id)
            params = _narrowed(exposure.params, values)
        else:
            assert exposure.action is not None
            params = _search_params(exposure.action, values)
        fields = _granted_fields(exposure, requested_fields)
        context = _context(stated, exposure.profile, caller, self.dev_mode)
        ask = Ask(
            profile=f"endpoint:{connector}",
            identifier=identifier,
            queries=[SourceQuery(key=connector, source=connector, operation=operation, fields=fields, params=params)],
            timeout_ms=self.compat_timeout_ms,
            relations=[],
            context=context,
        )
        return EndpointPlan(ask, operation, identifier, params, exposure)

    # --- purposes -----------------------------------------------------------------------------------------

    def _compat(self, stated: Stated) -> Stated:
        """The compatible API's purpose: the header when a proxy adds one, else the deployment's default, else
        (development mode only) ``demo``."""
        default = self.compat_doelbinding or (DEV_PURPOSE if self.dev_mode else "")
        return Stated(stated.doelbinding or default, stated.verwerking or self.compat_verwerking)

    def _serves(self, profile: Profile, purpose: str) -> bool:
        return serves(profile, purpose, self.dev_mode)


# --- /endpoints parameters ---------------------------------------------------------------------------------


def _grouped(query: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """The query string by name, empty values left out (a form that sends ``naam=`` means no filter)."""
    grouped: dict[str, list[str]] = {}
    for name, value in query:
        if value.strip() == "":
            continue
        grouped.setdefault(name, []).append(value)
    return grouped


def _single(name: str, values: list[str]) -> str:
    if len(values) != 1:
        raise InvalidInputError("Unreadable parameters", f"Query parameter(s) [{name}] could not be parsed: one value")
    return values[0].strip()


def _fields(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _identifier_for(profile: Profile, connector: str, raw_id: str) -> Identifier:
    """The detail's id as an identifier of a type the profile takes (403 when it is another valid type)."""
    for kind in profile.identifiers:
        if identifier_problem(kind, raw_id) is None:
            return Identifier(type=kind, value=raw_id)
    valid_elsewhere = [k for k in IDENTIFIER_TYPES if identifier_problem(k, raw_id) is None]
    if valid_elsewhere:
        raise AccessDeniedError(403, "Forbidden", f"you may not look up a {valid_elsewhere[0]} through {connector}")
    raise InvalidInputError(
        "Unreadable id",
        f"Query parameter(s) [id] could not be parsed: {connector} looks up by {', '.join(profile.identifiers)}",
    )


def _narrowed(granted: Mapping[str, Any], values: dict[str, list[str]]) -> dict[str, Any]:
    """The granted params, narrowed by the caller's: a list to a subset, a number to at most it."""
    params = dict(granted)
    for name, raw in values.items():
        if name not in granted:
            raise AccessDeniedError(403, "Not granted", f"parameter {name!r} is not granted for this operation")
        allowed = granted[name]
        if isinstance(allowed, list):
            asked = [part.strip() for value in raw for part in value.split(",") if part.strip()]
            beyond = [v for v in asked if v not in [str(a) for a in allowed]]
            if beyond:
                raise AccessDeniedError(403, "Not granted", f"parameter {name!r}: {beyond} not granted")
            params[name] = [a for a in allowed if str(a) in asked]
        elif isinstance(allowed, bool):
            if _single(name, raw).lower() != str(allowed).lower():
                raise AccessDeniedError(403, "Not granted", f"parameter {name!r} is fixed for this operation")
        elif isinstance(allowed, int):
            try:
                number = whole_number(name, _single(name, raw), 0, allowed)
            except FilterInputError as exc:
                raise InvalidInputError("Unreadable parameters", f"Query parameter(s) {exc}") from None
            params[name] = number
        elif _single(name, raw) != str(allowed):
            raise AccessDeniedError(403, "Not granted", f"parameter {name!r} is fixed for this operation")
    return params


def _search_params(action: SearchAction, values: dict[str, list[str]]) -> dict[str, Any]:
    paging = {action.page_param, action.page_size_param} if action.paging == "source" else set()
    filters: dict[str, str | int | bool] = {}
    for name, raw in values.items():
        if name not in action.filters and name not in paging:
            raise AccessDeniedError(
                403, "Not granted", f"{name!r} is not a filter of this search; it takes {sorted(action.filters)}"
            )
        value = _single(name, raw)
        spec = action.filters.get(name)
        if spec is not None and spec.as_list and "," in value:
            raise InvalidInputError("Unreadable parameters", f"Query parameter(s) [{name}]: one value is taken")
        filters[name] = value
    try:
        page = whole_number(action.page_param, filters.pop(action.page_param, 1)) if paging else 1
        size = whole_number(action.page_size_param, filters.pop(action.page_size_param, 20)) if paging else 20
        return {**search_params(action, filters), **paging_params(action, page, size)}
    except FilterInputError as exc:
        raise InvalidInputError("Unreadable parameters", f"Query parameter(s) could not be parsed: {exc}") from None


def _granted_fields(exposure: Exposure, requested: list[str] | None) -> list[str]:
    if requested is None:
        return list(exposure.fields)
    if not exposure.fields:
        raise AccessDeniedError(403, "Not granted", "this operation takes no field selection")
    beyond = [f for f in requested if not field_within(f, exposure.fields)]
    if beyond:
        raise AccessDeniedError(403, "Not granted", f"fields not granted: {', '.join(beyond)}")
    return list(dict.fromkeys(requested))
