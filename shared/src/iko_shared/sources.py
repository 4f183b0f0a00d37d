"""The one list of sources: each connector package declares its source under the ``iko.sources`` entry point group.

A connector's ``pyproject.toml`` names a ``SourceEntry`` in a small ``registry`` module of its own::

    [project.entry-points."iko.sources"]
    brp = "iko_brp_connector.registry:SOURCE"

The launcher, the sandbox, namespace teardown, the AsyncAPI tool and the tests read ``registered_sources()``
instead of naming the sources, so a fourth source is one more package. The ``registry`` modules import nothing
but this one: reading the registry must stay cheap (no HTTP client, no broker) for tooling that only needs names.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

ENTRY_POINT_GROUP = "iko.sources"


@dataclass(frozen=True, slots=True)
class SourceEntry:
    name: str
    # Run as ``python -m <connector_module>``.
    connector_module: str
    identifier_types: frozenset[str]
    operations: frozenset[str]
    # "module:Class" each, resolved by whoever builds the connector (importing them loads its HTTP client).
    settings_class: str
    # Called with an instance of settings_class.
    source_class: str
    # A package in the sandbox whose ``app`` module has ``create_app()``.
    simulator_module: str
    simulator_port: int


class SourceRegistryError(RuntimeError):
    pass


def _load(entry_point: EntryPoint) -> SourceEntry:
    where = f"entry point {entry_point.name!r} ({entry_point.value!r}) in group {ENTRY_POINT_GROUP!r}"
    try:
        loaded = entry_point.load()
    except Exception as exc:
        raise SourceRegistryError(f"{where} does not load: {exc}") from exc
    if not isinstance(loaded, SourceEntry):
        raise SourceRegistryError(f"{where} is a {type(loaded).__name__}, not a SourceEntry")
    if loaded.name != entry_point.name:
        raise SourceRegistryError(f"{where} declares source {loaded.name!r}; the entry point's name must match")
    return loaded


@functools.cache
def registered_sources() -> tuple[SourceEntry, ...]:
    """Every installed source, sorted by name; a broken entry raises ``SourceRegistryError`` naming it."""
    entries = [_load(ep) for ep in entry_points(group=ENTRY_POINT_GROUP)]
    names = [entry.name for entry in entries]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SourceRegistryError(f"sources registered more than once in {ENTRY_POINT_GROUP!r}: {duplicates}")
    return tuple(sorted(entries, key=lambda entry: entry.name))


def load_object(reference: str) -> Any:
    """The object a "module:attribute" reference (``SourceEntry.settings_class``, ``source_class``) names."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise SourceRegistryError(f'{reference!r} is no "module:attribute" reference')
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise SourceRegistryError(f"{reference!r} does not load: {exc}") from exc


def source_names() -> tuple[str, ...]:
    return tuple(entry.name for entry in registered_sources())


def source_entry(name: str) -> SourceEntry:
    """The registered source called ``name``; an unknown name raises ``SourceRegistryError`` listing the known ones."""
    for entry in registered_sources():
        if entry.name == name:
            return entry
    raise SourceRegistryError(f"unknown source {name!r}; registered: {', '.join(source_names()) or 'none'}")
