"""Publishing a lookup and waiting for its view: the gateway's one use of the broker."""

from __future__ import annotations

import asyncio

from faststream.rabbit.publisher import RabbitPublisher
from iko_shared.contracts import Identifier, LookupRequested
from iko_shared.logging import get_logger
from iko_shared.profiles import Profile, ProfileCatalogue
from iko_shared.serialization import dump_model
from iko_shared.topology import Topology

from iko_gateway.replies import ReplyWaiter

log = get_logger()


class PublishFailedError(Exception):
    pass


class NoAnswerError(Exception):
    pass


class LookupService:
    def __init__(
        self,
        profiles: ProfileCatalogue,
        topology: Topology,
        publisher: RabbitPublisher,
        waiter: ReplyWaiter,
        reply_to: str,
        reply_grace_s: float,
    ) -> None:
        self.profiles = profiles
        self._topology = topology
        self._publisher = publisher
        self._waiter = waiter
        self._reply_to = reply_to
        self._grace = reply_grace_s

    async def lookup(
        self, request_id: str, profile: Profile, identifier: Identifier, timeout_ms: int | None, now: float
    ) -> bytes:
        timeout_s = profile.timeout.effective_ms(timeout_ms) / 1000
        queries = profile.queries(identifier)
        message = LookupRequested(
            request_id=request_id,
            profile=profile.name,
            identifier=identifier,
            queries=queries,
            requested_at=now,
            deadline=now + timeout_s,
            reply_to=self._reply_to,
        )
        future = self._waiter.expect(request_id)
        try:
            try:
                await self._publisher.publish(
                    dump_model(message),
                    headers=self._topology.lookup_headers(sorted({q.source for q in queries})),
                    content_type="application/json",
                    correlation_id=request_id,
                    persist=True,
                )
            except Exception as exc:
                log.warning("lookup.publish_failed", request_id=request_id, error=type(exc).__name__)
                raise PublishFailedError from exc
            try:
                return await asyncio.wait_for(future, timeout=timeout_s + self._grace)
            except TimeoutError as exc:
                log.warning("lookup.no_answer", request_id=request_id)
                raise NoAnswerError from exc
        finally:
            self._waiter.discard(request_id)
