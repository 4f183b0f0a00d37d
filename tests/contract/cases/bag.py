"""The BAG connector under contract (Individuele Bevragingen v2: adres, zoeken)."""

from __future__ import annotations

from typing import Any

from iko_bag_connector.source import BagSettings, BagSource
from iko_sandbox.bag.app import create_bag_app
from iko_shared.contracts import FragmentProduced, Identifier
from iko_shared.testing.contract_kit import ConnectorCase, Scenario
from pydantic import SecretStr

from tests.contract.cases.common import API_KEY, http_status

# BSN 999993653's address: Boterdiep 31, 3077AW Rotterdam.
NUMMERAANDUIDING = Identifier(type="nummeraanduiding", value="0599200000219678")
# Well-formed (16 digits, type 20), unknown to the simulator.
UNKNOWN_NUMMERAANDUIDING = Identifier(type="nummeraanduiding", value="0599200000999999")
VERBLIJFSOBJECT = "0599010000208579"
PAND = "0599101470483735"


def bag_source(base_url: str, /, **overrides: Any) -> tuple[BagSource, BagSettings]:
    settings = BagSettings(**{"base_url": base_url, "api_key": SecretStr(API_KEY), **overrides})
    return BagSource(settings), settings


def _boterdiep(fragment: FragmentProduced) -> None:
    data = fragment.data
    assert data["nummeraanduidingIdentificatie"] == "0599200000219678"
    assert (data["openbareRuimteNaam"], data["huisnummer"], data["postcode"], data["woonplaatsNaam"]) == (
        "Boterdiep",
        31,
        "3077AW",
        "Rotterdam",
    )
    assert data["adresseerbaarObject"]["identificatie"] == VERBLIJFSOBJECT
    assert "woonfunctie" in data["adresseerbaarObject"]["gebruiksdoelen"]
    assert isinstance(data["adresseerbaarObject"]["oppervlakte"], int)
    assert data["pand"] == {"identificatie": PAND, "oorspronkelijkBouwjaar": "1880"}
    assert "_links" not in data
    assert any(link["rel"] == "self" for link in data["links"])


def _boterdiep_hit(fragment: FragmentProduced) -> None:
    adressen = fragment.data["adressen"]
    assert [a["nummeraanduidingIdentificatie"] for a in adressen] == ["0599200000219678"]
    assert all("_links" not in a for a in adressen)


def _no_hits(fragment: FragmentProduced) -> None:
    assert fragment.data == {"adressen": []}


CASE = ConnectorCase(
    source="bag",
    make_source=bag_source,
    make_simulator=lambda: create_bag_app(api_key=API_KEY),
    happy=Scenario("adres of Boterdiep 31", "adres", NUMMERAANDUIDING, check=_boterdiep),
    not_found=Scenario("an unknown nummeraanduiding", "adres", UNKNOWN_NUMMERAANDUIDING, status="not_found"),
    errors=[
        Scenario(
            "missing X-Api-Key",
            "adres",
            NUMMERAANDUIDING,
            settings={"api_key": None},
            status="error",
            error_code="authentication",
            check=http_status(401),
        ),
        Scenario(
            "wrong X-Api-Key",
            "adres",
            NUMMERAANDUIDING,
            settings={"api_key": SecretStr("not-the-key")},
            status="error",
            error_code="authentication",
            check=http_status(403),
        ),
        Scenario(
            "zoeken with an incomplete combination",
            "zoeken",
            params={"postcode": "3077AW"},
            status="error",
            error_code="invalid_query",
            check=http_status(400),
        ),
        Scenario(
            "malformed nummeraanduiding",
            "adres",
            Identifier(type="nummeraanduiding", value="12345"),
            status="error",
            error_code="invalid_query",
        ),
    ],
    searches=[
        Scenario(
            "zoeken by postcode and huisnummer",
            "zoeken",
            params={"postcode": "3077AW", "huisnummer": 31},
            check=_boterdiep_hit,
        ),
        Scenario(
            "zoeken by woonplaats, straat and huisnummer",
            "zoeken",
            params={"woonplaatsNaam": "Rotterdam", "openbareRuimteNaam": "Boterdiep", "huisnummer": 31},
            check=_boterdiep_hit,
        ),
        Scenario(
            "zoeken without results",
            "zoeken",
            params={"postcode": "1234AB", "huisnummer": 1},
            status="not_found",
            check=_no_hits,
        ),
    ],
)
