"""BAG-specific behaviour of the connector, against the BAG simulator over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from iko_bag_connector.source import SANDBOX_API_KEY, BagSettings
from iko_shared.testing.contract_kit import Harness, Scenario, Simulator, serve_simulator

from tests.contract.cases.bag import CASE, NUMMERAANDUIDING, PAND, VERBLIJFSOBJECT
from tests.contract.cases.common import API_KEY


@pytest.fixture(scope="module")
def bag_simulator() -> Iterator[Simulator]:
    with serve_simulator(CASE.make_simulator()) as simulator:
        yield simulator


@pytest.fixture
def sim(bag_simulator: Simulator) -> Iterator[Simulator]:
    bag_simulator.reset()
    yield bag_simulator
    bag_simulator.reset()


@pytest.fixture
async def bag(sim: Simulator) -> AsyncIterator[Harness]:
    harness = Harness(CASE, sim)
    yield harness
    await harness.aclose()


def zoeken(**params: Any) -> Scenario:
    return Scenario("zoeken", "zoeken", params=params)


async def test_3225td_555_has_four_addresses(bag: Harness):
    fragment = await bag.run(zoeken(postcode="3225TD", huisnummer=555))

    assert fragment is not None
    assert fragment.status == "ok", fragment.error
    adressen = fragment.data["adressen"]
    assert len(adressen) == 4
    assert len({a["nummeraanduidingIdentificatie"] for a in adressen}) == 4
    assert all(a["postcode"] == "3225TD" and a["huisnummer"] == 555 for a in adressen)


async def test_huisletter_narrows_the_search(bag: Harness):
    fragment = await bag.run(zoeken(postcode="3225TD", huisnummer=555, huisletter="A"))

    assert fragment is not None
    assert fragment.status == "ok", fragment.error
    assert [a["huisletter"] for a in fragment.data["adressen"]] == ["A"]


async def test_adres_has_the_pand_bouwjaar_and_the_object_oppervlakte_in_one_call(bag: Harness, sim: Simulator):
    fragment = await bag.run(Scenario("adres", "adres", NUMMERAANDUIDING))

    assert fragment is not None
    assert fragment.status == "ok", fragment.error
    data = fragment.data
    assert data["pand"]["identificatie"] == PAND
    assert data["pand"]["oorspronkelijkBouwjaar"] == "1880"
    assert data["panden"] == [data["pand"]]
    assert data["adresseerbaarObject"]["identificatie"] == VERBLIJFSOBJECT
    assert 25 <= data["adresseerbaarObject"]["oppervlakte"] <= 250
    assert not {"gebruiksdoelen", "oppervlakte", "oorspronkelijkBouwjaar"} & set(data)
    received = sim.received()
    assert [r["path"] for r in received] == ["/adressenuitgebreid/0599200000219678"]
    assert received[0]["headers"]["accept-crs"] == "epsg:28992"


async def test_the_api_key_header_is_sent(bag: Harness, sim: Simulator):
    await bag.run(Scenario("adres", "adres", NUMMERAANDUIDING))
    await bag.run(zoeken(postcode="3077AW", huisnummer=31))

    assert [r["headers"].get("x-api-key") for r in sim.received()] == [API_KEY, API_KEY]


async def test_an_unknown_parameter_is_refused_before_any_call(bag: Harness, sim: Simulator):
    fragment = await bag.run(zoeken(postcode="3077AW", huisnummer=31, straat="Boterdiep"))

    assert fragment is not None
    assert fragment.status == "error"
    assert fragment.error is not None
    assert fragment.error.code == "invalid_query"
    assert sim.received() == []


def test_the_api_key_defaults_to_the_sandbox_key(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("IKO_BAG_API_KEY", raising=False)
    settings = BagSettings()
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == SANDBOX_API_KEY
    assert settings.base_url == "http://127.0.0.1:8106"
    monkeypatch.setenv("IKO_BAG_API_KEY", "from-env")
    assert BagSettings().api_key.get_secret_value() == "from-env"  # type: ignore[union-attr]
