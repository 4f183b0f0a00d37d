"""The KVK connector under contract (Basisprofiel, Vestigingsprofiel, Zoeken)."""

from __future__ import annotations

from typing import Any

from iko_kvk_connector.source import KvkSettings, KvkSource
from iko_sandbox.kvk.app import create_kvk_app
from iko_shared.contracts import FragmentProduced, Identifier
from iko_shared.testing.contract_kit import ConnectorCase, Scenario
from pydantic import SecretStr

from tests.contract.cases.common import API_KEY, KVK, UNKNOWN_KVK, http_status


def kvk_source(base_url: str, /, **overrides: Any) -> tuple[KvkSource, KvkSettings]:
    settings = KvkSettings(**{"base_url": base_url, "api_key": SecretStr(API_KEY), **overrides})
    return KvkSource(settings), settings


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

CASE = KVK_CASE
