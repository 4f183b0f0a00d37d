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
    config = {"gateway_url": "http://127.0.0.1:18080", "sandbox": True, "sandbox_ports": [18101, 18102, 18103]}
    state.write_text(json.dumps({"config": config, "processes": []}))
    assert demo.from_state_file("ns") == ("http://127.0.0.1:18080", "http://127.0.0.1:18101")
