"""What callers send that the message contracts also carry, held to the API's stricter rule."""

from __future__ import annotations

from iko_shared.contracts import Identifier
from pydantic import ConfigDict


class IdentifierInput(Identifier):
    """A caller's identifier: unknown keys are refused. Messages between services ignore fields they do not know
    (rolling upgrades); a caller's typo must not pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)
