import asyncio

from iko_gateway.replies import ReplyWaiter


async def test_each_request_is_resolved_once_and_copies_are_ignored():
    waiter = ReplyWaiter()
    future = waiter.expect("a").view
    assert waiter.resolve("a", b"first")
    assert not waiter.resolve("a", b"second")  # a republished view after a replica died
    assert await future == b"first"
    assert waiter.unmatched == 1
    assert len(waiter) == 0


async def test_replies_for_unknown_or_abandoned_requests_are_counted_not_kept():
    waiter = ReplyWaiter()
    waiter.expect("gone")
    waiter.discard("gone")  # the caller gave up
    assert not waiter.resolve("gone", b"late")
    assert not waiter.resolve("never", b"x")
    assert waiter.unmatched == 2
    assert len(waiter) == 0


async def test_waiters_are_independent():
    waiter = ReplyWaiter()
    futures = {rid: waiter.expect(rid).view for rid in "abc"}
    for rid in "cab":
        waiter.resolve(rid, rid.encode())
    results = await asyncio.gather(*futures.values())
    assert results == [b"a", b"b", b"c"]


async def test_a_streamed_request_receives_its_fragments_in_order_then_its_view():
    waiter = ReplyWaiter()
    streamed = waiter.expect("s", stream=True)
    plain = waiter.expect("p")
    assert streamed.fragments is not None
    assert waiter.forward("s", b"1")
    assert waiter.forward("s", b"2")
    assert not waiter.forward("p", b"x"), "a plain lookup takes no fragments"
    waiter.resolve("s", b"view")
    assert [streamed.fragments.get_nowait(), streamed.fragments.get_nowait()] == [b"1", b"2"]
    assert await streamed.view == b"view"
    assert not plain.view.done()


def test_fragments_are_put_back_in_the_order_they_were_recorded():
    from iko_gateway.lookups import InOrder

    def frag(seq: int) -> bytes:
        return b'{"seq": %d, "key": "k%d"}' % (seq, seq)

    ordered = InOrder()
    assert ordered.add(frag(2)) == []
    assert ordered.add(frag(3)) == []
    assert ordered.add(frag(1)) == [frag(1), frag(2), frag(3)]
    assert ordered.add(frag(5)) == []
    assert ordered.flush() == [frag(5)], "one still missing when the answer comes is skipped"


def test_a_fragment_whose_forward_is_overtaken_by_the_answer_is_sent_from_the_answer():
    import orjson
    from iko_gateway.lookups import InOrder

    ordered = InOrder()
    assert ordered.add(b'{"seq": 1, "key": "brp"}') == [b'{"seq": 1, "key": "brp"}']
    view = orjson.dumps(
        {
            "request_id": "r",
            "sources": {
                "brp": {"status": "ok"},
                "zgw": {"status": "ok", "data": [1]},
                "kvk": {"status": "timeout"},
            },
        }
    )
    [late] = ordered.flush(view)
    assert orjson.loads(late) == {"request_id": "r", "key": "zgw", "seq": 2, "result": {"status": "ok", "data": [1]}}
