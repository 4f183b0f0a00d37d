"""Profiles: for one task, which sources are asked, with which operation and fields, and how long to wait.

Plain data and rules, no I/O beyond reading the YAML file: the gateway evaluates them, nothing else needs to.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from iko_shared.contracts import Identifier, SourceQuery
from iko_shared.identifiers import IdentifierType


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names the file and the field."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeoutPolicy(Strict):
    default_ms: int = Field(1500, gt=0)
    max_ms: int = Field(5000, gt=0)

    @model_validator(mode="after")
    def _default_within_max(self) -> TimeoutPolicy:
        if self.default_ms > self.max_ms:
            raise ValueError(f"default_ms ({self.default_ms}) exceeds max_ms ({self.max_ms})")
        return self

    def effective_ms(self, requested_ms: int | None) -> int:
        """The caller may ask for less or more than the default, never more than the maximum."""
        if requested_ms is None:
            return self.default_ms
        return min(requested_ms, self.max_ms)


class SourceSpec(Strict):
    """What one source is asked within a profile."""

    operation: str
    fields: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)


class Profile(Strict):
    name: str
    title: str = ""
    identifier: IdentifierType
    timeout: TimeoutPolicy = TimeoutPolicy()
    sources: dict[str, SourceSpec] = Field(min_length=1)

    def queries(self, identifier: Identifier) -> list[SourceQuery]:
        del identifier  # every source of a profile takes the request's identifier for now
        return [
            SourceQuery(key=name, source=name, operation=spec.operation, fields=spec.fields, params=spec.params)
            for name, spec in self.sources.items()
        ]


class ProfileCatalogue:
    """The profiles a deployment serves, by name."""

    def __init__(self, profiles: Mapping[str, Profile]) -> None:
        self._profiles = dict(profiles)

    def get(self, name: str) -> Profile | None:
        return self._profiles.get(name)

    def names(self) -> list[str]:
        return sorted(self._profiles)

    def sources(self) -> list[str]:
        return sorted({s for p in self._profiles.values() for s in p.sources})

    def __iter__(self) -> Any:
        return iter(self._profiles.values())


def load_profiles(path: Path) -> ProfileCatalogue:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read profiles file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("profiles"), dict):
        raise ProfileError(f"{path}: expected a mapping with a 'profiles' mapping at the top")
    profiles: dict[str, Profile] = {}
    for name, body in raw["profiles"].items():
        if not isinstance(body, dict):
            raise ProfileError(f"{path}: profile {name!r} must be a mapping")
        try:
            profiles[name] = Profile.model_validate({"name": name, **body})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
            raise ProfileError(f"{path}: profile {name!r}: {problems}") from exc
    return ProfileCatalogue(profiles)
