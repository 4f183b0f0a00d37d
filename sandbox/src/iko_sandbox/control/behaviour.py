"""The behaviour a simulator shows to API callers, changed at run time through /__sandbox__."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Mode(StrEnum):
    OK = "ok"
    HANG = "hang"
    ERROR = "error"
    REFUSE = "refuse"
    # Answers that are not what the API promises, each a 200: a body that is not JSON, a page of HTML (a proxy's
    # error page), and JSON of the wrong shape (an array where the specification has an object).
    GARBAGE = "garbage"
    WRONG_TYPE = "wrong_type"
    BROKEN = "broken"


class Behaviour(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Mode = Mode.OK
    # An upper bound keeps a typo from freezing a test run for hours.
    latency_ms: int = Field(default=0, ge=0, le=600_000)


class BehaviourStore:
    """Per-process, in-memory: each simulator process has exactly one."""

    def __init__(self) -> None:
        self._current = Behaviour()

    @property
    def current(self) -> Behaviour:
        return self._current

    def set(self, behaviour: Behaviour) -> None:
        self._current = behaviour

    def reset(self) -> None:
        self._current = Behaviour()
