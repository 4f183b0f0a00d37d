"""The new sources through the running stack: contact moments and the BAG address in persoon, contact moments in
bedrijf, the object view ``adres`` (BAG object, residents, zaken, registrations), partial answers when any new
source hangs, and — on the production-mode stack with keys of few roles — what each role discloses and whom the
audit trail names."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest
from iko_shared.contracts import LookupCompleted
from iko_stack import Stack

from tests.e2e.production import headers

pytestmark = pytest.mark.e2e

# Suzanne Moulin lives at Boterdiep 31, Rotterdam: its nummeraanduiding and the adresseerbaar object behind it.
BSN = "999993653"
KVK = "69599084"
BOTERDIEP = "0599200000219678"
BOTERDIEP_OBJECT = "0599010000208579"
COMPANY = {"identifier": {"type": "kvk", "value": KVK}}


def person(bsn: str = BSN, **extra: Any) -> dict[str, Any]:
    return {"identifier": {"type": "bsn", "value": bsn}, **extra}


def address(nummeraanduiding: str = BOTERDIEP, **extra: Any) -> dict[str, Any]:
    return {"identifier": {"type": "nummeraanduiding", "value": nummeraanduiding}, **extra}


async def looked_up(gateway: httpx.AsyncClient, profile: str, body: dict[str, Any], **kw: Any) -> LookupCompleted:
    response = await gateway.post(f"/api/v1/profiles/{profile}/lookups", json=body, **kw)
    assert response.status_code == 200, response.text
    return LookupCompleted.model_validate_json(response.content)


@pytest.fixture
def hang(stack: Stack) -> Iterator[Any]:
    """Make one simulator hang; every simulator is reset afterwards."""
    clients = {name: httpx.Client(base_url=url, timeout=5) for name, url in stack.sandbox_urls.items()}

    def hang_source(name: str) -> None:
        clients[name].put("/__sandbox__/behaviour", json={"mode": "hang"}).raise_for_status()

    try:
        yield hang_source
    finally:
        for client in clients.values():
            with closing(client):
                client.delete("/__sandbox__/behaviour")


# --- the development stack ------------------------------------------------------------------------------------


async def test_persoon_shows_the_contact_moments_and_the_bag_address(gateway):
    view = await looked_up(gateway, "persoon", person())
    assert view.status == "complete", view.timed_out
    assert view.sources["contactmomenten"].status == "ok", view.sources["contactmomenten"].error
    [adres_key] = [k for k in view.sources if k.startswith("adres[") and k.endswith(".bag")]
    assert view.sources[adres_key].status == "ok"
    shown = view.view
    assert shown["contactmomenten"], "the sandbox has contact moments for this person"
    assert all(c["uuid"] for c in shown["contactmomenten"])
    # The address the BRP registers her at, with what only the BAG knows.
    assert shown["adres"]["nummeraanduidingIdentificatie"] == BOTERDIEP
    assert shown["adres"]["postcode"] == shown["persoon"]["verblijfplaats"]["verblijfadres"]["postcode"]
    assert shown["adres"]["adresseerbaarObject"]["gebruiksdoelen"]
    assert shown["adres"]["pand"]["oorspronkelijkBouwjaar"]


async def test_bedrijf_shows_the_contact_moments(gateway):
    view = await looked_up(gateway, "bedrijf", COMPANY)
    assert view.status == "complete", view.timed_out
    assert view.sources["contactmomenten"].status == "ok", view.sources["contactmomenten"].error
    assert view.view["contactmomenten"], "the sandbox has contact moments for this company"
    assert view.view["bedrijf"]["kvkNummer"] == KVK


async def test_adres_shows_the_object_its_residents_zaken_and_registrations(gateway):
    view = await looked_up(gateway, "adres", address())
    assert view.status == "complete", view.timed_out
    shown = view.view
    assert shown["adres"]["postcode"] == "3077AW"
    assert shown["adres"]["huisnummer"] == 31
    assert shown["object"]["identificatie"] == BOTERDIEP_OBJECT
    assert shown["object"]["gebruiksdoelen"]
    assert shown["panden"][0]["oorspronkelijkBouwjaar"]
    # The residents, with the minimum fields the profile asks of the BRP.
    residents = {p["burgerservicenummer"]: p for p in shown["bewoners"]}
    assert BSN in residents
    assert set(residents[BSN]) <= {"burgerservicenummer", "naam", "geboorte", "leeftijd"}
    assert residents[BSN]["naam"]["volledigeNaam"]
    # The zaken whose zaakobject points at the BAG object or at the address, each once, with their zaaktype's name.
    on_object = view.sources["object[0].zaken"].data["zaken"]
    on_address = view.sources["adreszaken"].data["zaken"]
    assert on_object, "the sandbox has zaken about this object"
    assert on_address, "and one about the address"
    assert sorted(z["url"] for z in shown["zaken"]) == sorted({z["url"] for z in on_object + on_address})
    assert all(z["zaaktype_omschrijving"] for z in shown["zaken"])
    # The meldingen openbare ruimte at the address.
    assert shown["registraties"]
    assert {r["record"]["data"]["nummeraanduidingIdentificatie"] for r in shown["registraties"]} == {BOTERDIEP}


async def test_an_address_is_found_by_postcode_and_by_street_and_its_rows_lead_to_the_lookup(gateway):
    by_postcode = await gateway.post(
        "/api/v1/profiles/adres/searches",
        json={"action": "postcode-huisnummer", "filters": {"postcode": "3077AW", "huisnummer": 31}},
    )
    assert by_postcode.status_code == 200, by_postcode.text
    rows = by_postcode.json()["rows"]
    assert [row["nummeraanduiding"] for row in rows] == [BOTERDIEP]
    by_street = await gateway.post(
        "/api/v1/profiles/adres/searches",
        json={
            "action": "straat-huisnummer-woonplaats",
            "filters": {"openbareRuimteNaam": "Boterdiep", "huisnummer": 31, "woonplaatsNaam": "Rotterdam"},
        },
    )
    assert by_street.status_code == 200, by_street.text
    assert BOTERDIEP in [row["nummeraanduiding"] for row in by_street.json()["rows"]]


async def test_the_compatible_api_looks_an_address_up_by_its_id(gateway):
    response = await gateway.get("/aggregated-data-profiles/adres", params={"id": BOTERDIEP})
    assert response.status_code == 200, response.text
    assert response.json()["object"]["identificatie"] == BOTERDIEP_OBJECT


@pytest.mark.parametrize(
    ("profile", "body", "hanging", "keys"),
    [
        ("persoon", person(), "klantinteracties", {"contactmomenten"}),
        ("persoon", person(), "bag", {"adres[0].bag"}),
        ("bedrijf", COMPANY, "klantinteracties", {"contactmomenten"}),
        # Without the BAG answer the relation never starts: the object's sources are not asked at all.
        ("adres", address(), "bag", {"bag"}),
        ("adres", address(), "objecten", {"registraties"}),
        ("adres", address(), "zgw", {"adreszaken", "object[0].zaken"}),
    ],
)
async def test_any_new_source_hanging_gives_a_partial_answer_at_the_deadline(
    gateway, hang, profile, body, hanging, keys
):
    hang(hanging)
    view = await looked_up(gateway, profile, {**body, "timeout_ms": 1500})
    assert (view.status, view.completed_by) == ("partial", "deadline")
    statuses = {key: result.status for key, result in view.sources.items()}
    assert {key for key, status in statuses.items() if status == "timeout"} == keys, statuses
    assert all(status in ("ok", "not_found") for key, status in statuses.items() if key not in keys), statuses
    if hanging == "bag" and profile == "adres":
        assert not any(key.startswith("object[") for key in statuses)


# --- the production-mode stack: restricted callers ------------------------------------------------------------


@pytest.fixture
async def client(production_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=production_stack.gateway_url, timeout=15) as http:
        yield http


async def test_contact_moments_go_only_to_callers_with_their_role(client):
    without = await looked_up(client, "persoon", person(), headers=headers("persoon"))
    assert "contactmomenten" not in without.sources
    assert without.view["contactmomenten"] == []
    # The BAG address needs no role beyond the profile's.
    assert without.view["adres"]["nummeraanduidingIdentificatie"] == BOTERDIEP
    with_role = await looked_up(client, "persoon", person(), headers=headers("contact"))
    assert with_role.sources["contactmomenten"].status == "ok"
    assert with_role.view["contactmomenten"]
    company = await looked_up(client, "bedrijf", COMPANY, headers=headers("contact"))
    assert company.view["contactmomenten"]


async def test_the_object_view_needs_its_own_role_and_residents_and_zaken_need_theirs(client):
    refused = await client.post("/api/v1/profiles/adres/lookups", json=address(), headers=headers("persoon"))
    assert refused.status_code == 403, refused.text
    only_adres = await looked_up(client, "adres", address(), headers=headers("adres"))
    assert only_adres.view["object"]["identificatie"] == BOTERDIEP_OBJECT
    assert only_adres.view["registraties"]
    # Without iko-persoon and iko-zaken the relation asks neither the BRP nor the Zaken API.
    assert {r.source for r in only_adres.sources.values()} == {"bag", "objecten"}
    assert only_adres.view["bewoners"] == []
    assert only_adres.view["zaken"] == []
    full = await looked_up(client, "adres", address(), headers=headers("adres-bewoners"))
    assert BSN in [p["burgerservicenummer"] for p in full.view["bewoners"]]
    assert full.view["zaken"]


async def test_the_residents_an_address_lookup_shows_are_named_in_its_audit_record(client, audit):
    view = await looked_up(client, "adres", address(), headers=headers("adres-bewoners"))
    residents = {p["burgerservicenummer"] for p in view.view["bewoners"]}
    assert BSN in residents
    records = [r for r in await audit(1) if r.request_id == view.request_id]
    assert len(records) == 1, "one record for the lookup"
    named = {(s.identifier.type, s.identifier.value): {d.key for d in s.sources} for s in records[0].subjects}
    for bsn in residents:
        assert named[("bsn", bsn)] == {"object[0].bewoners"}
    assert "bag" in named[("nummeraanduiding", BOTERDIEP)]
    assert named[("adresseerbaarobject", BOTERDIEP_OBJECT)] == {"object[0].zaken"}
    # What was fetched is never in the record: a resident's name does not appear.
    raw = records[0].model_dump_json()
    for resident in view.view["bewoners"]:
        assert resident["naam"]["volledigeNaam"] not in raw
