"""The targets over several full runs (``python -m bench.median RUN.json ...``): per target each run's measured
figure, their median, and whether the median holds; printed as a markdown table for ``docs/benchmarks.md``.

The issue's rule: every target must hold in the median of three consecutive full runs of ``make bench``."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

import orjson


def medians(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per target name, in the order of the first run."""
    names = [t["name"] for t in runs[0].get("targets", [])]
    rows = []
    for name in names:
        found = [next((t for t in run.get("targets", []) if t["name"] == name), None) for run in runs]
        measured = [t["measured"] for t in found if t is not None and t["measured"] is not None]
        first = next(t for t in found if t is not None)
        limit = first["limit"]
        median = statistics.median(measured) if measured else None
        at_most = _at_most(first)
        holds = None if median is None or limit is None else (median <= limit if at_most else median >= limit)
        rows.append(
            {
                "name": name,
                "limit": limit,
                "measured": [t["measured"] if t is not None else None for t in found],
                "median": median,
                "holds": holds,
            }
        )
    return rows


def _at_most(target: dict[str, Any]) -> bool:
    bound: str = target.get("bound", "at_most")
    return bound == "at_most"


def table(rows: list[dict[str, Any]], labels: list[str]) -> str:
    def n(value: Any) -> str:
        return "—" if value is None else f"{value:.2f}"

    head = ["target", "limit", *labels, "median", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in rows:
        if row["limit"] is None:
            verdict = "reported"
        else:
            verdict = "not measured" if row["holds"] is None else ("**holds**" if row["holds"] else "**does not hold**")
        cells = [row["name"], n(row["limit"]), *(n(m) for m in row["measured"]), n(row["median"]), verdict]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    paths = [Path(a) for a in (sys.argv[1:] if argv is None else argv)]
    if not paths:
        print("usage: python -m bench.median RUN.json [RUN.json ...]", file=sys.stderr)
        return 2
    runs = [orjson.loads(p.read_bytes()) for p in paths]
    print(table(medians(runs), [f"`{p.stem}`" for p in paths]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
