"""Fan-out scaling (issue 15): CPU per lookup and latency against the number of fragments of a lookup.

No test person in the BRP mock data has 50 relations, so the benchmark makes its own: ``write_data_dir`` builds a
sandbox data folder (``IKO_SANDBOX_DATA_DIR``) holding the real data plus one synthetic family per fragment count n,
a parent with n - 1 children, each child a full record of its own. The profile ``bench/profiles/bench-gezin.yaml``
asks the BRP for the parent and, per child, one relation branch with its own BRP query: a lookup of the parent has
n fragments. One stack serves every n; per n a closed loop at concurrency 1 gives the latency and an open loop at a
fixed rate the CPU per lookup. The target: the marginal CPU per extra fragment, from 2 to 15 and from 15 to 50
fragments, at most 1.0 ms, and no larger from 15 to 50 than from 2 to 15.

The CPU per lookup is the stack's CPU over the open loop divided by the lookups: at one fixed rate for every n the
stack's idle CPU (its processes' timers, heartbeats) adds the same amount to each count, which the marginals cancel.
RabbitMQ and Redis are the machine's, not the stack's: the figure without them is reported beside the total, and a
run during which other processes loaded the machine is marked ``contended``.

``python -m bench.fanout [--rate R] [--duration S] [--latency-ms MS] [--counts 1,2,5,15,50]`` prints the results
as JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import uvloop
from iko_shared.identifiers import passes_elfproef
from iko_shared.logging import configure_logging

from bench import processes
from bench.loadgen import Target
from bench.measurement import measure
from bench.pipeline import PipelineSystem
from bench.system import DEV_HEADERS, Infra, complete

COUNTS = (1, 2, 5, 15, 50)
PROFILE = "bench-gezin"
PROFILE_FILE = Path(__file__).resolve().parent / "profiles" / f"{PROFILE}.yaml"
SANDBOX_DATA = processes.ROOT / "sandbox" / "data"
PERSONS = "personen-mock-test-data.json"
LOOKUP_PATH = f"/api/v1/profiles/{PROFILE}/lookups"
TIMEOUT_MS = 5000
# The synthetic BSNs come from 999800000 up (9998xxxxx): the mock data's test BSNs are 9999xxxxx, none 9998xxxxx.
FIRST_SYNTHETIC = 999_800_000
# The target: at most this much CPU per extra fragment, in each of the two steps.
MARGINAL_LIMIT_MS = 1.0
# Process groups of the whole machine, not of this stack alone.
SHARED_INFRASTRUCTURE = ("rabbitmq", "redis")
# A run during which other processes took more than this share of one core is reported as contended.
OTHER_LOAD_LIMIT = 0.1

Json = dict[str, Any]

NEDERLAND = {"code": "6030", "omschrijving": "Nederland"}
AMSTERDAM = {"code": "0363", "omschrijving": "Amsterdam"}
NEDERLANDSE = [{"datumIngangGeldigheid": "00000000", "nationaliteit": {"code": "0001", "omschrijving": "Nederlandse"}}]
GESLACHT = ({"code": "V", "omschrijving": "vrouw"}, {"code": "M", "omschrijving": "man"})


# -- the data ------------------------------------------------------------------------------------------------------
def bsns_in(value: Any) -> set[str]:
    """Every ``burgerservicenummer`` anywhere in ``value`` (records, their kinderen, ouders, partners, gezag)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            bsn = item.get("burgerservicenummer")
            if isinstance(bsn, str):
                found.add(bsn)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def synthetic_bsns(taken: set[str]) -> Iterator[str]:
    """Valid BSNs (the elfproef) from ``FIRST_SYNTHETIC`` up, skipping any in ``taken``: the same every run."""
    number = FIRST_SYNTHETIC
    while number <= 999_899_999:
        bsn = f"{number:09d}"
        if passes_elfproef(bsn) and bsn not in taken:
            yield bsn
        number += 1
    raise RuntimeError("the synthetic BSN range is used up")


