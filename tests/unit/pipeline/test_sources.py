"""The source registry: what the connector packages declare under ``iko.sources``, and a broken entry's error."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from importlib.metadata import EntryPoint

import pytest
from iko_shared import sources
from iko_shared.sources import (
    SourceEntry,
    SourceRegistryError,
    load_object,
    registered_sources,
    source_entry,
    source_names,
)


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    registered_sources.cache_clear()
    yield
    registered_sources.cache_clear()


def _entry_points(*values: tuple[str, str]) -> list[EntryPoint]:
    return [EntryPoint(name=name, value=value, group=sources.ENTRY_POINT_GROUP) for name, value in values]


def _installed_names() -> list[str]:
    """The names the installed distributions declare under ``iko.sources``, read without the registry."""
    return sorted({ep.name for ep in metadata.entry_points(group=sources.ENTRY_POINT_GROUP)})


def test_the_installed_sources_are_registered_sorted_by_name() -> None:
    names = source_names()
    assert list(names) == _installed_names()
    assert {"brp", "kvk", "zgw"} <= set(names)
    ports = [entry.simulator_port for entry in registered_sources()]
    assert len(set(ports)) == len(ports), "every simulator has its own port"
    assert {source_entry(n).simulator_port for n in ("brp", "kvk", "zgw")} == {8101, 8102, 8103}


@pytest.mark.parametrize("name", _installed_names())
def test_an_entry_agrees_with_its_connector(name: str) -> None:
    entry = source_entry(name)
    settings_class = load_object(entry.settings_class)
    source = load_object(entry.source_class)(settings_class())

    assert importlib.util.find_spec(f"{entry.connector_module}.__main__") is not None
    assert source.name == name
    assert source.operations() == entry.operations
    assert callable(importlib.import_module(f"{entry.simulator_module}.app").create_app)
    assert entry.identifier_types
    assert all(isinstance(kind, str) for kind in entry.identifier_types)


def test_reading_the_registry_loads_no_client_nor_broker() -> None:
    # A fresh interpreter: this one has long imported the connectors for other tests.
    probe = (
        "import sys; from iko_shared.sources import registered_sources; registered_sources(); "
        "print(sorted(m for m in ('httpx', 'aio_pika', 'faststream', 'redis', 'pydantic_settings') "
        "if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


def test_an_unknown_source_names_the_registered_ones() -> None:
    registered = ", ".join(source_names())
    with pytest.raises(SourceRegistryError, match=f"unknown source 'nope'; registered: {registered}$"):
        source_entry("nope")


def test_an_entry_that_does_not_load_is_named(monkeypatch: pytest.MonkeyPatch, fresh_registry: None) -> None:
    broken = _entry_points(("brp", "iko_brp_connector.registry:SOURCE"), ("nope", "iko_nope_connector.registry:SOURCE"))
    monkeypatch.setattr(sources, "entry_points", lambda group: broken)

    with pytest.raises(SourceRegistryError, match=r"entry point 'nope' \('iko_nope_connector.registry:SOURCE'\)"):
        registered_sources()


def test_an_entry_that_is_no_source_entry_is_named(monkeypatch: pytest.MonkeyPatch, fresh_registry: None) -> None:
    monkeypatch.setattr(sources, "entry_points", lambda group: _entry_points(("odd", "iko_shared.sources:SourceEntry")))

    with pytest.raises(SourceRegistryError, match=r"'odd'.* is a type, not a SourceEntry"):
        registered_sources()


def test_an_entry_under_another_name_is_refused(monkeypatch: pytest.MonkeyPatch, fresh_registry: None) -> None:
    monkeypatch.setattr(
        sources, "entry_points", lambda group: _entry_points(("bsn", "iko_brp_connector.registry:SOURCE"))
    )

    with pytest.raises(SourceRegistryError, match=r"'bsn'.* declares source 'brp'"):
        registered_sources()


def test_a_source_registered_twice_is_refused(monkeypatch: pytest.MonkeyPatch, fresh_registry: None) -> None:
    twice = _entry_points(("brp", "iko_brp_connector.registry:SOURCE"), ("brp", "iko_brp_connector.registry:SOURCE"))
    monkeypatch.setattr(sources, "entry_points", lambda group: twice)

    with pytest.raises(SourceRegistryError, match=r"more than once .*\['brp'\]"):
        registered_sources()


def test_a_reference_that_does_not_load_is_named() -> None:
    with pytest.raises(SourceRegistryError, match=r"'iko_brp_connector\.source:Nope' does not load"):
        load_object("iko_brp_connector.source:Nope")
    with pytest.raises(SourceRegistryError, match='no "module:attribute" reference'):
        load_object("iko_brp_connector.source")


def test_entries_are_frozen() -> None:
    entry = source_entry("kvk")
    with pytest.raises(AttributeError):
        entry.name = "other"  # type: ignore[misc]
    assert isinstance(entry, SourceEntry)
