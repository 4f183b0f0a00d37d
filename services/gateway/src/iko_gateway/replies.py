"""Waiting for assembled views: one waiter per request in flight on this gateway replica.

A plain lookup waits for its view; a streamed one also receives every fragment as the assembler records it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class Waiter:
    view: asyncio.Future[bytes]
    # Fragments of a streamed lookup, in the order they arrive; None when the lookup is not streamed.
    fragments: asyncio.Queue[bytes] | None = None
    done: bool = field(default=False)


class ReplyWaiter:
    def __init__(self) -> None:
        self._waiting: dict[str, Waiter] = {}
        self.unmatched = 0

    def expect(self, request_id: str, stream: bool = False) -> Waiter:
        loop = asyncio.get_running_loop()
        waiter = Waiter(view=loop.create_future(), fragments=asyncio.Queue() if stream else None)
        self._waiting[request_id] = waiter
        return waiter

    def resolve(self, request_id: str, body: bytes) -> bool:
        """Hand a view to its waiter; a second copy (a republished result) or a late one is ignored."""
        waiter = self._waiting.pop(request_id, None)
        if waiter is None or waiter.view.done():
            self.unmatched += 1
            return False
        waiter.view.set_result(body)
        return True

    def forward(self, request_id: str, body: bytes) -> bool:
        """Hand a recorded fragment to a streaming waiter."""
        waiter = self._waiting.get(request_id)
        if waiter is None or waiter.fragments is None:
            self.unmatched += 1
            return False
        waiter.fragments.put_nowait(body)
        return True

    def discard(self, request_id: str) -> None:
        self._waiting.pop(request_id, None)

    def __len__(self) -> int:
        return len(self._waiting)
