"""The connectors under contract: how to build each, its simulator, and the scenarios its source documents."""

from __future__ import annotations

from typing import Any

from iko_brp_connector.source import BrpSettings, BrpSource
from iko_kvk_connector.source import KvkSettings, KvkSource
from iko_sandbox.brp.app import create_brp_app
from iko_sandbox.kvk.app import create_kvk_app
from iko_sandbox.zgw.app import create_zgw_app
from iko_shared.contracts import FragmentProduced, Identifier
from iko_shared.testing.contract_kit import Check, ConnectorCase, Scenario
from iko_zgw_connector.source import ZgwSettings, ZgwSource
from pydantic import SecretStr

BSN = Identifier(type="bsn", value="999993653")
UNKNOWN_BSN = Identifier(type="bsn", value="999990007")
KVK = Identifier(type="kvk", value="69599084")
UNKNOWN_KVK = Identifier(type="kvk", value="12345678")

API_KEY = "contract-key"
ZGW_SECRET = "contract-secret-long-enough-for-hs256-keys"


def brp_source(base_url: str, /, **overrides: Any) -> tuple[BrpSource, BrpSettings]:
    settings = BrpSettings(**{"base_url": base_url, "api_key": SecretStr(API_KEY), "batch_window_ms": 2, **overrides})
    return BrpSource(settings), settings


def kvk_source(base_url: str, /, **overrides: Any) -> tuple[KvkSource, KvkSettings]:
    settings = KvkSettings(**{"base_url": base_url, "api_key": SecretStr(API_KEY), **overrides})
    return KvkSource(settings), settings


def zgw_source(base_url: str, /, **overrides: Any) -> tuple[ZgwSource, ZgwSettings]:
    settings = ZgwSettings(**{"base_url": base_url, "secret": SecretStr(ZGW_SECRET), **overrides})
    return ZgwSource(settings), settings


def http_status(status: int) -> Check:
    """The error names the status the source answered with."""

    def check(fragment: FragmentProduced) -> None:
        assert fragment.error is not None
        assert (fragment.error.details or {}).get("status") == status, fragment.error

    return check


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
    assert fragment.data["naam"] == "Test EMZ Dagobert"
    self_links = [link["href"] for link in fragment.data["links"] if link["rel"] == "self"]
    assert len(self_links) == 1
    assert self_links[0].endswith("/v1/basisprofielen/69599084")
    assert "_links" not in fragment.data
    # Nothing was asked to be included.
    assert not {"hoofdvestiging", "vestigingen", "eigenaar"} & set(fragment.data)


def _kvk_dagobert_hits(fragment: FragmentProduced) -> None:
    page = fragment.data
    assert (page["pagina"], page["totaal"]) == (1, 2)
    assert {r["vestigingsnummer"] for r in page["resultaten"]} == {"000038509504", "000038509520"}
    assert all(r["kvkNummer"] == "69599084" for r in page["resultaten"])
    assert all(isinstance(r["links"], list) and "_links" not in r for r in page["resultaten"])


def _kvk_naam_hits(fragment: FragmentProduced) -> None:
    page = fragment.data
    assert page["resultaten"], "the naam search finds Dagobert"
    assert page["totaal"] >= len(page["resultaten"])
    assert "69599084" in {r["kvkNummer"] for r in page["resultaten"]}
    assert all("dagobert" in r["naam"].lower() or r["kvkNummer"] == "69599084" for r in page["resultaten"])


def _kvk_no_hits(fragment: FragmentProduced) -> None:
    assert fragment.data == {"pagina": 1, "resultatenPerPagina": 10, "totaal": 0, "resultaten": []}


def _kvk_vestiging(fragment: FragmentProduced) -> None:
    assert fragment.data["vestigingsnummer"] == "000038509520"
    assert fragment.data["kvkNummer"] == "69599084"
    assert fragment.data["eersteHandelsnaam"] == "Test EMZ Nevenvestiging Govert"
    assert fragment.data["indHoofdvestiging"] == "Nee"


def _zaken(fragment: FragmentProduced) -> None:
    data = fragment.data
    assert data["zaken"], "the sandbox has zaken for the test identifiers"
    assert data["count"] == len(data["zaken"])
    assert (data["complete"], data["warnings"]) == (True, [])
    assert all(isinstance(z["zaaktype_omschrijving"], str) and z["zaaktype_omschrijving"] for z in data["zaken"])
    assert all("status_omschrijving" not in z for z in data["zaken"]), "status only when asked"


