"""The BRP connector under contract (Haal Centraal BRP Personen Bevragen)."""

from __future__ import annotations

from typing import Any

from iko_brp_connector.source import BrpSettings, BrpSource
from iko_sandbox.brp.app import create_brp_app
from iko_shared.contracts import FragmentProduced
from iko_shared.testing.contract_kit import ConnectorCase, Scenario
from pydantic import SecretStr

from tests.contract.cases.common import API_KEY, BSN, UNKNOWN_BSN, http_status


def brp_source(base_url: str, /, **overrides: Any) -> tuple[BrpSource, BrpSettings]:
    settings = BrpSettings(**{"base_url": base_url, "api_key": SecretStr(API_KEY), "batch_window_ms": 2, **overrides})
    return BrpSource(settings), settings


def _brp_person(fragment: FragmentProduced) -> None:
    person = fragment.data
    assert person["burgerservicenummer"] == "999993653"
    assert person["naam"]["geslachtsnaam"]
    assert set(person) <= {"burgerservicenummer", "naam", "geboorte"}, "only the fields asked for"


def _brp_found_some(fragment: FragmentProduced) -> None:
    assert fragment.data["personen"], "the search finds the test persons"
    assert all("burgerservicenummer" in p for p in fragment.data["personen"])


BRP = ConnectorCase(
    source="brp",
    make_source=brp_source,
    make_simulator=lambda: create_brp_app(api_key=API_KEY),
    happy=Scenario(
        "raadpleeg",
        "RaadpleegMetBurgerservicenummer",
        BSN,
        fields=["burgerservicenummer", "naam", "geboorte"],
        check=_brp_person,
    ),
    not_found=Scenario(
        "unknown bsn", "RaadpleegMetBurgerservicenummer", UNKNOWN_BSN, fields=["naam"], status="not_found"
    ),
    errors=[
        # The BRP API gateway refuses a call without the right X-API-KEY: 401 problem+json "authentication".
        Scenario(
            "missing X-API-KEY",
            "RaadpleegMetBurgerservicenummer",
            BSN,
            fields=["naam"],
            settings={"api_key": None},
            status="error",
            error_code="authentication",
            check=http_status(401),
        ),
        Scenario(
            "wrong X-API-KEY",
            "RaadpleegMetBurgerservicenummer",
            BSN,
            fields=["naam"],
            settings={"api_key": SecretStr("not-the-brp-key")},
            status="error",
            error_code="authentication",
            check=http_status(401),
        ),
        Scenario(
            "unknown field",
            "RaadpleegMetBurgerservicenummer",
            BSN,
            fields=["bestaatNiet"],
            status="error",
            error_code="paramsValidation",
        ),
        Scenario(
            "automatically delivered field",
            "RaadpleegMetBurgerservicenummer",
            BSN,
            fields=["inOnderzoek"],
            status="error",
            error_code="paramsValidation",
        ),
    ],
    searches=[
        Scenario(
            "geslachtsnaam en geboortedatum",
            "ZoekMetGeslachtsnaamEnGeboortedatum",
            params={"geslachtsnaam": "Ven-Van Roedelrode tot Broekzucht", "geboortedatum": "1975-07-07"},
            fields=["burgerservicenummer", "naam"],
            check=_brp_found_some,
        ),
        Scenario(
            "postcode en huisnummer",
            "ZoekMetPostcodeEnHuisnummer",
            params={"postcode": "7511AG", "huisnummer": 144},
            fields=["burgerservicenummer"],
            check=_brp_found_some,
        ),
        Scenario(
            "search without result",
            "ZoekMetGeslachtsnaamEnGeboortedatum",
            params={"geslachtsnaam": "Bestaatnietvanachter", "geboortedatum": "1901-01-01"},
            fields=["burgerservicenummer"],
            status="not_found",
        ),
    ],
)

CASE = BRP
