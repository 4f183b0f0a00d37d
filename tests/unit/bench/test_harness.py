"""The benchmark harness at a tiny size, so it cannot rot: the floor and the direct fan-out for a second or so
each, then the report writer into a temporary folder (never ``docs/`` or ``bench/results/``)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bench import report
from bench.scenarios import Plan, run_plan
from bench.stats import Summary, percentile
from bench.system import Infra, complete

pytestmark = pytest.mark.integration


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    summary = Summary.of([0.001, 0.002, 0.003])
    assert summary.p50 == pytest.approx(2.0)
    assert summary.max == pytest.approx(3.0)


def test_a_good_answer_is_complete_without_errors() -> None:
    assert complete(200, b'{"status":"complete","sources":{"brp":{"status":"ok"}}}')
    assert not complete(200, b'{"status":"complete","sources":{"brp":{"status":"error"}}}')
    assert not complete(200, b'{"status":"partial","sources":{"brp":{"status":"timeout"}}}')
    assert not complete(504, b"")


def test_notes_survive_a_rewrite() -> None:
    old = "# x\n\n<!-- notes -->\nWhat we learned.\n<!-- /notes -->\n"
    assert report.keep_notes(old) == "<!-- notes -->\nWhat we learned.\n<!-- /notes -->"
    assert report.NOTES_PLACEHOLDER in report.keep_notes(None)


async def test_quick_run_of_floor_and_direct(rabbitmq_url: str, redis_url: str, tmp_path: Path) -> None:
    plan = replace(
        Plan.quick(tmp_path / "run", duration_s=1.0),
        warmup_s=0.3,
        systems=("floor", "direct"),
        open_fractions=(0.5,),
    )
    results = await run_plan(Infra(rabbitmq_url, redis_url), plan, say=lambda _line: None)
    assert results["errors"] == {}
    for system in ("floor", "direct"):
        data = results["systems"][system]["by_latency"]["0"]
        one = data["closed"][0]
        assert one["concurrency"] == 1
        assert one["ok"] > 0
        assert one["errors"] == 0
        assert one["latency_ms"]["p50"] > 0
        assert one["cpu"]["system_ms_per_lookup"] > 0
        assert data["open"][0]["ok"] > 0

    results["machine"] = {"date": "test", "cores": 2}
    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    doc.write_text("old\n<!-- notes -->\nkept by hand\n<!-- /notes -->\n", encoding="utf-8")
    json_path = tmp_path / "results" / "run.json"
    report.write_report(results, json_path, doc, tmp_path / "docs" / "benchmarks")
    text = doc.read_text(encoding="utf-8")
    assert "## Targets" in text
    assert "kept by hand" in text
    assert "floor (bare aio-pika + redis-py)" in text
    assert json.loads(json_path.read_text(encoding="utf-8"))["systems"]["floor"]
    assert list((tmp_path / "docs" / "benchmarks").glob("*.png"))
