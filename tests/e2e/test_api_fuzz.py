"""schemathesis against the gateway's own OpenAPI document, as a development-mode caller with a purpose: no
input it generates may give a 5xx or an answer that breaks the document. Bounded, so it stays a test."""

from __future__ import annotations

import collections

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.e2e.conftest import DEV_HEADERS

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 25
KNOWN = [
    {"profile": "persoon", "name": "persoon", "connector": "brp", "operation": "RaadpleegMetBurgerservicenummer"},
    {"profile": "bedrijf", "name": "bedrijf", "connector": "kvk", "operation": "zoeken"},
    {"profile": "persoon", "name": "persoon", "connector": "zgw", "operation": "zaken"},
]
# Statuses the gateway answers on purpose when a source or the broker fails; never for bad input.
UPSTREAM = {502, 503, 504}


def test_no_generated_input_breaks_the_gateway(stack):
    schema = schemathesis.openapi.from_url(f"{stack.gateway_url}/openapi.json")
    calls: list[int] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy(), known=st.sampled_from(KNOWN), use_known=st.booleans())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: schemathesis.Case, known: dict[str, str], use_known: bool) -> None:
            # Half the cases name a real profile and connector, or nearly all would stop at 404.
            if use_known and case.path_parameters:
                for name, value in known.items():
                    if name in case.path_parameters:
                        case.path_parameters[name] = value
            response = case.call(headers=DEV_HEADERS, timeout=15)
            calls.append(response.status_code)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500 or response.status_code in UPSTREAM, (
                f"{where} -> {response.status_code}: {response.text[:200]}"
            )
            case.validate_response(response, checks=[response_schema_conformance, content_type_conformance])

        exercise()
    assert operations >= 8, "every route of the gateway is in its document"
    assert len(calls) >= 5 * operations, "the fuzzer reached the gateway"
    assert any(200 <= status < 300 for status in calls), "some generated input was valid"
    statuses = collections.Counter(calls)
    assert statuses[200] >= 10, f"valid input reached the sources: {sorted(statuses.items())}"
