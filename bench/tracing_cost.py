"""What tracing costs when it is off (no ``OTEL_*`` collector named): the no-op paths every message and every
source call still take. Measured in-process, the best of several repeats, in microseconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
from iko_shared import tracing

REPEATS = 5
CALLS = 20_000


def _best(run: Callable[[], float]) -> float:
    return min(run() for _ in range(REPEATS))


def publish_span_us() -> float:
    """``ExchangePublisher``'s extra work per publish: the headers copy and the producer-span context manager."""

    def run() -> float:
        started = time.perf_counter()
        for _ in range(CALLS):
            headers = dict({"iko-kind": "lookup"})
            with tracing.publish_span("lookups", headers):
                pass
        return (time.perf_counter() - started) / CALLS * 1e6

    return _best(run)


def client_span_us() -> float:
    """``TracedTransport``'s extra work per HTTP call to a source, over the transport it wraps."""
    request = httpx.Request("GET", "http://source.test/x")
    inner = httpx.MockTransport(lambda _: httpx.Response(200))
    traced = tracing.TracedTransport(inner, "bench")

    async def per_call(transport: httpx.AsyncBaseTransport) -> float:
        started = time.perf_counter()
        for _ in range(CALLS):
            await transport.handle_async_request(request)
        return (time.perf_counter() - started) / CALLS * 1e6

    def run() -> float:
        return asyncio.run(per_call(traced)) - asyncio.run(per_call(inner))

    return max(0.0, _best(run))


def tracing_off_cost() -> dict[str, float]:
    if tracing.enabled():
        raise RuntimeError("tracing is on in this process: the figures would not be the off path's")
    return {"publish_us": publish_span_us(), "client_call_us": client_span_us()}


def tracing_off_section(cost: dict[str, float], cpu_ms_per_lookup: float | None) -> str:
    # A persoon lookup with its address relation: about ten publishes and five source calls.
    per_lookup_us = 10 * cost["publish_us"] + 5 * cost["client_call_us"]
    share = ""
    if cpu_ms_per_lookup:
        percent = per_lookup_us / 10 / cpu_ms_per_lookup
        share = f" ({percent:.2f} % of the {cpu_ms_per_lookup:.1f} ms CPU a lookup costs)"
    return (
        "Without an `OTEL_*` collector no telemetry middleware is installed and no span is made; what remains is "
        "a no-op check on the publishes that bypass FastStream and on each source call. Measured in-process "
        f"(best of {REPEATS} × {CALLS:,} calls): **{cost['publish_us']:.2f} µs per publish**, "
        f"**{cost['client_call_us']:.2f} µs per source call**; for a lookup of about ten publishes and five source "
        f"calls, about {per_lookup_us:.0f} µs{share}: no cost worth measuring in "
        "the pipeline's figures above, which were taken with tracing off."
    )


if __name__ == "__main__":
    print(tracing_off_section(tracing_off_cost(), None))
