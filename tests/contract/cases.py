"""The connectors under contract: how to build each, its simulator, and the scenarios its source documents."""

from __future__ import annotations

from iko_brp_connector.source import BrpSettings, BrpSource
from iko_kvk_connector.source import KvkSettings, KvkSource
from iko_sandbox.brp.app import create_brp_app
from iko_sandbox.kvk.app import create_kvk_app
from iko_sandbox.zgw.app import create_zgw_app
from iko_shared.contracts import FragmentProduced, Identifier
from iko_zgw_connector.source import ZgwSettings, ZgwSource
from pydantic import SecretStr

from tests.contract.kit import ConnectorCase, Scenario

BSN = Identifier(type="bsn", value="999993653")
UNKNOWN_BSN = Identifier(type="bsn", value="999990007")
KVK = Identifier(type="kvk", value="69599084")
UNKNOWN_KVK = Identifier(type="kvk", value="12345678")

API_KEY = "contract-key"
ZGW_SECRET = "contract-secret-long-enough-for-hs256-keys"


def _brp_person(fragment: FragmentProduced) -> None:
    person = fragment.data
    assert person["burgerservicenummer"] == "999993653"
    assert person["naam"]["geslachtsnaam"]
    assert set(person) <= {"burgerservicenummer", "naam", "geboorte"}, "only the fields asked for"


def _brp_found_some(fragment: FragmentProduced) -> None:
    assert fragment.data["personen"], "the search finds the test persons"
    assert all("burgerservicenummer" in p for p in fragment.data["personen"])


def _kvk_profile(fragment: FragmentProduced) -> None:
    assert fragment.data["kvkNummer"] == "69599084"
    assert fragment.data["naam"]


def _zaken(fragment: FragmentProduced) -> None:
    assert fragment.data["zaken"], "the sandbox has zaken for the test identifiers"
    assert fragment.data["count"] == len(fragment.data["zaken"])


def _no_zaken(fragment: FragmentProduced) -> None:
    assert fragment.data["zaken"] == []


BRP = ConnectorCase(
    source="brp",
    make_source=lambda url: (
        BrpSource(s := BrpSettings(base_url=url, api_key=SecretStr(API_KEY), batch_window_ms=2)),
        s,
    ),
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

KVK_CASE = ConnectorCase(
    source="kvk",
    make_source=lambda url: (KvkSource(s := KvkSettings(base_url=url, api_key=SecretStr(API_KEY))), s),
    make_simulator=lambda: create_kvk_app(api_key=API_KEY),
    happy=Scenario("basisprofiel", "basisprofiel", KVK, check=_kvk_profile),
    not_found=Scenario("unknown kvkNummer", "basisprofiel", UNKNOWN_KVK, status="not_found"),
    errors=[
        Scenario(
            "error scenario 90004973",
            "basisprofiel",
            Identifier(type="kvk", value="90004973"),
            status="error",
            error_code="IPD1999",
        ),
        Scenario(
            "error scenario 90002903",
            "basisprofiel",
            Identifier(type="kvk", value="90002903"),
            status="error",
            error_code="IPD1999",
        ),
    ],
)

ZGW = ConnectorCase(
    source="zgw",
    make_source=lambda url: (ZgwSource(s := ZgwSettings(base_url=url, secret=SecretStr(ZGW_SECRET))), s),
    make_simulator=lambda: create_zgw_app(secret=ZGW_SECRET, client_id="iko"),
    happy=Scenario("zaken of a person", "zaken", BSN, check=_zaken),
    # A person without zaken is an answer, not an absence: ok with an empty list.
    not_found=Scenario("zaken of a stranger", "zaken", UNKNOWN_BSN, check=_no_zaken),
    errors=[],
    searches=[Scenario("zaken of a company", "zaken", KVK, check=_zaken)],
)

CASES = [BRP, KVK_CASE, ZGW]
