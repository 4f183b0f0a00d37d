"""Runs last (by name): after every end-to-end test, no identifier or name that was looked up is in any log line of
any process, and Redis holds no key of a completed request."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.infra import namespace_keys

pytestmark = pytest.mark.e2e

MOCK = Path(__file__).resolve().parents[2] / "sandbox" / "data" / "brp" / "personen-mock-test-data.json"
KVK_NUMBERS = ["69599084", "68750110", "90006577", "12345678"]


def looked_up_values() -> set[str]:
    """Every BSN of the data set (the e2e suite looks them all up) and every surname of six letters or more."""
    persons = json.loads(MOCK.read_text(encoding="utf-8"))
    values = {p["burgerservicenummer"] for p in persons}
    values |= {p["naam"]["geslachtsnaam"] for p in persons if len(p["naam"].get("geslachtsnaam") or "") >= 6}
    return values | set(KVK_NUMBERS)


def test_no_log_line_of_any_process_holds_an_identifier_or_a_name(stack):
    values = looked_up_values()
    assert len(values) > 1500
    pattern = re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))
    leaks: list[str] = []
    lines = 0
    for name, path in stack.log_paths().items():
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            lines += 1
            found = pattern.search(line)
            if found:
                leaks.append(f"{name}: {found.group()!r} in {line[:160]}")
    assert lines > 100, "the processes logged"
    assert leaks == [], f"{len(leaks)} leaks, e.g. {leaks[:3]}"


async def test_redis_holds_no_key_of_a_completed_request(stack, redis_url):
    keys = await namespace_keys(redis_url, stack.namespace)
    assert [k for k in keys if ":req:" in k] == []
