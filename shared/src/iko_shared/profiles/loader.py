"""Reading profiles: one YAML file per profile, validated at start, errors naming the file, the line and the field."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from iko_shared.profiles.model import Profile


class ProfileError(ValueError):
    """Profiles that cannot be used; the message names each file, line and field."""


class ProfileCatalogue:
    """The profiles a deployment serves, by name."""

    def __init__(self, profiles: dict[str, Profile]) -> None:
        self._profiles = dict(profiles)

    def get(self, name: str) -> Profile | None:
        return self._profiles.get(name)

    def names(self) -> list[str]:
        return sorted(self._profiles)

    def connectors(self) -> list[str]:
        return sorted({c for p in self._profiles.values() for c in p.connectors()})

    def __iter__(self) -> Iterator[Profile]:
        return iter(self._profiles[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._profiles)


def _line_of(node: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """The line of the YAML node that a pydantic error location points at (or of its nearest parent)."""
    if node is None:
        return None
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1


def _describe(path: Path, text: str, exc: ValidationError) -> list[str]:
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        root = None
    problems = []
    for error in exc.errors():
        loc = [p for p in error["loc"] if p not in ("function-after",)]
        line = _line_of(root, loc)
        where = f"{path}:{line}" if line else str(path)
        field = ".".join(str(p) for p in loc) or "(profile)"
        problems.append(f"{where}: {field}: {error['msg']}")
    return problems


def load_profile(path: Path) -> Profile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc}") from exc
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ProfileError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}:1: a profile is a mapping of its settings")
    raw.setdefault("name", path.stem)
    if raw["name"] != path.stem:
        raise ProfileError(f"{path}:1: name: {raw['name']!r} must match the file name {path.stem!r}")
    try:
        return Profile.model_validate(raw)
    except ValidationError as exc:
        raise ProfileError("\n".join(_describe(path, text, exc))) from exc


def load_profiles(folder: Path) -> ProfileCatalogue:
    """Every ``*.yaml`` in the folder; all problems of all files are reported together."""
    if not folder.is_dir():
        raise ProfileError(f"{folder}: no such profiles folder")
    profiles: dict[str, Profile] = {}
    problems: list[str] = []
    for path in sorted(folder.glob("*.y*ml")):
        try:
            profile = load_profile(path)
        except ProfileError as exc:
            problems.append(str(exc))
            continue
        profiles[profile.name] = profile
    if problems:
        raise ProfileError("\n".join(problems))
    if not profiles:
        raise ProfileError(f"{folder}: no profiles (*.yaml) found")
    return ProfileCatalogue(profiles)


def main(argv: list[str] | None = None) -> int:
    """``python -m iko_shared.profiles [folder]``: validate without starting anything."""
    from iko_shared.settings import ProfileSettings

    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else ProfileSettings().profiles_dir
    try:
        catalogue = load_profiles(folder)
    except ProfileError as exc:
        print(f"profiles in {folder} are NOT valid:\n{exc}", file=sys.stderr)
        return 1
    for profile in catalogue:
        print(
            f"ok  {profile.name}: {len(profile.sources)} sources, {len(profile.relations)} relations, "
            f"{len(profile.searches)} search actions"
        )
    return 0
