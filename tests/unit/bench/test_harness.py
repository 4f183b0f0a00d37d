"""The benchmark harness at a tiny size, so it cannot rot: the floor and the direct fan-out for a second or so
each, then the report writer into a temporary folder (never ``docs/`` or ``bench/results/``); and that the floor
answers with what its sources (the simulators) hold, as the direct fan-out does."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import httpx
import orjson
import pytest

from bench import report
from bench.floor.system import FloorSystem
from bench.scenarios import Plan, run_plan
from bench.sources import SourceWork
from bench.stats import Summary, percentile
from bench.system import BSN, DEV_HEADERS, LOOKUP_PATH, Infra, complete, lookup_body

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
    said: list[str] = []
    results = await run_plan(Infra(rabbitmq_url, redis_url), plan, say=said.append)
    assert results["errors"] == {}
    runs = [line.split()[0] + " " + line.split()[4] for line in said if "latency" in line]
    assert runs[:2] == ["floor c=1", "direct c=1"], "single callers side by side, before the ladders"
    assert runs.count("floor c=1") == 1, "the single caller counts as the ladder's first rung"
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
    results["tracing_off"] = {"publish_us": 1.25, "client_call_us": 0.5}
    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    doc.write_text("old\n<!-- notes -->\nkept by hand\n<!-- /notes -->\n", encoding="utf-8")
    json_path = tmp_path / "results" / "run.json"
    report.write_report(results, json_path, doc, tmp_path / "docs" / "benchmarks")
    text = doc.read_text(encoding="utf-8")
    assert "## Targets" in text
    assert "kept by hand" in text
    assert "## Tracing off" in text
    assert "**1.25 µs per publish**" in text
    assert "floor (bare aio-pika + redis-py)" in text
    assert json.loads(json_path.read_text(encoding="utf-8"))["systems"]["floor"]
    assert list((tmp_path / "docs" / "benchmarks").glob("*.png"))


async def test_the_floor_answers_with_its_sources_data(rabbitmq_url: str, redis_url: str, tmp_path: Path) -> None:
    floor = FloorSystem(Infra(rabbitmq_url, redis_url), tmp_path)
    await floor.start()
    try:
        await floor.set_latency(0)
        assert sorted(floor.simulators.urls) == ["brp", "zgw"]
        assert len(floor.source_pids()) == 2
        assert not set(floor.source_pids()) & {pid for pids in floor.cpu_groups().values() for pid in pids}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{floor.port}", trust_env=False) as client:
            response = await client.post(LOOKUP_PATH, content=lookup_body(), headers=dict(DEV_HEADERS), timeout=10)
        assert complete(response.status_code, response.content)
        sources = orjson.loads(response.content)["sources"]
        async with SourceWork(floor.simulators.urls) as work:
            expected = {name: (await work.fetch(name, BSN, 5.0))["data"] for name in ("brp", "zgw")}
    finally:
        await floor.stop()
    assert sources["brp"]["status"] == "ok"
    assert sources["brp"]["data"]["burgerservicenummer"] == BSN
    assert sources["zgw"]["status"] == "ok"
    assert sources["zgw"]["data"]["zaken"], "the simulator's zaken for this BSN"
    assert all(z["zaaktype_omschrijving"] for z in sources["zgw"]["data"]["zaken"])
    # What the simulators answer now, fetched again with the same source work: the data of the floor's fragments.
    assert {name: sources[name]["data"] for name in expected} == expected


def test_refinement_tries_the_middle_between_the_last_good_and_the_first_bad_concurrency():
    from bench.scenarios import refine_between

    limit = 250.0
    assert refine_between([(1, 40.0), (8, 300.0)], limit) == 3
    assert refine_between([(1, 40.0), (3, 260.0), (8, 300.0)], limit) == 2
    assert refine_between([(1, 40.0), (2, 90.0), (3, 260.0)], limit) is None, "neighbours: nothing between"
    assert refine_between([(1, 40.0), (8, 100.0), (32, 200.0)], limit) is None, "nothing past the limit"
    assert refine_between([(1, 400.0), (8, 500.0)], limit) is None, "nothing within the limit"
    assert refine_between([(32, 185.0), (64, 393.0)], limit) == 45


def test_paused_processes_are_stopped_for_the_run_and_go_on_after() -> None:
    import subprocess
    import time

    from bench.measurement import paused

    def state(pid: int) -> str:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
        return raw[raw.rfind(")") + 2]

    def settles(pid: int, stopped: bool) -> bool:
        # A signal takes effect when the process is next scheduled: on a busy machine, a moment later.
        for _ in range(200):
            if (state(pid) == "T") == stopped:
                return True
            time.sleep(0.01)
        return False

    child = subprocess.Popen(["sleep", "30"])
    try:
        with paused([child.pid, 2**22 + 7]):  # a pid that is gone is skipped
            assert settles(child.pid, stopped=True)
        assert settles(child.pid, stopped=False)
    finally:
        child.kill()
        child.wait()
