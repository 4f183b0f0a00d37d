"""Identical lookups in flight at once share one pipeline run: one request sent, every call answered under its
own request id; a call that differs in caller, purpose, plan or identifier, or whose deadline is too far from
the run's, gets a run of its own; a failed run fails every call that joined it; nothing is kept afterwards."""

from __future__ import annotations

import asyncio
import dataclasses

import orjson
import pytest
from iko_gateway.coalescing import Coalescer, coalescing_key
from iko_gateway.lookups import LookupService, NoAnswerError, PublishFailedError
from iko_gateway.replies import ReplyWaiter
from iko_shared.contracts import Identifier, RequestContext, SourceQuery
from iko_shared.topology import Topology

from tests.unit.gateway.test_load_shedding import RecordingPublisher, answer, ask, wait_until


def service_with(publisher: RecordingPublisher, waiter: ReplyWaiter, tolerance_s: float = 0.25) -> LookupService:
    return LookupService(
        Topology(namespace="t"),
        publisher,  # type: ignore[arg-type]
        waiter,
        "replies",
        0.5,
        max_in_flight=10,
        coalescer=Coalescer(tolerance_s),
    )


def caller_ask(caller: str = "client-a|user-1", doelbinding: str = "klantcontact", **changes: object):
    base = dataclasses.replace(ask(), context=RequestContext(doelbinding=doelbinding, caller=caller))
    return dataclasses.replace(base, **changes)


async def test_five_identical_calls_send_one_request_and_each_gets_the_answer_under_its_own_id() -> None:
    publisher, waiter = RecordingPublisher(), ReplyWaiter()
    service = service_with(publisher, waiter)
    ids = [f"call-{i}" for i in range(5)]
    calls = [asyncio.create_task(service.ask(caller_ask(), request_id)) for request_id in ids]
    await wait_until(lambda: len(publisher.request_ids) == 1)
    await asyncio.sleep(0.05)
    assert publisher.request_ids == ["call-0"], "one pipeline run for five identical calls"
    waiter.resolve("call-0", answer("call-0"))
    answers = [orjson.loads(raw) for raw in await asyncio.gather(*calls)]
    assert [a["request_id"] for a in answers] == ids
    assert all(a["status"] == "complete" for a in answers)
    assert service.in_flight == 0
    assert len(service._coalescer) == 0, "nothing is kept after the answer"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "other",
    [
        caller_ask(caller="client-b|user-1"),
        caller_ask(caller="client-a|user-2"),
        caller_ask(doelbinding="handhaving"),
        caller_ask(identifier=Identifier(type="bsn", value="999990408")),
        caller_ask(
            queries=[
                SourceQuery(key="brp", source="brp", operation="persoon"),
                SourceQuery(key="zgw", source="zgw", operation="zaken"),
            ]
        ),
        caller_ask(timeout_ms=5000 + 1000),
    ],
    ids=["another client", "another user", "another purpose", "another person", "another plan", "deadline apart"],
)
async def test_a_call_that_differs_gets_a_run_of_its_own(other) -> None:
    publisher, waiter = RecordingPublisher(), ReplyWaiter()
    service = service_with(publisher, waiter)
    first = asyncio.create_task(service.ask(caller_ask(), "first"))
    second = asyncio.create_task(service.ask(other, "second"))
    await wait_until(lambda: len(publisher.request_ids) == 2)
    for request_id in ("first", "second"):
        waiter.resolve(request_id, answer(request_id))
    assert [orjson.loads(raw)["request_id"] for raw in await asyncio.gather(first, second)] == ["first", "second"]


def test_the_key_ignores_only_the_timeout() -> None:
    assert coalescing_key(caller_ask()) == coalescing_key(caller_ask(timeout_ms=1234))
    assert coalescing_key(caller_ask()) != coalescing_key(caller_ask(transform=".brp"))


async def test_a_run_that_fails_fails_every_call_that_joined_it_and_the_next_call_starts_afresh() -> None:
    class RefusingPublisher(RecordingPublisher):
        async def publish(self, body: bytes, **options: object) -> None:
            await super().publish(body)
            await asyncio.sleep(0.05)
            raise ConnectionError("the broker did not take it")

    publisher, waiter = RefusingPublisher(), ReplyWaiter()
    service = service_with(publisher, waiter)
    calls = [asyncio.create_task(service.ask(caller_ask(), f"call-{i}")) for i in range(3)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, PublishFailedError) for r in results), results
    assert publisher.request_ids == ["call-0"]
    with pytest.raises(PublishFailedError):
        await service.ask(caller_ask(), "later")
    assert publisher.request_ids == ["call-0", "later"], "a run that ended is not joined"


async def test_the_first_caller_going_away_does_not_take_the_answer_from_those_who_joined() -> None:
    publisher, waiter = RecordingPublisher(), ReplyWaiter()
    service = service_with(publisher, waiter)
    first = asyncio.create_task(service.ask(caller_ask(), "first"))
    await wait_until(lambda: len(publisher.request_ids) == 1)
    joined = asyncio.create_task(service.ask(caller_ask(), "joined"))
    await asyncio.sleep(0.02)
    first.cancel()
    waiter.resolve("first", answer("first"))
    assert orjson.loads(await joined)["request_id"] == "joined"


async def test_no_answer_in_time_is_every_joined_call_s_504() -> None:
    publisher, waiter = RecordingPublisher(), ReplyWaiter()
    service = service_with(publisher, waiter)
    quick = dataclasses.replace(caller_ask(), timeout_ms=50)
    results = await asyncio.gather(*(service.ask(quick, f"c{i}") for i in range(2)), return_exceptions=True)
    assert all(isinstance(r, NoAnswerError) for r in results), results
    assert len(publisher.request_ids) == 1


async def test_each_call_gets_an_answer_of_its_own_that_no_other_call_sees_changed() -> None:
    """The compatible API pages its containers in place: one widget's paging must not reach another's."""
    publisher, waiter = RecordingPublisher(), ReplyWaiter()
    service = service_with(publisher, waiter)
    calls = [asyncio.create_task(service.ask_json(caller_ask(), f"call-{i}")) for i in range(3)]
    await wait_until(lambda: len(publisher.request_ids) == 1)
    waiter.resolve("call-0", orjson.dumps({"request_id": "call-0", "status": "complete", "zaken": [1, 2, 3]}))
    first, second, third = await asyncio.gather(*calls)
    first["zaken"].clear()
    second["zaken"].append(4)
    assert third["zaken"] == [1, 2, 3]
    assert [a["request_id"] for a in (first, second, third)] == ["call-0", "call-1", "call-2"]
