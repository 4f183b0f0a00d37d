"""One Redis client per process, with a pool that waits for a free connection instead of failing.

redis-py's default pool raises "Too many connections" under a burst; a service with many messages in flight
must queue for a connection, not lose the message.

Redis behind Sentinel (``IKO_REDIS_SENTINELS=host1:26379,host2:26379`` and ``IKO_REDIS_SENTINEL_MASTER=iko``,
optionally ``IKO_REDIS_SENTINEL_PASSWORD``): the client asks the Sentinels for the primary and, when the primary
fails over, drops its connections to the old one and asks again, so every service that uses Redis follows a
failover without restarting. ``IKO_REDIS_URL`` then gives only the database number and the data nodes' user and
password (its host and port are not used).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import parse_url
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

from iko_shared.settings import CommonSettings

DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelConfig:
    """Where the Sentinels are and which primary (master name) to follow."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    password: str | None = None


def parse_sentinels(value: str) -> tuple[tuple[str, int], ...]:
    """``"h1:26379, h2, [::1]:26380"`` -> ``(("h1", 26379), ("h2", 26379), ("::1", 26380))``; ``""`` -> ``()``."""
    out: list[tuple[str, int]] = []
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            continue
        if item.startswith("["):  # [IPv6]:port
            host, sep, rest = item[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise ValueError(f"IKO_REDIS_SENTINELS: bad address {item!r} (expected [ipv6]:port)")
            port_s = rest[1:]
        elif item.count(":") > 1:
            raise ValueError(f"IKO_REDIS_SENTINELS: write an IPv6 address as [addr]:port, not {item!r}")
        else:
            host, _, port_s = item.partition(":")
        if not host:
            raise ValueError(f"IKO_REDIS_SENTINELS: no host in {item!r}")
        try:
            port = int(port_s) if port_s else DEFAULT_SENTINEL_PORT
        except ValueError:
            raise ValueError(f"IKO_REDIS_SENTINELS: bad port in {item!r}") from None
        if not 0 < port < 65536:
            raise ValueError(f"IKO_REDIS_SENTINELS: port out of range in {item!r}")
        out.append((host, port))
    return tuple(out)


def sentinel_config(settings: CommonSettings) -> SentinelConfig | None:
    """The Sentinel setup the settings ask for, or None for a direct connection to ``redis_url``."""
    sentinels = parse_sentinels(settings.redis_sentinels)
    if not sentinels:
        return None
    master = settings.redis_sentinel_master.strip()
    if not master:
        raise ValueError("IKO_REDIS_SENTINEL_MASTER must name the primary when IKO_REDIS_SENTINELS is set")
    return SentinelConfig(sentinels, master, settings.redis_sentinel_password or None)


class _BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's pool (finds the primary, follows a failover) that waits for a free connection like ours."""


def make_redis(
    url: str,
    max_connections: int = 64,
    wait_s: float = 5.0,
    *,
    sentinel: SentinelConfig | Literal["env"] | None = "env",
) -> Redis:
    """The process's Redis client. ``sentinel="env"`` (default): Sentinel if ``IKO_REDIS_SENTINELS`` says so."""
    config = sentinel_config(CommonSettings()) if isinstance(sentinel, str) else sentinel
    if config is None:
        pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=wait_s)
        return Redis(connection_pool=pool)
    # The data nodes' database and credentials come from the URL; their address from the Sentinels.
    parsed: dict[str, Any] = dict(parse_url(url))
    node_kwargs = {k: parsed[k] for k in ("db", "username", "password") if parsed.get(k) is not None}
    sentinel_kwargs: dict[str, Any] = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
    if config.password:
        sentinel_kwargs["password"] = config.password
    manager = Sentinel(list(config.sentinels), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
    client: Redis = manager.master_for(
        config.master,
        connection_pool_class=_BlockingSentinelConnectionPool,
        max_connections=max_connections,
        timeout=wait_s,
        **node_kwargs,
    )
    return client