def _datum(day: date) -> str:
    return day.strftime("%Y%m%d")


def _geboorte(day: date) -> Json:
    return {"land": NEDERLAND, "plaats": AMSTERDAM, "datum": _datum(day)}


def _person(bsn: str, geslacht: Json, voornamen: str, geslachtsnaam: str, born: date) -> Json:
    """A raw mock record as the BRP simulator reads it, without a verblijfplaats (the BAG simulator then skips
    it; the benchmark profile asks for none)."""
    return {
        "burgerservicenummer": bsn,
        "geslacht": geslacht,
        "naam": {
            "aanduidingNaamgebruik": {"code": "E", "omschrijving": "eigen geslachtsnaam"},
            "voornamen": voornamen,
            "geslachtsnaam": geslachtsnaam,
        },
        "nationaliteiten": NEDERLANDSE,
        "geboorte": _geboorte(born),
        "gemeenteVanInschrijving": AMSTERDAM,
        "datumInschrijvingInGemeente": _datum(born),
    }


def synthetic_families(counts: Sequence[int], taken: set[str]) -> tuple[list[Json], dict[int, str]]:
    """For each n in ``counts`` a parent with n - 1 children, every one a record of its own; the parent's
    ``kinderen`` and each child's ``ouders`` name each other as the mock data does. The records, and n -> the
    parent's BSN."""
    if len(set(counts)) != len(counts) or any(n < 1 for n in counts):
        raise ValueError(f"the fragment counts must be distinct and at least 1, got {list(counts)}")
    numbers = synthetic_bsns(taken)
    records: list[Json] = []
    parents: dict[int, str] = {}
    for n in counts:
        geslachtsnaam = f"Bench-gezin-{n}"
        parent_born = date(1960, 1, 1)
        parent = _person(next(numbers), GESLACHT[0], "Moeder", geslachtsnaam, parent_born)
        kinderen: list[Json] = []
        children: list[Json] = []
        for i in range(n - 1):
            born = date(1985, 1, 1) + timedelta(days=180 * i)
            voornamen = f"Kind {i + 1}"
            child = _person(next(numbers), GESLACHT[i % 2], voornamen, geslachtsnaam, born)
            child["ouders"] = [
                {
                    "burgerservicenummer": parent["burgerservicenummer"],
                    "geslacht": parent["geslacht"],
                    "ouderAanduiding": "1",
                    "datumIngangFamilierechtelijkeBetrekking": _datum(born),
                    "naam": {"voornamen": "Moeder", "geslachtsnaam": geslachtsnaam},
                    "geboorte": parent["geboorte"],
                }
            ]
            kinderen.append(
                {
                    "burgerservicenummer": child["burgerservicenummer"],
                    "naam": {"voornamen": voornamen, "geslachtsnaam": geslachtsnaam},
                    "geboorte": child["geboorte"],
                }
            )
            children.append(child)
        if kinderen:
            parent["kinderen"] = kinderen
        records.append(parent)
        records.extend(children)
        parents[n] = parent["burgerservicenummer"]
    return records, parents


