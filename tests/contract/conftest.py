from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.cases import CASES
from tests.contract.kit import ConnectorCase, Simulator, serve_simulator


@pytest.fixture(scope="session", params=CASES, ids=str)
def case_and_simulator(request: pytest.FixtureRequest) -> Iterator[tuple[ConnectorCase, Simulator]]:
    case: ConnectorCase = request.param
    with serve_simulator(case.make_simulator()) as simulator:
        yield case, simulator


@pytest.fixture
def case(case_and_simulator: tuple[ConnectorCase, Simulator]) -> ConnectorCase:
    return case_and_simulator[0]


@pytest.fixture
def simulator(case_and_simulator: tuple[ConnectorCase, Simulator]) -> Iterator[Simulator]:
    simulator = case_and_simulator[1]
    simulator.reset()
    yield simulator
    simulator.reset()
