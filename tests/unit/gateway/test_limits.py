"""The per-caller in-flight cap as plain code."""

from __future__ import annotations

import pytest
from iko_gateway.limits import InFlightLimiter


def test_a_caller_gets_up_to_the_limit_and_another_caller_is_not_affected() -> None:
    limiter = InFlightLimiter(2)
    assert limiter.try_acquire("jwt:valtimo:u1")
    assert limiter.try_acquire("jwt:valtimo:u1")
    assert not limiter.try_acquire("jwt:valtimo:u1")
    assert limiter.held("jwt:valtimo:u1") == 2  # the refused one took nothing
    assert limiter.try_acquire("jwt:valtimo:u2")


def test_a_released_slot_can_be_taken_again_and_no_count_is_left_behind() -> None:
    limiter = InFlightLimiter(1)
    assert limiter.try_acquire("k")
    limiter.release("k")
    assert limiter.held("k") == 0
    assert limiter.try_acquire("k")
    limiter.release("k")
    limiter.release("k")  # one release too many does not make room for more
    assert limiter.try_acquire("k")
    assert not limiter.try_acquire("k")
    limiter.release("k")
    assert limiter._held == {}


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        InFlightLimiter(0)