def _zaken_with_status(fragment: FragmentProduced) -> None:
    named = [z for z in fragment.data["zaken"] if z["status_omschrijving"]]
    assert fragment.data["zaken"]
    assert len(named) == len(fragment.data["zaken"]), "every sandbox zaak has a status"
    assert all(z["status_datum_gezet"] for z in fragment.data["zaken"])


def _no_zaken(fragment: FragmentProduced) -> None:
    assert fragment.data == {"count": 0, "complete": True, "zaken": [], "warnings": []}


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

KVK_CASE = ConnectorCase(
    source="kvk",
    make_source=kvk_source,
    make_simulator=lambda: create_kvk_app(api_key=API_KEY),
    happy=Scenario("basisprofiel", "basisprofiel", KVK, check=_kvk_profile),
    not_found=Scenario("unknown kvkNummer", "basisprofiel", UNKNOWN_KVK, status="not_found"),
    errors=[
        Scenario(
            "wrong apikey",
            "basisprofiel",
            KVK,
            settings={"api_key": SecretStr("not-the-kvk-key")},
            status="error",
            error_code="IPD1002",
            check=http_status(401),
        ),
        Scenario(
            "missing apikey",
            "basisprofiel",
            KVK,
            settings={"api_key": None},
            status="error",
            error_code="IPD1002",
            check=http_status(401),
        ),
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
        Scenario(
            "malformed vestigingsnummer",
            "vestigingsprofiel",
            params={"vestigingsnummer": "12345"},
            status="error",
            error_code="IPD0006",
        ),
        Scenario(
            "malformed kvkNummer",
            "basisprofiel",
            Identifier(type="kvk", value="1234567"),
            status="error",
            error_code="IPD0004",
        ),
        Scenario(
            "zoeken with a malformed postcode",
            "zoeken",
            params={"postcode": "12"},
            status="error",
            error_code="IPD5203",
        ),
    ],
    searches=[
        Scenario("zoeken by kvkNummer", "zoeken", params={"kvkNummer": "69599084"}, check=_kvk_dagobert_hits),
        Scenario("zoeken by naam", "zoeken", params={"naam": "Dagobert"}, check=_kvk_naam_hits),
        Scenario("zoeken by the request's kvk identifier", "zoeken", KVK, check=_kvk_dagobert_hits),
        Scenario(
            "zoeken without results",
            "zoeken",
            params={"naam": "Bestaatnietvanachter"},
            status="not_found",
            check=_kvk_no_hits,
        ),
        Scenario(
            "vestigingsprofiel",
            "vestigingsprofiel",
            params={"vestigingsnummer": "000038509520"},
            check=_kvk_vestiging,
        ),
        Scenario(
            "unknown vestigingsnummer",
            "vestigingsprofiel",
            params={"vestigingsnummer": "999999999999"},
            status="not_found",
        ),
    ],
)

ZGW = ConnectorCase(
    source="zgw",
    make_source=zgw_source,
    make_simulator=lambda: create_zgw_app(secret=ZGW_SECRET, client_id="iko"),
    happy=Scenario("zaken of a person", "zaken", BSN, check=_zaken),
    # A person without zaken is an answer, not an absence: ok with an empty list.
    not_found=Scenario("zaken of a stranger", "zaken", UNKNOWN_BSN, check=_no_zaken),
    errors=[
        # A token signed with another secret: the ZGW API's 403 "permission_denied".
        Scenario(
            "wrong secret",
            "zaken",
            BSN,
            settings={"secret": SecretStr("not-the-secret-the-zgw-api-knows-at-all")},
            status="error",
            error_code="permission_denied",
            check=http_status(403),
        ),
        # The Zaken API's own validation (maxLength 9 of inpBsn): 400 "invalid" with invalidParams.
        Scenario(
            "a bsn longer than the filter allows",
            "zaken",
            Identifier(type="bsn", value="9999936530"),
            status="error",
            error_code="invalid",
        ),
        Scenario(
            "a vestigingsnummer longer than the filter allows",
            "zaken",
            KVK,
            params={"vestigingsnummer": "0" * 25},
            status="error",
            error_code="invalid",
        ),
        Scenario(
            "an unknown include",
            "zaken",
            BSN,
            params={"include": ["besluiten"]},
            status="error",
            error_code="invalid_query",
        ),
    ],
    searches=[
        Scenario("zaken of a company", "zaken", KVK, check=_zaken),
        Scenario("zaken of a vestiging", "zaken", KVK, params={"vestigingsnummer": "000038509504"}, check=_zaken),
        Scenario("zaken with their status", "zaken", BSN, params={"include": ["status"]}, check=_zaken_with_status),
    ],
)

CASES = [BRP, KVK_CASE, ZGW]
