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
    # Prefix of every exchange, queue and Redis key: lets a test run or a second stack share one broker.
    namespace: str = "iko"
    log_level: str = "INFO"
    # Redis data of a request lives at most this long past its deadline, whatever happens to the assembler.
    retention_grace_s: float = 30.0
    delivery_limit: int = 5


class ProfileSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IKO_", extra="ignore")

    profiles_dir: Path = _repo_root() / "deploy" / "config" / "profiles"
