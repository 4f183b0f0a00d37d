"""scripts/demo.py's judgement of a combined view, and where it finds the stack."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))

import demo

GOOD: dict[str, Any] = {
    "request_id": "r1",
    "profile": "persoon",
    "identifier": {"type": "bsn", "value": "999993653"},
    "status": "complete",
    "completed_by": "all_sources",
    "sources": {"brp": {"status": "ok", "data": {}}, "zgw": {"status": "ok", "data": {}}},
}


def test_a_complete_view_with_every_source_ok_passes() -> None:
    assert demo.problems_with_view(GOOD, "persoon", expect_complete=True) == []


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        (("status",), "partial", "status is 'partial'"),
        (("completed_by",), "deadline", "completed_by is 'deadline'"),
        (("sources", "zgw", "status"), "error", "source zgw has status 'error'"),
        (("profile",), "bedrijf", "profile is 'bedrijf'"),
        (("sources",), {}, "no sources"),
    ],
)
def test_anything_less_is_reported(path: tuple[str, ...], value: Any, complaint: str) -> None:
    view = copy.deepcopy(GOOD)
    target = view
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    problems = demo.problems_with_view(view, "persoon", expect_complete=True)
    assert any(complaint in p for p in problems), problems


def test_the_deadline_view_must_be_partial_with_brp_timed_out() -> None:
    view = copy.deepcopy(GOOD)
    assert demo.problems_with_view(view, "persoon", expect_complete=False) != []
    view.update(status="partial", completed_by="deadline")
    view["sources"]["brp"]["status"] = "timeout"
    assert demo.problems_with_view(view, "persoon", expect_complete=False) == []


def test_not_a_view_at_all() -> None:
    assert demo.problems_with_view({"http_status": 503}, "persoon", expect_complete=True) != []
    assert demo.problems_with_view("oops", "persoon", expect_complete=True) != []


def test_urls_come_from_the_stack_state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "ROOT", tmp_path)
    assert demo.from_state_file("ns") == (None, None)
    state = tmp_path / ".run" / "ns" / "pids" / "state.json"
    state.parent.mkdir(parents=True)
    ports = {"brp": 18101, "kvk": 18102, "zgw": 18103}
    config = {"gateway_url": "http://127.0.0.1:18080", "sandbox": True, "sandbox_ports": ports}
    state.write_text(json.dumps({"config": config, "processes": []}))
    assert demo.from_state_file("ns") == ("http://127.0.0.1:18080", "http://127.0.0.1:18101")
    # A state file written before the ports were named by source.
    state.write_text(json.dumps({"config": {**config, "sandbox_ports": [18201, 18102, 18103]}, "processes": []}))
    assert demo.from_state_file("ns") == ("http://127.0.0.1:18080", "http://127.0.0.1:18201")


def disclosure(request_id: str, kind: str = "lookup", started_at: str = "2026-12-01T10:00:05+00:00") -> dict[str, Any]:
    return {
        "request_id": request_id,
        "event_id": f"e-{request_id}",
        "kind": kind,
        "profile": "persoon" if kind != "inzage" else "inzage",
        "gebruiker": "dev",
        "doelbinding": "demo",
        "verwerking": "Demonstratie",
        "verwerkingsactiviteit": "persoon",
        "started_at": started_at,
        "outcome": "complete",
        "sources": [
            {
                "source": "brp",
                "operation": "RaadpleegMetBurgerservicenummer",
                "fields": ["naam", "geboorte"],
                "status": "ok",
            },
            {"source": "zgw", "operation": "zaken", "fields": [], "status": "timeout"},
        ],
    }


def test_the_inzage_is_awaited_until_every_lookup_of_the_demo_is_listed() -> None:
    answer = {"total": 2, "disclosures": [disclosure("r1"), disclosure("old")]}
    assert demo.missing_lookups(answer, ["r1"]) == set()
    assert demo.missing_lookups(answer, ["r1", "r2"]) == {"r2"}
    assert demo.missing_lookups({"status": 503}, ["r1"]) == {"r1"}
    assert demo.missing_lookups("not json", ["r1"]) == {"r1"}


def test_the_inzage_table_holds_this_runs_disclosures_and_counts_the_inzages() -> None:
    from datetime import UTC, datetime

    since = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
    disclosures = [
        disclosure("i1", kind="inzage", started_at="2026-12-01T10:00:09+00:00"),
        disclosure("r2", started_at="2026-12-01T10:00:07.5Z"),
        disclosure("r1"),
        disclosure("earlier run", started_at="2026-12-01T09:59:00+00:00"),
    ]
    rows, inzages = demo.inzage_rows(disclosures, since)
    assert inzages == 1
    assert len(rows) == 2
    when, who, why, what, outcome = rows[0]
    assert who == "dev"
    assert why == "demo (Demonstratie)"
    assert what == "lookup persoon: brp RaadpleegMetBurgerservicenummer (2 fields), zgw zaken timeout"
    assert outcome == "complete"
    assert when.count(":") == 2


def test_an_object_view_without_residents_or_zaken_is_reported() -> None:
    shown = {"adres": {"postcode": "3077AW"}, "object": {"identificatie": "0599010000208579"}, "registraties": [{}]}
    _, problems = demo.object_view_lines(shown)
    assert problems == ["the adres view has no bewoners", "the adres view has no zaken"]
    assert demo.object_view_lines(None)[1] == ["the adres view has no address"]


def test_a_person_without_contact_moments_or_address_is_reported() -> None:
    _, problems = demo.contact_lines({"profile": "persoon", "view": {"contactmomenten": []}})
    assert problems == ["no contact moments in the view", "no BAG address in the view"]
    lines, problems = demo.contact_lines({"profile": "bedrijf", "view": {"contactmomenten": [{"kanaal": "Brief"}]}})
    assert problems == []
    assert "Brief" in lines[1]
