"""One Redis client per process, with a pool that waits for a free connection instead of failing.

redis-py's default pool raises "Too many connections" under a burst; a service with many messages in flight
must queue for a connection, not lose the message.
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis


def make_redis(url: str, max_connections: int = 64, wait_s: float = 5.0) -> Redis:
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=wait_s)
    return Redis(connection_pool=pool)
