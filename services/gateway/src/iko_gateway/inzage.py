"""Inzage: every stored disclosure about one data subject, asked of the audit service through the broker.

The gateway never reaches the audit store itself: it publishes an ``InzageRequested`` on the audit service's own
queue, as it publishes a lookup, and waits on its reply queue for the ``InzageAnswered``. So the store's
credentials live in the audit service alone, and the gateway keeps one way of talking to the back end.

Two forms of the answer: the privacy officer's (every stored column: who, why, what, when) and the citizen's, as
the VNG Verwerkingenlogging model shows it on its inzage view — when, which processing, for which purpose, by which
organisation, which data — without the case worker's name, the system or the source.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from iko_shared.broker import ExchangePublisher
from iko_shared.contracts import Identifier, InzageAnswered, InzageRequested, StoredDisclosure
from iko_shared.logging import get_logger
from iko_shared.serialization import dump_model
from iko_shared.topology import Topology

from iko_gateway.lookups import publish_or_fail, wait_for_reply
from iko_gateway.replies import ReplyWaiter

log = get_logger()


class StoreUnavailableError(Exception):
    """The audit service answered that it could not read the store."""


class InzageService:
    def __init__(
        self, topology: Topology, publisher: ExchangePublisher, waiter: ReplyWaiter, reply_to: str, timeout_s: float
    ) -> None:
        self._queue = topology.audit_inzage.name
        self._publisher = publisher
        self._waiter = waiter
        self._reply_to = reply_to
        self._timeout = timeout_s

    async def ask(self, identifier: Identifier, page: int, page_size: int) -> InzageAnswered:
        request_id = str(uuid.uuid4())
        message = InzageRequested(
            request_id=request_id,
            identifier=identifier,
            page=page,
            page_size=page_size,
            reply_to=self._reply_to,
            deadline=time.time() + self._timeout,
        )
        waiter = self._waiter.expect(request_id)
        try:
            await publish_or_fail(
                self._publisher, dump_model(message), request_id=request_id, what="inzage", routing_key=self._queue
            )
            body = await wait_for_reply(waiter, request_id=request_id, timeout_s=self._timeout, what="inzage")
        finally:
            self._waiter.discard(request_id)
        answer = InzageAnswered.model_validate_json(body)
        if answer.error is not None:
            raise StoreUnavailableError(answer.error)
        return answer


def officer_view(answer: InzageAnswered) -> dict[str, Any]:
    """The privacy officer's answer: the stored disclosures as they are."""
    view: dict[str, Any] = orjson.loads(answer.model_dump_json(exclude={"schema_version", "error"}))
    return view


# The activity in words a citizen reads; the stored activity names the profile or the source (``brp: ...``).
CITIZEN_ACTIVITY = {"lookup": "raadplegen", "endpoint": "raadplegen", "search": "zoeken", "inzage": "inzage"}


def _citizen_row(disclosure: StoredDisclosure) -> dict[str, Any]:
    fields = sorted({f for source in disclosure.sources for f in source.fields})
    return {
        "tijdstip": disclosure.started_at.isoformat(),
        "verwerkingsactiviteit": CITIZEN_ACTIVITY.get(disclosure.kind, "raadplegen"),
        "doelbinding": disclosure.doelbinding,
        "verwerking": disclosure.verwerking,
        "uitvoerder": disclosure.uitvoerder,
        "vertrouwelijkheid": disclosure.vertrouwelijkheid,
        "gegevens": fields,
    }


def citizen_view(answer: InzageAnswered) -> dict[str, Any]:
    """The citizen's answer: no case worker's name, no system, no source."""
    return {
        "identifier": answer.identifier.model_dump(),
        "page": answer.page,
        "page_size": answer.page_size,
        "total": answer.total,
        "verwerkingen": [_citizen_row(d) for d in answer.disclosures],
    }
