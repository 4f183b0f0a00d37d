"""The contract every source connector keeps, run against each connector and its simulator.

Import it into a test module (``from iko_shared.testing.contract_suite import *``) next to a conftest that makes
the fixtures with ``contract_kit.contract_fixtures``: every test here then runs for every case.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest

from iko_shared.connector import FETCH_DEADLINE, BreakerState, CircuitBreaker, RetryPolicy
from iko_shared.connector.fragments import fetch_fragment
from iko_shared.connector.source import FetchContext
from iko_shared.contracts import FragmentProduced
from iko_shared.testing.contract_kit import (
    ConnectorCase,
    FlakyTransport,
    Harness,
    Scenario,
    Simulator,
    by,
    lookup_for,
)

__all__ = [
    "harness",
    "test_5xx_is_retried_until_the_source_answers",
    "test_a_200_that_breaks_the_api_is_an_error_never_an_answer",
    "test_a_bsn_travels_in_no_url_only_in_the_body",
    "test_a_caller_whose_input_makes_the_source_fail_cannot_open_the_circuit_for_the_others",
    "test_a_caller_with_short_deadlines_cannot_open_the_circuit_for_the_others",
    "test_circuit_opens_while_the_source_is_down_and_closes_when_it_is_back",
    "test_documented_errors",
    "test_hanging_source_times_out_at_the_deadline",
    "test_happy_path",
    "test_not_found",
    "test_refused_connections_are_an_unreachable_error",
    "test_retries_stop_at_the_deadline",
    "test_searches",
    "test_slow_source_within_the_deadline_still_answers",
    "test_source_failure_is_an_error_fragment_with_the_sources_own_answer",
]


def assert_outcome(fragment: FragmentProduced | None, scenario: Scenario) -> None:
    assert fragment is not None, f"{scenario.name}: no fragment published"
    assert fragment.status == scenario.status, (scenario.name, fragment.error)
    if scenario.error_code is not None:
        assert fragment.error is not None
        assert fragment.error.code == scenario.error_code
    if scenario.check is not None:
        scenario.check(fragment)


@pytest.fixture
async def harness(case: ConnectorCase, simulator: Simulator) -> AsyncIterator[Harness]:
    running = Harness(case, simulator)
    yield running
    await running.aclose()


async def test_happy_path(harness: Harness, case: ConnectorCase) -> None:
    fragment = await harness.run(case.happy)
    assert_outcome(fragment, case.happy)
    assert fragment is not None
    assert fragment.source == case.source
    assert fragment.duration_ms > 0


async def test_not_found(harness: Harness, case: ConnectorCase) -> None:
    assert_outcome(await harness.run(case.not_found), case.not_found)


async def test_documented_errors(harness: Harness, case: ConnectorCase) -> None:
    for scenario in case.errors:
        assert_outcome(await harness.run(scenario), scenario)


async def test_searches(harness: Harness, case: ConnectorCase) -> None:
    for scenario in case.searches:
        assert_outcome(await harness.run(scenario), scenario)


async def test_a_bsn_travels_in_no_url_only_in_the_body(
    harness: Harness, case: ConnectorCase, simulator: Simulator
) -> None:
    # URLs end up in the source's access logs (and every proxy's on the way): a BSN must never be in one.
    if case.bsn_in_url_accepted_because:
        pytest.skip(f"{case.source} takes the BSN in the URL: {case.bsn_in_url_accepted_because}")
    scenarios = [
        s
        for s in (case.happy, case.not_found, *case.errors, *case.searches)
        if s.identifier is not None and s.identifier.type == "bsn"
    ]
    if not scenarios:
        pytest.skip(f"{case.source} is never asked with a BSN")
    for scenario in scenarios:
        assert scenario.identifier is not None
        bsn = scenario.identifier.value
        simulator.reset()
        await harness.run(scenario)
        received = simulator.received()
        assert all(bsn not in f"{r['path']}?{r['query']}" for r in received), scenario.name
        if scenario in (case.happy, case.not_found):
            assert any(bsn in json.dumps(r["json"]) for r in received), f"{scenario.name}: the BSN went in a body"


async def test_source_failure_is_an_error_fragment_with_the_sources_own_answer(
    harness: Harness, case: ConnectorCase, simulator: Simulator
) -> None:
    simulator.set_behaviour("error")
    fragment = await harness.run(case.happy)
    assert fragment is not None
    assert fragment.status == "error"
    assert fragment.error is not None
    assert fragment.error.code != "internal_error"
    assert (fragment.error.details or {}).get("status") == 500


@pytest.mark.parametrize("misbehaviour", ["garbage", "wrong_type", "broken"])
async def test_a_200_that_breaks_the_api_is_an_error_never_an_answer(
    harness: Harness, case: ConnectorCase, simulator: Simulator, misbehaviour: str
) -> None:
    """Not JSON, an HTML page, JSON of the wrong shape: an error fragment naming it, never ``ok`` or
    ``not_found`` (which would tell the caller the source knows nothing), never a crash of the runtime."""
    simulator.set_behaviour(misbehaviour)
    fragment = await harness.run(case.happy)
    assert fragment is not None
    assert fragment.status == "error", f"{misbehaviour}: {fragment.status} {fragment.data!r}"
    assert fragment.error is not None
    assert fragment.error.code == "invalid_response", fragment.error


async def test_refused_connections_are_an_unreachable_error(
    harness: Harness, case: ConnectorCase, simulator: Simulator
) -> None:
    simulator.set_behaviour("refuse")
    fragment = await harness.run(case.happy)
    assert fragment is not None
    assert (fragment.status, fragment.error.code if fragment.error else None) == ("error", "unreachable")


async def test_hanging_source_times_out_at_the_deadline(
    harness: Harness, case: ConnectorCase, simulator: Simulator
) -> None:
    simulator.set_behaviour("hang")
    started = time.monotonic()
    # Through the runtime: nothing is published after the deadline, and nothing waits past it.
    assert await harness.run(case.happy, deadline_s=0.3) is None
    assert 0.25 <= time.monotonic() - started < 0.5
    # The adapter's own outcome: a timeout error.
    request = lookup_for(case, case.happy, deadline_s=0.3)
    token = FETCH_DEADLINE.set(request.deadline)
    try:
        ctx = FetchContext(harness.client, request.queries[0], request, timeout=0.3)
        fragment = await fetch_fragment(harness.source, ctx)
    finally:
        FETCH_DEADLINE.reset(token)
    assert fragment.status == "error"
    assert fragment.error is not None
    assert fragment.error.code == "timeout"


async def test_slow_source_within_the_deadline_still_answers(
    harness: Harness, case: ConnectorCase, simulator: Simulator
) -> None:
    simulator.set_behaviour("ok", latency_ms=150)
    assert_outcome(await harness.run(case.happy, deadline_s=2.0), case.happy)


async def test_5xx_is_retried_until_the_source_answers(case: ConnectorCase, simulator: Simulator) -> None:
    flaky = FlakyTransport(failures=2, status=503)
    harness = Harness(case, simulator, policy=RetryPolicy(max_attempts=3, base_delay_s=0.01), inner=flaky)
    try:
        fragment = await harness.run(case.happy)
    finally:
        await harness.aclose()
    assert_outcome(fragment, case.happy)
    assert flaky.seen >= 3


async def test_retries_stop_at_the_deadline(case: ConnectorCase, simulator: Simulator) -> None:
    flaky = FlakyTransport(failures=100, status=503)
    harness = Harness(case, simulator, policy=RetryPolicy(max_attempts=50, base_delay_s=0.05), inner=flaky)
    started = time.monotonic()
    try:
        fragment = await harness.run(case.happy, deadline_s=0.4)
    finally:
        await harness.aclose()
    assert time.monotonic() - started < 0.5
    assert 2 <= flaky.seen < 50
    # Whatever came last before the deadline is reported; nothing is published after it.
    assert fragment is None or (fragment.status == "error" and fragment.error is not None)


def state_of(breaker: CircuitBreaker) -> BreakerState:
    # Read through a call: after ``assert breaker.state is OPEN`` mypy would take the state for OPEN for good.
    return breaker.state


async def test_circuit_opens_while_the_source_is_down_and_closes_when_it_is_back(
    case: ConnectorCase, simulator: Simulator
) -> None:
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_s=0.3)
    harness = Harness(case, simulator, policy=RetryPolicy(max_attempts=1), breaker=breaker)
    try:
        simulator.set_behaviour("error")
        # A source that fails every caller: three callers' lookups fail, and the circuit opens.
        for caller in ("client-a", "client-b", "client-c"):
            fragment = await harness.run(by(caller, case.happy))
            assert fragment is not None
            assert fragment.status == "error"
        assert state_of(breaker) is BreakerState.OPEN
        calls_before = len(simulator.received())
        fragment = await harness.run(by("client-d", case.happy))
        assert fragment is not None
        assert fragment.error is not None
        assert fragment.error.code == "circuit_open"
        assert fragment.duration_ms < 50
        assert len(simulator.received()) == calls_before, "an open circuit does not call the source"

        simulator.set_behaviour("ok")
        await asyncio.sleep(0.35)
        assert_outcome(await harness.run(case.happy), case.happy)
        assert state_of(breaker) is BreakerState.CLOSED
    finally:
        await harness.aclose()


def attacked_breaker(judged: bool) -> CircuitBreaker:
    """The production breaker (``judged``), or one that counts every failure alike, as the breaker once did."""
    if judged:
        return CircuitBreaker()
    return CircuitBreaker(min_callers=1, min_timeout_budget_s=0.0)


def shut_out(fragment: FragmentProduced | None) -> bool:
    return fragment is not None and fragment.error is not None and fragment.error.code == "circuit_open"


@pytest.mark.parametrize("judged", [True, False], ids=["breaker", "without-the-rule"])
async def test_a_caller_with_short_deadlines_cannot_open_the_circuit_for_the_others(
    case: ConnectorCase, simulator: Simulator, judged: bool
) -> None:
    # The probe's attack: lookups with timeout_ms 60 against a source that answers in 150 ms.
    breaker = attacked_breaker(judged)
    harness = Harness(case, simulator, policy=RetryPolicy(max_attempts=1), breaker=breaker)
    try:
        simulator.set_behaviour("ok", latency_ms=150)
        for n in range(8):
            # From two callers: a short deadline says nothing of the source, whoever has it.
            attack = await harness.run(by(f"attacker-{n % 2}", case.happy), deadline_s=0.06)
            assert attack is None or shut_out(attack)
        victim = await harness.run(by("victim", case.happy), deadline_s=2.0)
    finally:
        await harness.aclose()
    if not judged:
        assert shut_out(victim), "the attack is real"
        return
    assert_outcome(victim, case.happy)
    assert state_of(breaker) is BreakerState.CLOSED


@pytest.mark.parametrize("judged", [True, False], ids=["breaker", "without-the-rule"])
async def test_a_caller_whose_input_makes_the_source_fail_cannot_open_the_circuit_for_the_others(
    case: ConnectorCase, simulator: Simulator, judged: bool
) -> None:
    # The source fails for the attacker's input (as KVK answers 500 for some numbers; see test_kvk_connector for
    # the real ones), again and again, while the victim's lookups are answered.
    breaker = attacked_breaker(judged)
    harness = Harness(case, simulator, policy=RetryPolicy(max_attempts=1), breaker=breaker)
    victims: list[FragmentProduced | None] = []
    try:
        for _ in range(3):
            simulator.set_behaviour("error")
            for _ in range(4):
                attack = await harness.run(by("attacker", case.happy))
                assert attack is not None
                assert attack.error is not None
            simulator.set_behaviour("ok")
            victims.append(await harness.run(by("victim", case.happy)))
    finally:
        await harness.aclose()
    if not judged:
        assert any(shut_out(v) for v in victims), "the attack is real"
        return
    for victim in victims:
        assert_outcome(victim, case.happy)
    assert state_of(breaker) is BreakerState.CLOSED
