"""Waiting for assembled views: one future per request in flight on this gateway replica."""

from __future__ import annotations

import asyncio


class ReplyWaiter:
    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[bytes]] = {}
        self.unmatched = 0

    def expect(self, request_id: str) -> asyncio.Future[bytes]:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        return future

    def resolve(self, request_id: str, body: bytes) -> bool:
        """Hand a view to its waiter; a second copy (a republished result) or a late one is ignored."""
        future = self._waiting.pop(request_id, None)
        if future is None or future.done():
            self.unmatched += 1
            return False
        future.set_result(body)
        return True

    def discard(self, request_id: str) -> None:
        self._waiting.pop(request_id, None)

    def __len__(self) -> int:
        return len(self._waiting)
