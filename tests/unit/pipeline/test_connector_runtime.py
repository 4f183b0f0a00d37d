"""The connector runtime without a broker: which requests it answers, and that every outcome is a fragment."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from iko_shared.connector import FETCH_CALLERS, ConnectorRuntime, FetchContext, FetchResult, SourceError
from iko_shared.contracts import FragmentProduced, Identifier, LookupRequested, RequestContext, SourceQuery


class FakeSource:
    name = "fake"

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.calls: list[FetchContext] = []

    def operations(self):
        return frozenset({"get"})

    async def fetch(self, ctx: FetchContext) -> FetchResult:
        self.calls.append(ctx)
        return await self.behaviour(ctx)


def request(sources=("fake",), deadline_in=2.0, operation="get", query_identifier=None, caller=None) -> LookupRequested:
    now = time.time()
    return LookupRequested(
        request_id="r1",
        profile="p",
        identifier=Identifier(type="bsn", value="999993653"),
        queries=[SourceQuery(key=s, source=s, operation=operation, identifier=query_identifier) for s in sources],
        requested_at=now,
        deadline=now + deadline_in,
        reply_to="q",
        context=RequestContext(caller=caller),
    )


async def run(behaviour, req):
    published: list[FragmentProduced] = []

    async def publish(fragment):
        published.append(fragment)

    source = FakeSource(behaviour)
    async with httpx.AsyncClient() as client:
        runtime = ConnectorRuntime(source, client, publish)
        await runtime.handle(req)
    return source, runtime, published


async def ok(ctx):
    return FetchResult.ok({"hello": ctx.request.identifier.value})


async def test_answers_only_requests_that_name_its_source():
    source, runtime, published = await run(ok, request(sources=("brp", "zgw")))
    assert published == []
    assert source.calls == []
    assert runtime.skipped == 1


async def test_ok_fragment_carries_data_timing_and_deadline():
    req = request()
    _, _, published = await run(ok, req)
    assert len(published) == 1
    fragment = published[0]
    assert fragment.status == "ok"
    assert fragment.data == {"hello": "999993653"}
    assert fragment.deadline == req.deadline
    assert fragment.duration_ms >= 0
    assert fragment.subject == Identifier(type="bsn", value="999993653"), "the audit trail names whom it is about"


async def test_the_subject_is_the_querys_identifier_when_it_has_one():
    partner = Identifier(type="bsn", value="999990408")
    _, _, published = await run(ok, request(query_identifier=partner))
    assert published[0].subject == partner


async def test_the_fetch_runs_as_the_requests_caller():
    seen: list[frozenset[str | None]] = []

    async def noting(ctx):
        seen.append(FETCH_CALLERS.get())
        return FetchResult.ok({})

    await run(noting, request(caller="client-a/user-1"))
    await run(noting, request())
    assert seen == [frozenset({"client-a/user-1"}), frozenset({None})]


async def test_no_fetch_once_the_deadline_has_passed():
    source, runtime, published = await run(ok, request(deadline_in=-0.01))
    assert source.calls == []
    assert published == []
    assert runtime.expired == 1


async def test_timeout_passed_to_the_source_is_what_is_left_of_the_deadline():
    source, _, _ = await run(ok, request(deadline_in=1.5))
    assert 1.3 < source.calls[0].timeout <= 1.5


@pytest.mark.parametrize(
    ("raise_", "code"),
    [
        (SourceError("IPD1234", "kapot"), "IPD1234"),
        (httpx.ConnectError("refused"), "unreachable"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (ValueError("bug"), "internal_error"),
    ],
)
async def test_every_failure_becomes_an_error_fragment(raise_, code):
    async def failing(ctx):
        raise raise_

    _, _, published = await run(failing, request())
    assert [f.status for f in published] == ["error"]
    assert published[0].error is not None
    assert published[0].error.code == code


async def test_unknown_operation_is_an_error_fragment():
    source, _, published = await run(ok, request(operation="nope"))
    assert source.calls == []
    assert published[0].error is not None
    assert published[0].error.code == "unsupported_operation"


async def test_fragment_finished_after_the_deadline_is_not_published():
    async def slow(ctx):
        await asyncio.sleep(0.15)
        return FetchResult.ok({})

    _, runtime, published = await run(slow, request(deadline_in=0.1))
    assert published == []
    assert runtime.expired == 1


def test_failures_are_described_without_quoting_the_input():
    from iko_shared.broker import describe_failure
    from pydantic import BaseModel

    class Person(BaseModel):
        bsn: int

    try:
        Person.model_validate({"bsn": "999993653-not-a-number"})
    except Exception as exc:
        described = describe_failure(exc)
    assert described["error"] == "ValidationError"
    assert described["invalid"] == ["bsn: int_parsing"]
    assert "999993653" not in str(described)
    assert described["where"], "the frames say where it failed"
