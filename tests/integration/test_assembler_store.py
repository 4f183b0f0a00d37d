"""The assembler's Redis state against the real Redis: arrival orders, duplicates, late fragments, deadlines,
exactly-once closing across replicas, and nothing left behind."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from datetime import UTC, datetime

import pytest
from iko_assembler.store import ChildQuery, RedisAssemblerStore
from iko_shared.contracts import FragmentProduced, Identifier, LookupRequested, RelationPlan, SourceQuery
from iko_shared.redis_client import make_redis

pytestmark = pytest.mark.integration

SOURCES = ("brp", "zgw")


def request(deadline_in: float = 5.0, sources=SOURCES) -> LookupRequested:
    now = time.time()
    return LookupRequested(
        request_id=str(uuid.uuid4()),
        profile="persoon",
        identifier=Identifier(type="bsn", value="999993653"),
        queries=[SourceQuery(key=s, source=s, operation="op") for s in sources],
        requested_at=now,
        deadline=now + deadline_in,
        reply_to="replies",
    )


def fragment(req: LookupRequested, key: str, status="ok") -> FragmentProduced:
    return FragmentProduced(
        request_id=req.request_id,
        key=key,
        source=key,
        status=status,
        data={"from": key},
        retrieved_at=datetime.now(UTC),
        duration_ms=1.0,
        deadline=req.deadline,
    )


@pytest.fixture
async def redis(redis_url):
    client = make_redis(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def store(redis, namespace):
    return RedisAssemblerStore(redis, namespace, grace_s=5.0, lease_s=0.3)


async def request_keys(redis, store) -> list[bytes]:
    return [k async for k in redis.scan_iter(match=store.request_prefix + "*")]


@pytest.mark.parametrize("order", list(itertools.permutations(["register", "brp", "zgw"])))
async def test_every_arrival_order_closes_once_with_all_sources(store, redis, order):
    req = request()
    closings = []
    for step in order:
        if step == "register":
            closed = (await store.register(req)).closed
        else:
            closed = (await store.record(fragment(req, step))).closed
        if closed is not None:
            closings.append(closed)
    assert len(closings) == 1
    closed = closings[0]
    assert closed.closed_by == "all_sources"
    assert set(closed.fragments) == {"brp", "zgw"}
    assert closed.fragments["brp"]["data"] == {"from": "brp"}
    assert closed.meta["reply_to"] == "replies"
    await store.finish(req.request_id)
    assert await request_keys(redis, store) == []


async def test_duplicates_are_no_ops_and_late_fragments_are_dropped(store):
    req = request()
    assert (await store.register(req)).closed is None
    assert (await store.register(req)).closed is None  # a redelivered request registers nothing twice
    recorded = await store.record(fragment(req, "brp"))
    assert (recorded.outcome, recorded.closed) == ("recorded", None)
    recorded = await store.record(fragment(req, "brp"))
    assert (recorded.outcome, recorded.closed) == ("duplicate", None)
    recorded = await store.record(fragment(req, "zgw"))
    assert recorded.outcome == "closed_now"
    assert recorded.closed is not None
    await store.finish(req.request_id)
    recorded = await store.record(fragment(req, "zgw"))
    assert (recorded.outcome, recorded.closed) == ("late", None)
    stats = await store.stats()
    assert stats["duplicate"] == 1
    assert stats["late"] == 1
    # A request redelivered after it closed does not open it again.
    assert (await store.register(req)).closed is None


async def test_deadline_fires_without_any_fragment(store, redis):
    req = request(deadline_in=0.2)
    assert (await store.register(req)).closed is None
    early = await store.sweep()
    assert early.closed == []
    assert early.next_due is not None
    assert early.next_due == pytest.approx(req.deadline, abs=0.01)
    await asyncio.sleep(0.25)
    swept = await store.sweep()
    assert [c.request_id for c in swept.closed] == [req.request_id]
    assert swept.closed[0].closed_by == "deadline"
    assert swept.closed[0].fragments == {}
    assert (await store.sweep()).closed == []  # claimed once
    await store.finish(req.request_id)
    assert await request_keys(redis, store) == []


async def test_fragment_after_deadline_closes_by_deadline_without_being_counted(store):
    req = request(deadline_in=0.1)
    await store.register(req)
    await store.record(fragment(req, "zgw"))
    await asyncio.sleep(0.15)
    recorded = await store.record(fragment(req, "brp"))
    assert recorded.outcome == "closed_now"
    assert recorded.closed is not None
    assert recorded.closed.closed_by == "deadline"
    assert set(recorded.closed.fragments) == {"zgw"}


@pytest.fixture
def other_replica(redis, namespace):
    """A second assembler replica's store on the same Redis and namespace."""
    return RedisAssemblerStore(redis, namespace, grace_s=5.0, lease_s=0.3)


