"""A gateway replica with ``gateway_max_in_flight`` lookups in flight refuses the next at once (a burst is shed, not
queued past its deadline), and takes lookups again as soon as one ends. Scenario 8 of docs/reliability.md."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import structlog
from iko_gateway.decisions import Ask
from iko_gateway.lookups import LookupService, OverloadedError
from iko_gateway.replies import ReplyWaiter
from iko_shared.contracts import Identifier, SourceQuery
from iko_shared.topology import Topology


class RecordingPublisher:
    """Takes every publish at once and remembers the request ids, as a confirming broker would."""

    def __init__(self) -> None:
        self.request_ids: list[str] = []

    async def publish(self, body: bytes, **options: Any) -> None:
        self.request_ids.append(orjson.loads(body)["request_id"])


def ask() -> Ask:
    return Ask(
        profile="persoon",
        identifier=Identifier(type="bsn", value="999993653"),
        queries=[SourceQuery(key="brp", source="brp", operation="persoon")],
        timeout_ms=5000,
        relations=[],
    )


def answer(request_id: str) -> bytes:
    return orjson.dumps({"request_id": request_id, "status": "complete", "sources": {}})


async def wait_until(condition: Any, within_s: float = 2.0) -> None:
    for _ in range(int(within_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_the_lookup_past_the_cap_is_refused_at_once_and_room_comes_back() -> None:
    publisher = RecordingPublisher()
    waiter = ReplyWaiter()
    service = LookupService(Topology(namespace="t"), publisher, waiter, "replies", 1.0, max_in_flight=3)  # type: ignore[arg-type]
    held = [asyncio.create_task(service.ask(ask())) for _ in range(3)]
    await wait_until(lambda: len(publisher.request_ids) == 3)
    assert service.in_flight == 3

    with structlog.testing.capture_logs() as logs, pytest.raises(OverloadedError):
        await service.ask(ask())
    with pytest.raises(OverloadedError):
        await service.ask(ask())
    # Refused before anything was sent; one warning for the shedding, not one per refusal.
    assert len(publisher.request_ids) == 3
    assert [e["event"] for e in logs] == ["lookup.shedding.unavailable"]

    # One answer frees one place: the next lookup is taken.
    waiter.resolve(publisher.request_ids[0], answer(publisher.request_ids[0]))
    assert orjson.loads(await held[0])["status"] == "complete"
    assert service.in_flight == 2
    fourth = asyncio.create_task(service.ask(ask()))
    await wait_until(lambda: len(publisher.request_ids) == 4)
    for request_id in publisher.request_ids[1:]:
        waiter.resolve(request_id, answer(request_id))
    await asyncio.gather(*held[1:], fourth)
    assert service.in_flight == 0


async def test_no_cap_when_it_is_zero() -> None:
    publisher = RecordingPublisher()
    waiter = ReplyWaiter()
    service = LookupService(Topology(namespace="t"), publisher, waiter, "replies", 1.0, max_in_flight=0)  # type: ignore[arg-type]
    held = [asyncio.create_task(service.ask(ask())) for _ in range(50)]
    await wait_until(lambda: len(publisher.request_ids) == 50)
    for request_id in publisher.request_ids:
        waiter.resolve(request_id, answer(request_id))
    await asyncio.gather(*held)
    assert service.in_flight == 0


def test_every_503_says_when_to_try_again() -> None:
    from iko_gateway.problems import problem

    assert problem(503, "Too busy").headers["retry-after"] == "1"
    assert "retry-after" not in problem(504, "No answer").headers
