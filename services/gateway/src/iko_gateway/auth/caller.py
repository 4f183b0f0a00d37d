"""Who calls: the result of authentication, handed to authorisation and to the audit trail."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

CallerKind = Literal["jwt", "api_key", "dev"]


@dataclass(frozen=True)
class Caller:
    kind: CallerKind
    # The token's ``sub``, or the API key's client name.
    subject: str
    # The token's ``azp`` / ``client_id``, or the API key's client name; None when the token names none.
    client: str | None
    # The user to send on as ``x-gebruiker``.
    user: str
    roles: frozenset[str] = frozenset()
    # Dev mode: the caller has every role.
    all_roles: bool = False

    def has_any(self, roles: Iterable[str]) -> bool:
        """True when the caller has one of ``roles``; an empty requirement means any authenticated caller."""
        if self.all_roles:
            return True
        required = frozenset(roles)
        return not required or not required.isdisjoint(self.roles)

    @property
    def rate_key(self) -> str:
        """The identity a rate limit and the in-flight cap count against: one end user within one client.

        Per user, not per client: every user of a shared front end (Valtimo) carries the same ``azp``, so one
        busy user would otherwise exhaust everyone's limit. An API key's subject is its client name. The parts
        are escaped so that no client or subject containing ``:`` can share another caller's key.
        """
        return ":".join(_escaped(part) for part in (self.kind, self.client or "", self.subject))


def _escaped(part: str) -> str:
    return part.replace("%", "%25").replace(":", "%3A")
