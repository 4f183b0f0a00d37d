from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The stack launcher lives in scripts/ (stdlib only); the end-to-end tests drive it.
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from tests.infra import drop_namespace, new_namespace, service_urls  # noqa: E402


@pytest.fixture(scope="session")
def infra_urls() -> Iterator[tuple[str, str]]:
    with service_urls() as urls:
        yield urls


@pytest.fixture(scope="session")
def rabbitmq_url(infra_urls: tuple[str, str]) -> str:
    return infra_urls[0]


@pytest.fixture(scope="session")
def redis_url(infra_urls: tuple[str, str]) -> str:
    return infra_urls[1]


@pytest.fixture
async def namespace(rabbitmq_url: str, redis_url: str) -> AsyncIterator[str]:
    ns = new_namespace()
    yield ns
    # Every registered source's queues: a test may have declared any of them.
    await drop_namespace(rabbitmq_url, redis_url, ns)
