"""The Klantinteracties connector (Open Klant 2) under contract, against its simulator's seeded klantcontacten."""

from __future__ import annotations

from typing import Any

from iko_klantinteracties_connector.source import KlantinteractiesSettings, KlantinteractiesSource
from iko_sandbox.klantinteracties.app import create_klantinteracties_app
from iko_shared.contracts import FragmentProduced, Identifier
from iko_shared.testing.contract_kit import Check, ConnectorCase, Scenario
from pydantic import SecretStr

from tests.contract.cases.common import BSN, KVK, UNKNOWN_BSN, http_status

KLANTINTERACTIES_TOKEN = "contract-klantinteracties-token"
MANY = Identifier(type="bsn", value="999990068")  # 120 klantcontacten: two pages of 100


def klantinteracties_source(
    base_url: str, /, **overrides: Any
) -> tuple[KlantinteractiesSource, KlantinteractiesSettings]:
    settings = KlantinteractiesSettings(
        **{"base_url": base_url, "token": SecretStr(KLANTINTERACTIES_TOKEN), **overrides}
    )
    return KlantinteractiesSource(settings), settings


def contacts(count: int) -> Check:
    """``count`` klantcontacten, every page read, each with the default expansion (its betrokkenen, onderwerpen)."""

    def check(fragment: FragmentProduced) -> None:
        data = fragment.data
        assert data["count"] == count
        assert data["complete"] is True
        assert len(data["klantcontacten"]) == count
        for contact in data["klantcontacten"]:
            betrokkenen = contact["_expand"]["hadBetrokkenen"]
            assert betrokkenen
            assert "gingOverOnderwerpobjecten" in contact["_expand"]
            assert contact["url"].startswith("http")

    return check


def _none(fragment: FragmentProduced) -> None:
    assert fragment.data == {"count": 0, "complete": True, "klantcontacten": []}


KLANTINTERACTIES = ConnectorCase(
    source="klantinteracties",
    make_source=klantinteracties_source,
    make_simulator=lambda: create_klantinteracties_app(token=KLANTINTERACTIES_TOKEN),
    happy=Scenario("the 6 klantcontacten of a BSN", "contactmomenten", BSN, check=contacts(6)),
    # As the ZGW connector answers for zaken: no contacts is an answer, ok with an empty list.
    not_found=Scenario("a BSN without klantcontacten", "contactmomenten", UNKNOWN_BSN, status="ok", check=_none),
    errors=[
        Scenario(
            "no token",
            "contactmomenten",
            BSN,
            settings={"token": None},
            status="error",
            error_code="authentication",
            check=http_status(401),
        ),
        Scenario(
            "a wrong token",
            "contactmomenten",
            BSN,
            settings={"token": SecretStr("not-the-token")},
            status="error",
            error_code="authentication",
            check=http_status(401),
        ),
        Scenario(
            "an unknown expand",
            "contactmomenten",
            BSN,
            params={"expand": ["nope"]},
            status="error",
            error_code="invalid_query",
        ),
    ],
    searches=[
        Scenario("the 4 klantcontacten of a kvkNummer", "contactmomenten", KVK, check=contacts(4)),
    ],
    bsn_in_url_accepted_because=(
        "Open Klant's Klantinteracties API filters klantcontacten through GET query parameters only (no search "
        "with a body); the deployment must keep query strings out of access logs"
    ),
)
CASE = KLANTINTERACTIES
