"""Latency summaries: nearest-rank percentiles over plain sorted lists (runs hold at most some 10^5 samples)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of an ascending sequence; NaN when it is empty."""
    if not ordered:
        return math.nan
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {q}")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Summary:
    """Latencies in milliseconds."""

    count: int
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Summary:
        ordered = sorted(s * 1000 for s in seconds)
        mean = sum(ordered) / len(ordered) if ordered else math.nan
        return cls(
            count=len(ordered),
            mean=mean,
            p50=percentile(ordered, 50),
            p90=percentile(ordered, 90),
            p95=percentile(ordered, 95),
            p99=percentile(ordered, 99),
            max=ordered[-1] if ordered else math.nan,
        )

    def to_json(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def histogram_points(seconds: Sequence[float], points: int = 200) -> list[tuple[float, float]]:
    """(latency ms, fraction of requests at or below it): a percentile curve small enough for the JSON."""
    ordered = sorted(s * 1000 for s in seconds)
    if not ordered:
        return []
    n = len(ordered)
    out: list[tuple[float, float]] = []
    for i in range(points):
        # Denser towards the tail: fractions 1 - 10^-k spread over the range.
        frac = 1 - 10 ** (-3 * (i + 1) / points)
        idx = min(n - 1, max(0, math.ceil(frac * n) - 1))
        out.append((ordered[idx], (idx + 1) / n))
    return out