async def closed_by(store: RedisAssemblerStore) -> LookupRequested:
    req = request()
    await store.register(req)
    await store.record(fragment(req, "brp"))
    assert (await store.record(fragment(req, "zgw"))).closed is not None
    return req


async def test_closed_but_unpublished_request_is_handed_out_again_after_its_lease(store, other_replica):
    req = await closed_by(store)
    # The replica that closed it "dies" here: no finish, no renewal.
    assert (await other_replica.sweep()).closed == []
    await asyncio.sleep(0.35)
    again = await other_replica.sweep()
    assert [c.request_id for c in again.closed] == [req.request_id]
    assert again.closed[0].redelivery
    assert set(again.closed[0].fragments) == {"brp", "zgw"}
    assert req.request_id in other_replica.holdings
    await other_replica.finish(req.request_id)
    assert req.request_id not in other_replica.holdings
    await asyncio.sleep(0.35)
    assert (await other_replica.sweep()).closed == []
    assert (await store.sweep()).closed == []


async def test_a_replica_that_renews_its_leases_keeps_its_requests_however_slow_its_publish(store, other_replica):
    req = await closed_by(store)
    assert store.holdings.current() == [req.request_id]
    # Three leases long, renewed every third of one: the other replica never takes it.
    until = time.monotonic() + 0.9
    while time.monotonic() < until:
        await store.renew(store.holdings.current())
        assert (await other_replica.sweep()).closed == []
        await asyncio.sleep(0.1)
    # It stops renewing (it died, or stalled longer than a lease): the other replica publishes it.
    await asyncio.sleep(0.35)
    assert [c.request_id for c in (await other_replica.sweep()).closed] == [req.request_id]


async def test_a_replica_does_not_publish_twice_what_it_still_holds_and_gives_up_what_it_releases(store):
    req = await closed_by(store)
    await asyncio.sleep(0.35)  # its lease lapsed (a stall) while its publish is still under way
    assert (await store.sweep()).closed == []
    store.release(req.request_id)  # the publish failed: given up, to be published by a sweep
    await asyncio.sleep(0.35)
    again = (await store.sweep()).closed
    assert [c.request_id for c in again] == [req.request_id]
    assert again[0].redelivery


async def test_renewing_a_forgotten_request_puts_nothing_back(store, redis):
    req = await closed_by(store)
    await store.finish(req.request_id)
    await store.renew([req.request_id])
    assert await redis.zscore(store._shared_keys[2], req.request_id) is None
    assert await request_keys(redis, store) == []


async def test_request_data_carries_a_ttl(store, redis):
    req = request(deadline_in=2.0)
    await store.register(req)
    await store.record(fragment(req, "brp"))
    ttl = await redis.pttl(store.request_prefix + req.request_id)
    assert 0 < ttl <= 2000 + 5000
    early = request(deadline_in=1.0)
    await store.record(fragment(early, "brp"))  # before its registration
    ttl = await redis.pttl(store.request_prefix + early.request_id)
    assert 0 < ttl <= 1000 + 5000