def write_data_dir(target: Path, counts: Sequence[int] = COUNTS, source: Path = SANDBOX_DATA) -> dict[int, str]:
    """A sandbox data folder in ``target`` (made if missing): every entry of ``source`` linked, except the BRP
    persons, written as the original records plus the synthetic families. n -> the parent's BSN."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in sorted(source.iterdir()):
        if entry.name != "brp":
            (target / entry.name).symlink_to(entry.resolve())
    brp = target / "brp"
    brp.mkdir()
    for entry in sorted((source / "brp").iterdir()):
        if entry.name != PERSONS:
            (brp / entry.name).symlink_to(entry.resolve())
    original: list[Json] = orjson.loads((source / "brp" / PERSONS).read_bytes())
    families, parents = synthetic_families(counts, bsns_in(original))
    (brp / PERSONS).write_bytes(orjson.dumps([*original, *families]))
    return parents


# -- the lookups ---------------------------------------------------------------------------------------------------
# Each fragment is one entry of the answer's ``sources`` with a status of its own (the lookup's is ``complete``, and
# BRP data holds no ``status``): counting the good ones in the body is cheaper than parsing fifty fragments per
# answer in the load generator, which shares the two cores with the stack.
FRAGMENT_OK = b'"status":"ok"'


def judge_of(fragments: int) -> Callable[[int, bytes], bool]:
    """A good answer: complete, no source failed or timed out, and ``fragments`` fragments answered ``ok``."""

    def judge(status: int, body: bytes) -> bool:
        return complete(status, body) and body.count(FRAGMENT_OK) == fragments

    return judge


def lookup_body(bsn: str, timeout_ms: int = TIMEOUT_MS) -> bytes:
    return orjson.dumps({"identifier": {"type": "bsn", "value": bsn}, "timeout_ms": timeout_ms})


def fanout_target(system: PipelineSystem, bsn: str, fragments: int) -> Target:
    return Target("127.0.0.1", system.port, LOOKUP_PATH, lookup_body(bsn), DEV_HEADERS, judge_of(fragments))


def _outcome(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in ("ok", "bad", "errors", "error_kinds", "throughput", "latency_ms") if k in data}


def marginals(cpu: Mapping[int, float]) -> dict[str, float | None]:
    """CPU per extra fragment between 2 and 15 and between 15 and 50 fragments (None where a count was not run)."""
    out: dict[str, float | None] = {}
    for low, high in ((2, 15), (15, 50)):
        out[f"{low}->{high}"] = round((cpu[high] - cpu[low]) / (high - low), 4) if low in cpu and high in cpu else None
    return out


def target_verdict(marginal: Mapping[str, float | None]) -> dict[str, Any]:
    low, high = marginal.get("2->15"), marginal.get("15->50")
    holds = None
    if low is not None and high is not None:
        holds = low <= MARGINAL_LIMIT_MS and high <= MARGINAL_LIMIT_MS and high <= low
    return {
        "name": "marginal CPU per extra fragment (2->15, 15->50) <= 1.0 ms, and 15->50 no larger than 2->15",
        "limit_ms": MARGINAL_LIMIT_MS,
        "holds": holds,
    }


async def fanout_scaling(
    infra: Infra,
    run_dir: Path,
    say: Callable[[str], None],
    *,
    counts: Sequence[int] = COUNTS,
    rate: float = 10.0,
    duration_s: float = 7.0,
    warmup_s: float = 1.5,
    latency_ms: int = 0,
) -> dict[str, Any]:
    """One stack with the benchmark profile and data; per fragment count a closed loop at concurrency 1 (latency)
    and an open loop at ``rate`` (CPU per lookup)."""
    scratch = Path(tempfile.mkdtemp(prefix="iko-bench-fanout-"))
    system: PipelineSystem | None = None
    try:
        parents = write_data_dir(scratch / "data", counts)
        # The profile is among bench/profiles, which every benchmark stack is given (bench.pipeline.profiles_dir).
        pipeline = PipelineSystem(
            infra,
            run_dir,
            extra_env={"IKO_SANDBOX_DATA_DIR": str(scratch / "data")},
            label="fanout",
        )
        # A start that fails leaves nothing behind (PipelineSystem.start): only a started stack needs stopping.
        await pipeline.start()
        system = pipeline
        runs: list[dict[str, Any]] = []
        for n in counts:
            await system.set_latency(latency_ms)
            target = fanout_target(system, parents[n], n)
            single = await measure(system, target, concurrency=1, duration_s=duration_s, warmup_s=warmup_s)
            loaded = await measure(system, target, rate=rate, duration_s=duration_s, warmup_s=warmup_s)
            cpu = loaded.data["cpu"]
            lat = single.data["latency_ms"]
            by_process = cpu["by_process_ms_per_lookup"]
            run = {
                "fragments": n,
                "bsn": parents[n],
                "single_caller": _outcome(single.data),
                "open_loop": {**_outcome(loaded.data), "cpu": cpu},
                "cpu_ms_per_lookup": cpu["system_ms_per_lookup"],
                # RabbitMQ and Redis serve the whole machine: whatever else runs on them counts in the figure above.
                "services_cpu_ms_per_lookup": round(
                    sum(v for k, v in by_process.items() if k not in SHARED_INFRASTRUCTURE), 3
                ),
                "p50_ms": lat.get("p50"),
                "p99_ms": lat.get("p99"),
                # CPU of processes that are neither the stack, its simulators nor the load generator: another load
                # on the machine, which makes the figures of this run doubtful.
                "other_cpu_s": cpu["other_s"],
                "contended": cpu["other_s"] > OTHER_LOAD_LIMIT * cpu["wall_s"],
            }
            runs.append(run)
            say(
                f"fanout: {n:>2} fragments: {run['cpu_ms_per_lookup']:.2f} ms CPU/lookup at {rate:g}/s "
                f"({run['services_cpu_ms_per_lookup']:.2f} ms without RabbitMQ and Redis; "
                f"ok {loaded.data['ok']}, bad {loaded.data['bad']}, errors {loaded.data['errors']}); "
                f"1 caller p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms "
                f"(ok {single.data['ok']}, bad {single.data['bad']}, errors {single.data['errors']}); "
                f"CPU of other processes on the machine {cpu['other_s']} s"
            )
        marginal = marginals({r["fragments"]: float(r["cpu_ms_per_lookup"]) for r in runs})
        services = marginals({r["fragments"]: float(r["services_cpu_ms_per_lookup"]) for r in runs})
        return {
            "kind": "fanout-scaling",
            "profile": PROFILE,
            "counts": list(counts),
            "rate": rate,
            "duration_s": duration_s,
            "warmup_s": warmup_s,
            "latency_ms": latency_ms,
            "runs": runs,
            "marginal_ms_per_fragment": marginal,
            "marginal_services_ms_per_fragment": services,
            "target": target_verdict(marginal),
            "contended": [r["fragments"] for r in runs if r["contended"]],
            "all_good": all(
                r[k]["bad"] == 0 and r[k]["errors"] == 0 for r in runs for k in ("single_caller", "open_loop")
            ),
        }
    finally:
        if system is not None:
            await system.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def _counts(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=10.0, help="open-loop lookups per second (default 10)")
    p.add_argument("--duration", type=float, default=7.0, help="seconds measured per run (default 7)")
    p.add_argument("--warmup", type=float, default=1.5, help="seconds of warm-up per run, not measured")
    p.add_argument("--latency-ms", type=int, default=0, help="the sources' latency (default 0)")
    p.add_argument("--counts", type=_counts, default=COUNTS, help="fragment counts (default 1,2,5,15,50)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    # This process's own log lines (dropping the namespace's audit database) to stderr: stdout is the JSON.
    configure_logging("bench-fanout", "WARNING")
    run_dir = Path(tempfile.mkdtemp(prefix="iko-bench-fanout-logs-"))
    print(f"fanout: logs in {run_dir}", file=sys.stderr, flush=True)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = uvloop.run(
        fanout_scaling(
            Infra.from_env(),
            run_dir,
            say,
            counts=args.counts,
            rate=args.rate,
            duration_s=args.duration,
            warmup_s=args.warmup,
            latency_ms=args.latency_ms,
        )
    )
    print(json.dumps(result, indent=2))
    if result["contended"]:
        say(f"fanout: other processes loaded the machine during the runs of {result['contended']} fragments")
    if not result["all_good"]:
        say(f"fanout: some answers were bad or failed; the processes' logs stay in {run_dir}")
        return 1
    shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
