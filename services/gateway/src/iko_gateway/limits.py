"""How many requests one caller may have in flight at once, on this gateway replica.

A lookup holds its place at the connectors for as long as its slowest source takes; the connectors take only so
many at once (``IKO_CONNECTOR_PREFETCH``), shared by every caller. Without a cap, one caller with many slow
lookups in parallel fills them, and everyone else's lookups wait behind it until their deadlines pass. The
rate limit does not prevent that: it counts requests per minute, not requests at once.

The count is kept in this process's memory, so the cap is per replica: with N replicas behind a balancer one
caller may have up to N times the cap in flight. That is enough to keep one caller from filling the
connectors on its own, and needs no shared state or clean-up after a crashed replica (a Redis count would be
left too high by a replica that died holding slots).
"""

from __future__ import annotations


class InFlightLimiter:
    """At most ``limit`` slots per key at once; a key's count is dropped when its last slot is released."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._held: dict[str, int] = {}

    def held(self, key: str) -> int:
        return self._held.get(key, 0)

    def try_acquire(self, key: str) -> bool:
        """Takes a slot for ``key``: False, and nothing taken, when it already holds ``limit``."""
        held = self._held.get(key, 0)
        if held >= self.limit:
            return False
        self._held[key] = held + 1
        return True

    def release(self, key: str) -> None:
        held = self._held.get(key, 0)
        if held <= 1:
            self._held.pop(key, None)
        else:
            self._held[key] = held - 1