async def test_two_replicas_racing_close_each_request_exactly_once(redis, redis_url, namespace):
    other_client = make_redis(redis_url)
    replicas = [
        RedisAssemblerStore(redis, namespace, grace_s=5.0),
        RedisAssemblerStore(other_client, namespace, grace_s=5.0),
    ]
    requests = [request(sources=("brp", "kvk", "zgw")) for _ in range(200)]

    async def deliver(i: int, req: LookupRequested) -> list:
        steps = [("register", None), ("brp", None), ("kvk", None), ("zgw", None), ("brp", None)]
        results = []
        for n, (step, _) in enumerate(steps):
            replica = replicas[(i + n) % 2]
            if step == "register":
                results.append((await replica.register(req)).closed)
            else:
                results.append((await replica.record(fragment(req, step))).closed)
        return [r for r in results if r is not None]

    try:
        outcomes = await asyncio.gather(*(deliver(i, r) for i, r in enumerate(requests)))
        assert all(len(closed) == 1 for closed in outcomes)
        assert all(closed[0].closed_by == "all_sources" for closed in outcomes)
        await asyncio.gather(*(replicas[0].finish(r.request_id) for r in requests))
        assert await request_keys(redis, replicas[0]) == []
    finally:
        await other_client.aclose()


# -- relations: the expected set grows atomically -----------------------------------------------------------


def related_request(deadline_in: float = 5.0) -> LookupRequested:
    base = request(deadline_in)
    plan = RelationPlan(
        name="partners",
        from_key="brp",
        select=".partners[]",
        identifier_type="bsn",
        queries=[
            SourceQuery(key="brp", source="brp", operation="op"),
            SourceQuery(key="zgw", source="zgw", operation="op"),
        ],
    )
    return base.model_copy(update={"relations": [plan]})


def children(branch: str, value: str) -> list[ChildQuery]:
    return [
        ChildQuery(f"{branch}.{k}", {"source": k, "branch": branch}, f"{k}|op|bsn:{value}", expanding=False)
        for k in ("brp", "zgw")
    ]


async def test_a_relation_keeps_the_request_open_until_its_branches_answer(store, redis):
    req = related_request()
    await store.register(req)
    assert (await store.record(fragment(req, "zgw"))).outcome == "recorded"
    recorded = await store.record(fragment(req, "brp"))
    assert recorded.outcome == "expand"  # the last root fragment, but its relation is still to run
    assert recorded.meta is not None
    assert recorded.meta["relations"][0]["name"] == "partners"
    outcome, accepted, closed = await store.extend(
        req.request_id, "brp", children("partners[0]", "999990408"), {"partners[0]": {"relation": "partners"}}, []
    )
    assert (outcome, closed) == ("extended", None)
    assert accepted == ["partners[0].brp", "partners[0].zgw"]
    assert (await store.record(fragment(req, "partners[0].brp"))).outcome == "recorded"
    done = await store.record(fragment(req, "partners[0].zgw"))
    assert done.closed is not None
    assert set(done.closed.expected) == {"brp", "zgw", "partners[0].brp", "partners[0].zgw"}
    assert set(done.closed.branches) == {"partners[0]"}
    await store.finish(req.request_id)
    assert await request_keys(redis, store) == []


async def test_a_relation_selecting_nothing_closes_the_request(store):
    req = related_request()
    await store.register(req)
    await store.record(fragment(req, "zgw"))
    await store.record(fragment(req, "brp"))
    outcome, accepted, closed = await store.extend(req.request_id, "brp", [], {}, [])
    assert (outcome, accepted) == ("closed_now", [])
    assert closed is not None
    assert closed.closed_by == "all_sources"


async def test_extending_twice_or_after_close_asks_nothing(store):
    req = related_request()
    await store.register(req)
    await store.record(fragment(req, "brp"))
    first = await store.extend(req.request_id, "brp", children("partners[0]", "1"), {}, [])
    again = await store.extend(req.request_id, "brp", children("partners[0]", "1"), {}, [])
    assert first[0] == "extended"
    assert again == ("duplicate", [], None)


async def test_the_same_query_for_the_same_identifier_is_asked_once(store):
    req = related_request()
    await store.register(req)
    await store.record(fragment(req, "brp"))
    duplicated = children("partners[0]", "999990408") + children("partners[1]", "999990408")
    _, accepted, _ = await store.extend(req.request_id, "brp", duplicated, {}, [])
    assert accepted == ["partners[0].brp", "partners[0].zgw"]


