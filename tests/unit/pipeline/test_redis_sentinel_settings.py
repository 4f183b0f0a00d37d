"""IKO_REDIS_SENTINELS / IKO_REDIS_SENTINEL_MASTER / IKO_REDIS_SENTINEL_PASSWORD: parsing and the client made."""

from __future__ import annotations

import pytest
from iko_shared.redis_client import SentinelConfig, make_redis, parse_sentinels, sentinel_config
from iko_shared.settings import CommonSettings
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.sentinel import SentinelConnectionPool


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ()),
        ("  ", ()),
        ("h1:26379", (("h1", 26379),)),
        ("h1:26379, h2:26380 ,", (("h1", 26379), ("h2", 26380))),
        ("h1", (("h1", 26379),)),
        ("redis-sentinel.iko.svc:5000", (("redis-sentinel.iko.svc", 5000),)),
        ("[::1]:26381,[fe80::1]", (("::1", 26381), ("fe80::1", 26379))),
    ],
)
def test_parse_sentinels(value: str, expected: tuple[tuple[str, int], ...]) -> None:
    assert parse_sentinels(value) == expected


@pytest.mark.parametrize("value", ["h1:port", ":26379", "h1:0", "h1:70000", "::1:26379", "[::1", "[::1]x"])
def test_parse_sentinels_rejects(value: str) -> None:
    with pytest.raises(ValueError, match="IKO_REDIS_SENTINELS"):
        parse_sentinels(value)


def test_no_sentinels_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("IKO_REDIS_SENTINELS", "IKO_REDIS_SENTINEL_MASTER", "IKO_REDIS_SENTINEL_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    settings = CommonSettings()
    assert settings.redis_sentinels == ""
    assert settings.redis_sentinel_master == "iko"
    assert sentinel_config(settings) is None
    client = make_redis("redis://127.0.0.1:6379/2")
    assert type(client.connection_pool) is BlockingConnectionPool


def test_sentinel_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IKO_REDIS_SENTINELS", "s1:26379,s2:26379,s3:26379")
    monkeypatch.setenv("IKO_REDIS_SENTINEL_MASTER", "iko-redis")
    monkeypatch.setenv("IKO_REDIS_SENTINEL_PASSWORD", "sentinel-secret")
    config = sentinel_config(CommonSettings())
    assert config == SentinelConfig((("s1", 26379), ("s2", 26379), ("s3", 26379)), "iko-redis", "sentinel-secret")


def test_empty_master_name_is_refused() -> None:
    with pytest.raises(ValueError, match="IKO_REDIS_SENTINEL_MASTER"):
        sentinel_config(CommonSettings(redis_sentinels="s1", redis_sentinel_master=" "))


def test_empty_password_means_none() -> None:
    config = sentinel_config(CommonSettings(redis_sentinels="s1", redis_sentinel_password=""))
    assert config is not None
    assert config.password is None


def test_make_redis_follows_the_sentinels(monkeypatch: pytest.MonkeyPatch) -> None:
    # Made from the environment, as the gateway and the assembler make theirs; nothing is connected yet.
    monkeypatch.setenv("IKO_REDIS_SENTINELS", "s1:26379,s2:26380")
    monkeypatch.setenv("IKO_REDIS_SENTINEL_MASTER", "iko")
    monkeypatch.setenv("IKO_REDIS_SENTINEL_PASSWORD", "sp")
    client = make_redis("redis://user:data-secret@ignored-host:6379/4", max_connections=7, wait_s=1.5)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert isinstance(pool, BlockingConnectionPool)  # waits for a free connection, like the direct pool
    assert pool.service_name == "iko"
    assert pool.max_connections == 7
    assert pool.timeout == 1.5
    assert pool.connection_kwargs["db"] == 4
    assert pool.connection_kwargs["password"] == "data-secret"
    assert pool.connection_kwargs["username"] == "user"
    assert "host" not in pool.connection_kwargs
    sentinels = pool.sentinel_manager.sentinels
    assert [
        (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"]) for s in sentinels
    ] == [
        ("s1", 26379),
        ("s2", 26380),
    ]
    assert all(s.connection_pool.connection_kwargs["password"] == "sp" for s in sentinels)


def test_explicit_config_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IKO_REDIS_SENTINELS", "s1:26379")
    assert type(make_redis("redis://127.0.0.1:6379/0", sentinel=None).connection_pool) is BlockingConnectionPool
    client = make_redis("redis://127.0.0.1:6379/0", sentinel=SentinelConfig((("x", 1),), "m"))
    assert isinstance(client.connection_pool, SentinelConnectionPool)
    assert client.connection_pool.service_name == "m"
