"""Settings shared by every IKO process, read from the environment (prefix ``IKO_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


def _repo_root() -> Path:
    # The default profiles folder lives in the repository; an installed deployment sets IKO_PROFILES_DIR.
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "deploy" / "config").is_dir():
            return parent
    return Path.cwd()


class CommonSettings(BaseSettings):
    """Broker, Redis and naming: everything the processes must agree on."""

    model_config = SettingsConfigDict(env_prefix="IKO_", extra="ignore")

    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Redis behind Sentinel: "host1:26379,host2:26379,..." (empty: connect to redis_url's host directly). With
    # Sentinels set, the primary of `redis_sentinel_master` is asked of them and followed through a failover;
    # redis_url then gives only the database number and the data nodes' user and password.
    redis_sentinels: str = ""
    redis_sentinel_master: str = "iko"
    # The Sentinels' own password (`requirepass` in sentinel.conf), when they have one.
    redis_sentinel_password: str | None = None
    # Prefix of every exchange, queue and Redis key: lets a test run or a second stack share one broker.
    namespace: str = "iko"
    log_level: str = "INFO"
    # Redis data of a request lives at most this long past its deadline, whatever happens to the assembler.
    retention_grace_s: float = 30.0
    delivery_limit: int = 5
    # The ops endpoint of every process: /metrics, and /livez /readyz (the gateway keeps its probes on its API
    # port). One port per process; the public Service does not expose it.
    ops_host: str = "0.0.0.0"
    ops_port: int = 9464
    metrics_enabled: bool = True
    # The consumer watchdog: how often it checks that every subscribed queue has its consumer, and how long one
    # may stay lost (with the broker connection up) before the process reports not-live.
    watchdog_interval_s: float = 5.0
    watchdog_grace_s: float = 30.0


class ProfileSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IKO_", extra="ignore")

    profiles_dir: Path = _repo_root() / "deploy" / "config" / "profiles"
