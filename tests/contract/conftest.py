from __future__ import annotations

from iko_shared.testing.contract_kit import contract_fixtures

from tests.contract.cases import CASES

case_and_simulator, case, simulator = contract_fixtures(CASES)
