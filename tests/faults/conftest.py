"""Fixtures of the fault suite: the clustered infrastructure, started for the session and removed after it.

The suite is slow (a 3-node cluster takes ~30 s to form on two cores), so it runs only when asked for:
``make test-faults`` (``pytest tests/faults``), a path inside ``tests/faults``, ``-m faults`` or ``IKO_FAULTS=1``.
A plain ``pytest`` / ``make test`` deselects it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import rabbit_cluster as rc
from tests.faults import redis_sentinel as rs

HERE = Path(__file__).resolve().parent


def _asked_for(config: pytest.Config) -> bool:
    if os.environ.get("IKO_FAULTS") == "1" or "faults" in (config.option.markexpr or ""):
        return True
    for arg in config.args:
        path = Path(arg.split("::", 1)[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = [i for i in items if HERE in Path(str(i.path)).resolve().parents]
    for item in mine:
        item.add_marker(pytest.mark.faults)
    if mine and not _asked_for(config):
        config.hook.pytest_deselected(items=mine)
        keep = set(map(id, mine))
        items[:] = [i for i in items if id(i) not in keep]


@pytest.fixture(scope="session")
def rabbit_cluster() -> Iterator[rc.RabbitCluster]:
    """A running 3-node RabbitMQ cluster behind HAProxy (``.url``); removed at the end of the session."""
    ok, reason = rc.is_available()
    if not ok:
        pytest.skip(f"no RabbitMQ cluster here: {reason}")
    base = Path(tempfile.mkdtemp(prefix="iko-fault-rabbit-"))
    with rc.RabbitCluster.start(base) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[rs.RedisSentinel]:
    """Redis primary + replica + three Sentinels (master name ``iko``); removed at the end of the session."""
    ok, reason = rs.is_available()
    if not ok:
        pytest.skip(f"no Redis Sentinel setup here: {reason}")
    base = Path(tempfile.mkdtemp(prefix="iko-fault-redis-"))
    with rs.RedisSentinel.start(base) as setup:
        yield setup