async def test_a_branch_still_open_at_the_deadline_is_timeout_and_an_unexpanded_relation_is_named(store):
    req = related_request(deadline_in=0.3)
    await store.register(req)
    await store.record(fragment(req, "zgw"))
    await store.record(fragment(req, "brp"))
    await store.extend(req.request_id, "brp", children("partners[0]", "999990408"), {}, [])
    await store.record(fragment(req, "partners[0].brp"))
    await asyncio.sleep(0.35)
    [closed] = (await store.sweep()).closed
    assert closed.closed_by == "deadline"
    assert "partners[0].zgw" in closed.expected
    assert "partners[0].zgw" not in closed.fragments
    await store.finish(req.request_id)

    unexpanded = related_request(deadline_in=0.3)
    await store.register(unexpanded)
    await store.record(fragment(unexpanded, "brp"))
    await asyncio.sleep(0.35)
    [closed] = (await store.sweep()).closed
    assert closed.not_expanded == ["brp"]
    await store.finish(unexpanded.request_id)


async def test_an_early_fragment_that_starts_relations_is_expanded_at_registration(store):
    req = related_request()
    assert (await store.record(fragment(req, "brp"))).outcome == "early"
    registered = await store.register(req)
    assert [key for key, _ in registered.expand_now] == ["brp"]
    assert registered.expand_now[0][1]["data"] == {"from": "brp"}


async def test_streamed_requests_hand_out_a_sequence_and_the_reply_queue(store):
    req = request().model_copy(update={"stream": True})
    await store.register(req)
    first = await store.record(fragment(req, "brp"))
    second = await store.record(fragment(req, "zgw"))
    assert (first.seq, second.seq) == (1, 2)
    assert first.stream_to == second.stream_to == "replies"
    plain = request()
    await store.register(plain)
    assert (await store.record(fragment(plain, "brp"))).stream_to is None


async def test_finish_forgets_many_published_requests_in_one_call_and_only_those(store, redis):
    published, still_open = [request() for _ in range(3)], request()
    for req in [*published, still_open]:
        await store.register(req)
    for req in published:
        for key in SOURCES:
            await store.record(fragment(req, key))
    outbox = store._shared_keys[2]
    assert await redis.zcard(outbox) == 3, "closed, not yet known to be published"
    await store.finish(*(r.request_id for r in published))
    assert await request_keys(redis, store) == [(store.request_prefix + still_open.request_id).encode()]
    assert await redis.zcard(outbox) == 0
    await store.finish()  # nothing to forget: no call
    assert len(await request_keys(redis, store)) == 1


async def test_a_fragment_recorded_with_its_expansion_is_extended_in_the_same_call(store, redis):
    req = related_request()
    await store.register(req)
    assert (await store.record(fragment(req, "zgw"))).outcome == "recorded"
    expansion = (children("partners[0]", "999990408"), {"partners[0]": {"relation": "partners"}}, [])
    recorded = await store.record(fragment(req, "brp"), expansion)
    assert (recorded.outcome, recorded.closed, recorded.meta) == ("expanded", None, None)
    assert recorded.accepted == ["partners[0].brp", "partners[0].zgw"]
    again = await store.extend(req.request_id, "brp", children("partners[0]", "999990408"), {}, [])
    assert again == ("duplicate", [], None), "expanded once, whichever way"
    assert (await store.record(fragment(req, "partners[0].brp"))).outcome == "recorded"
    done = await store.record(fragment(req, "partners[0].zgw"))
    assert done.closed is not None
    assert set(done.closed.expected) == {"brp", "zgw", "partners[0].brp", "partners[0].zgw"}
    assert set(done.closed.branches) == {"partners[0]"}
    assert done.closed.not_expanded == []
    await store.finish(req.request_id)
    assert await request_keys(redis, store) == []


async def test_a_last_fragment_whose_expansion_selects_nothing_closes_in_the_same_call(store):
    req = related_request()
    await store.register(req)
    await store.record(fragment(req, "zgw"))
    recorded = await store.record(fragment(req, "brp"), ([], {}, []))
    assert recorded.outcome == "closed_now"
    assert recorded.closed is not None
    assert recorded.closed.closed_by == "all_sources"
    assert recorded.closed.not_expanded == []


