"""The ZGW connector under contract (Zaken API with the Catalogi API)."""

from __future__ import annotations

from typing import Any

from iko_sandbox.zgw.app import create_zgw_app
from iko_shared.contracts import FragmentProduced, Identifier
from iko_shared.testing.contract_kit import Check, ConnectorCase, Scenario
from iko_zgw_connector.source import ZgwSettings, ZgwSource
from pydantic import SecretStr

from tests.contract.cases.common import BSN, KVK, UNKNOWN_BSN, ZGW_SECRET, http_status

# BAG objects the simulator has zaakobjecten about (iko_sandbox.zgw.zaakobjecten): Boterdiep 31, Rotterdam, where
# BSN 999993653 lives (two zaken on its verblijfsobject, one on its nummeraanduiding), and an object without zaken.
BOTERDIEP_31 = Identifier(type="adresseerbaarobject", value="0599010000208579")
BOTERDIEP_31_ADRES = Identifier(type="nummeraanduiding", value="0599200000219678")
NO_ZAKEN_OBJECT = Identifier(type="adresseerbaarobject", value="0599010000000001")


def zgw_source(base_url: str, /, **overrides: Any) -> tuple[ZgwSource, ZgwSettings]:
    settings = ZgwSettings(**{"base_url": base_url, "secret": SecretStr(ZGW_SECRET), **overrides})
    return ZgwSource(settings), settings


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


def _zaken_about(expected: int) -> Check:
    def check(fragment: FragmentProduced) -> None:
        _zaken(fragment)
        assert len(fragment.data["zaken"]) == expected

    return check


def _no_zaken(fragment: FragmentProduced) -> None:
    assert fragment.data == {"count": 0, "complete": True, "zaken": [], "warnings": []}


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
        # zaken_by_object looks up BAG objects only; zaken, persons and companies only.
        Scenario(
            "zaken by object of a bsn", "zaken_by_object", BSN, status="error", error_code="unsupported_identifier"
        ),
        Scenario(
            "zaken of an adresseerbaar object",
            "zaken",
            BOTERDIEP_31,
            status="error",
            error_code="unsupported_identifier",
        ),
    ],
    searches=[
        Scenario("zaken of a company", "zaken", KVK, check=_zaken),
        Scenario("zaken of a vestiging", "zaken", KVK, params={"vestigingsnummer": "000038509504"}, check=_zaken),
        Scenario("zaken with their status", "zaken", BSN, params={"include": ["status"]}, check=_zaken_with_status),
        Scenario("zaken about an adresseerbaar object", "zaken_by_object", BOTERDIEP_31, check=_zaken_about(2)),
        Scenario("zaken about a nummeraanduiding", "zaken_by_object", BOTERDIEP_31_ADRES, check=_zaken_about(1)),
        Scenario(
            "zaken about an object with their status",
            "zaken_by_object",
            BOTERDIEP_31,
            params={"include": ["status"]},
            check=_zaken_with_status,
        ),
        # An address without cases is an answer too.
        Scenario("zaken about an object without zaken", "zaken_by_object", NO_ZAKEN_OBJECT, check=_no_zaken),
    ],
)

CASE = ZGW
