"""The assembler's Coordinator over the real Redis: a fragment that starts relations is recorded and expanded in
one script call by the replica that registered its request, in two by any other, with the same outcome."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from iko_assembler.coordinator import Coordinator
from iko_assembler.store import RedisAssemblerStore
from iko_shared.contracts import FragmentForwarded, Identifier, LookupRequested

from tests.integration.test_assembler_store import ROOT, fragment, related_request, request

pytestmark = pytest.mark.integration

PARTNER = "999990408"


class Outbox:
    def __init__(self) -> None:
        self.replies: list[dict[str, Any]] = []
        self.forwards: list[tuple[str, FragmentForwarded]] = []
        self.lookups: list[LookupRequested] = []

    async def send_reply(self, reply_to: str, request_id: str, message: dict[str, Any] | FragmentForwarded) -> None:
        if isinstance(message, FragmentForwarded):
            self.forwards.append((reply_to, message))
        else:
            self.replies.append(message)

    async def send_lookup(self, request: LookupRequested) -> None:
        self.lookups.append(request)


class CountingStore(RedisAssemblerStore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extends = 0

    async def extend(self, *args: Any, **kwargs: Any) -> Any:
        self.extends += 1
        return await super().extend(*args, **kwargs)


@pytest.fixture
async def redis(redis_url):
    from iko_shared.redis_client import make_redis

    client = make_redis(redis_url)
    yield client
    await client.aclose()


def with_partner(req: LookupRequested, key: str = "brp"):
    f = fragment(req, key)
    return f.model_copy(update={"data": {"partners": [PARTNER]}})


@pytest.mark.parametrize("replica", ["registered it", "another"])
async def test_a_relation_is_asked_and_the_request_closes_with_its_branch(redis, namespace, replica):
    store = CountingStore(redis, namespace, grace_s=5.0, lease_s=0.3)
    outbox = Outbox()
    registering = Coordinator(store, outbox.send_reply, outbox.send_lookup)
    other = Coordinator(store, outbox.send_reply, outbox.send_lookup)
    receiving = registering if replica == "registered it" else other
    req = related_request()
    await registering.on_request(req)
    assert await receiving.on_fragment(fragment(req, "zgw")) == "recorded"
    outcome = await receiving.on_fragment(with_partner(req))
    assert outcome == ("expanded" if replica == "registered it" else "expand")
    assert store.extends == (0 if replica == "registered it" else 1), "one script call when the relations are known"
    [followup] = outbox.lookups
    assert followup.request_id == req.request_id
    assert [(q.key, q.identifier.value if q.identifier else None) for q in followup.queries] == [
        ("partners[0].brp", PARTNER),
        ("partners[0].zgw", PARTNER),
    ]
    assert followup.reply_to == req.reply_to
    assert outbox.replies == []
    for key in ("partners[0].brp", "partners[0].zgw"):
        await receiving.on_fragment(fragment(req, key))
    [answer] = outbox.replies
    assert answer["status"] == "complete"
    assert set(answer["sources"]) == {"brp", "zgw", "partners[0].brp", "partners[0].zgw"}
    assert answer["branches"]["partners[0]"]["identifier"]["value"] == PARTNER
    if replica == "registered it":
        assert len(registering._known) == 0, "a published request's relations are not kept"


@pytest.mark.parametrize("replica", ["registered it", "another"])
async def test_a_relation_leading_back_to_the_looked_up_person_does_not_ask_it_again(redis, namespace, replica):
    store = RedisAssemblerStore(redis, namespace, grace_s=5.0, lease_s=0.3)
    outbox = Outbox()
    registering = Coordinator(store, outbox.send_reply, outbox.send_lookup)
    receiving = registering if replica == "registered it" else Coordinator(store, outbox.send_reply, outbox.send_lookup)
    req = related_request()
    await registering.on_request(req)
    await receiving.on_fragment(fragment(req, "zgw"))
    # A record that names the looked-up person among their own partners: the relation selects the root BSN too.
    brp = fragment(req, "brp").model_copy(update={"data": {"partners": [ROOT, PARTNER]}})
    await receiving.on_fragment(brp)
    [followup] = outbox.lookups
    asked = [(q.source, q.operation, q.identifier.value if q.identifier else None) for q in followup.queries]
    assert asked == [("brp", "op", PARTNER), ("zgw", "op", PARTNER)]
    for key in ("partners[1].brp", "partners[1].zgw"):
        await receiving.on_fragment(fragment(req, key))
    [answer] = outbox.replies
    assert answer["status"] == "complete"
    assert set(answer["sources"]) == {"brp", "zgw", "partners[1].brp", "partners[1].zgw"}
    assert answer["branches"]["partners[0]"]["keys"] == [], "the branch to the root asks nothing of its own"


async def test_a_streamed_fragment_is_forwarded_with_whom_it_is_about(redis, namespace):
    store = RedisAssemblerStore(redis, namespace, grace_s=5.0, lease_s=0.3)
    outbox = Outbox()
    coordinator = Coordinator(store, outbox.send_reply, outbox.send_lookup)
    req = related_request().model_copy(update={"stream": True})
    await coordinator.on_request(req)
    root = Identifier(type="bsn", value=ROOT)
    partner = Identifier(type="bsn", value=PARTNER)
    await coordinator.on_fragment(with_partner(req).model_copy(update={"subject": root}))
    await coordinator.on_fragment(fragment(req, "zgw"))  # from a connector that names no subject
    await coordinator.on_fragment(fragment(req, "partners[0].brp").model_copy(update={"subject": partner}))
    forwarded = [(reply_to, f.key, f.seq, f.subject) for reply_to, f in outbox.forwards]
    assert forwarded == [
        (req.reply_to, "brp", 1, root),
        (req.reply_to, "zgw", 2, None),
        (req.reply_to, "partners[0].brp", 3, partner),
    ]


async def test_a_replica_holds_what_it_closed_until_forgotten_and_gives_it_up_when_its_publish_fails(redis, namespace):
    store = RedisAssemblerStore(redis, namespace, grace_s=5.0, lease_s=0.3)
    outbox = Outbox()
    coordinator = Coordinator(store, outbox.send_reply, outbox.send_lookup)
    published = request()
    await coordinator.on_request(published)
    await coordinator.on_fragment(fragment(published, "brp"))
    await coordinator.on_fragment(fragment(published, "zgw"))
    assert len(outbox.replies) == 1
    assert len(store.holdings) == 0, "published and forgotten: nothing left to renew"

    async def channel_away(*args: Any) -> None:
        raise ConnectionError("the channel is away")

    failing = Coordinator(store, channel_away, outbox.send_lookup)
    unpublished = request()
    await failing.on_request(unpublished)
    await failing.on_fragment(fragment(unpublished, "brp"))
    with pytest.raises(ConnectionError):
        await failing.on_fragment(fragment(unpublished, "zgw"))
    # Given up, not renewed: once its lease lapses, a sweep (this replica's own too) publishes it again.
    assert unpublished.request_id not in store.holdings
    for _ in range(100):
        again = (await store.sweep()).closed
        if again:
            break
        await asyncio.sleep(0.05)
    assert [c.request_id for c in again] == [unpublished.request_id]