async def test_an_expansion_for_a_fragment_that_starts_nothing_is_ignored(store):
    req = request()  # no relations: nothing expects an expansion from brp
    await store.register(req)
    recorded = await store.record(fragment(req, "brp"), (children("partners[0]", "1"), {}, []))
    assert recorded.outcome == "recorded"
    done = await store.record(fragment(req, "zgw"))
    assert done.closed is not None
    assert set(done.closed.expected) == {"brp", "zgw"}


# -- the root is asked once: a relation leading back to it asks nothing --------------------------------------

ROOT = "999993653"  # request()'s identifier


async def test_a_relation_leading_back_to_the_looked_up_person_asks_it_no_more(store, redis):
    req = related_request()
    await store.register(req)
    await store.record(fragment(req, "zgw"))
    assert (await store.record(fragment(req, "brp"))).outcome == "expand"
    selected = children("partners[0]", ROOT) + children("partners[1]", "999990408")
    branches = {"partners[0]": {"relation": "partners"}, "partners[1]": {"relation": "partners"}}
    outcome, accepted, closed = await store.extend(req.request_id, "brp", selected, branches, [])
    assert (outcome, closed) == ("extended", None)
    assert accepted == ["partners[1].brp", "partners[1].zgw"], "the root's brp and zgw are asked already"
    assert (await store.record(fragment(req, "partners[0].brp"))).outcome == "unexpected"
    assert (await store.record(fragment(req, "partners[1].brp"))).outcome == "recorded"
    done = await store.record(fragment(req, "partners[1].zgw"))
    assert done.closed is not None, "a child dropped as asked already is not waited for"
    assert done.closed.closed_by == "all_sources"
    assert set(done.closed.expected) == {"brp", "zgw", "partners[1].brp", "partners[1].zgw"}
    await store.finish(req.request_id)
    assert await request_keys(redis, store) == []


async def test_a_relation_selecting_only_the_looked_up_person_closes_the_request_at_once(store):
    req = related_request()
    await store.register(req)
    await store.record(fragment(req, "zgw"))
    recorded = await store.record(fragment(req, "brp"), (children("partners[0]", ROOT), {}, []))
    assert (recorded.outcome, recorded.accepted) == ("closed_now", [])
    assert recorded.closed is not None
    assert recorded.closed.closed_by == "all_sources"
    assert set(recorded.closed.expected) == {"brp", "zgw"}


async def test_an_early_fragment_leading_back_to_the_root_asks_it_no_more(store):
    req = related_request()
    await store.record(fragment(req, "zgw"))
    await store.record(fragment(req, "brp"))
    registered = await store.register(req)
    assert [key for key, _ in registered.expand_now] == ["brp"]
    outcome, accepted, closed = await store.extend(req.request_id, "brp", children("partners[0]", ROOT), {}, [])
    assert (outcome, accepted) == ("closed_now", [])
    assert closed is not None
    assert set(closed.expected) == {"brp", "zgw"}


async def test_a_root_query_about_someone_else_is_asked_once_for_that_one(store):
    other = "999990408"
    base = related_request()
    about_other = SourceQuery(key="zgw", source="zgw", operation="op", identifier=Identifier(type="bsn", value=other))
    req = base.model_copy(update={"queries": [base.queries[0], about_other]})
    await store.register(req)
    await store.record(fragment(req, "brp"))
    selected = children("partners[0]", other) + children("partners[1]", ROOT)
    _, accepted, _ = await store.extend(req.request_id, "brp", selected, {}, [])
    # The root zgw query was about `other`, not the request's identifier: only that question is asked already.
    assert accepted == ["partners[0].brp", "partners[1].zgw"]


async def test_a_search_marks_nothing_as_asked(store):
    req = related_request().model_copy(update={"identifier": None})
    await store.register(req)
    await store.record(fragment(req, "brp"))
    _, accepted, _ = await store.extend(req.request_id, "brp", children("partners[0]", ROOT), {}, [])
    assert accepted == ["partners[0].brp", "partners[0].zgw"]
