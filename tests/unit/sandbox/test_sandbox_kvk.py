from __future__ import annotations

import httpx
import pytest
from iko_sandbox.kvk.app import create_kvk_app

from tests.unit.sandbox.spec_check import HOST, validate_request, validate_response

HAL = {"Accept": "application/hal+json"}


async def get(client: httpx.AsyncClient, spec: str, url: str, **kwargs: object) -> httpx.Response:
    response = await client.get(url, **kwargs)  # type: ignore[arg-type]
    validate_request(spec, response.request)
    validate_response(spec, response)
    return response


async def test_basisprofiel_of_the_published_eenmanszaak(kvk: httpx.AsyncClient) -> None:
    response = await get(kvk, "basisprofiel", "/v1/basisprofielen/69599084")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["kvkNummer"] == "69599084"
    assert body["naam"] == "Test EMZ Dagobert"
    assert len(body["handelsnamen"]) == 8
    assert [s["sbiCode"] for s in body["sbiActiviteiten"]] == ["10110", "10120", "10130"]
    hoofd = body["_embedded"]["hoofdvestiging"]
    assert hoofd["vestigingsnummer"] == "000038509504"
    assert hoofd["adressen"][0]["straatnaam"] == "Abebe Bikilalaan"
    assert hoofd["adressen"][0]["postcode"] == "1034WL"
    assert "rsin" not in body["_embedded"]["eigenaar"]
    assert body["_embedded"]["eigenaar"]["rechtsvorm"] == "Eenmanszaak"


async def test_links_are_an_array_for_json_and_an_object_for_hal(kvk: httpx.AsyncClient) -> None:
    plain = (await get(kvk, "basisprofiel", "/v1/basisprofielen/69599084")).json()
    hal_response = await get(kvk, "basisprofiel", "/v1/basisprofielen/69599084", headers=HAL)
    hal = hal_response.json()

    assert hal_response.headers["content-type"] == "application/hal+json"
    assert "_links" not in plain
    assert {"rel": "self", "href": f"{HOST}/v1/basisprofielen/69599084"} in plain["links"]
    assert "links" not in hal
    assert hal["_links"]["self"] == {"href": f"{HOST}/v1/basisprofielen/69599084"}
    assert hal["_links"]["vestigingen"]["href"].endswith("/v1/basisprofielen/69599084/vestigingen")
    assert "_links" in hal["_embedded"]["hoofdvestiging"]


async def test_links_lead_to_served_resources(kvk: httpx.AsyncClient) -> None:
    body = (await get(kvk, "basisprofiel", "/v1/basisprofielen/69599084", headers=HAL)).json()

    for rel in ("vestigingen", "eigenaar", "hoofdvestiging"):
        followed = await kvk.get(body["_links"][rel]["href"])
        assert followed.status_code == 200, rel


async def test_every_published_kvk_nummer_has_a_valid_basisprofiel(kvk: httpx.AsyncClient) -> None:
    import csv

    from iko_sandbox.paths import data_file

    with data_file("kvk", "kvk-test-environment-kvknummers.csv").open(encoding="utf-8") as handle:
        numbers = [row["kvkNummer"] for row in csv.DictReader(handle)]
    expected_failures = {"90004973": 500, "90002903": 500, "12345678": 404}
    for number in numbers:
        for accept in ({}, HAL):
            response = await get(kvk, "basisprofiel", f"/v1/basisprofielen/{number}", headers=accept)
            assert response.status_code == expected_failures.get(number, 200), number


async def test_unknown_kvk_nummer_is_ipd0005(kvk: httpx.AsyncClient) -> None:
    response = await get(kvk, "basisprofiel", "/v1/basisprofielen/12345678")

    assert response.status_code == 404
    assert response.json()["fout"][0]["code"] == "IPD0005"


@pytest.mark.parametrize("number", ["90004973", "90002903"])
async def test_error_scenarios_answer_500_with_a_fout(kvk: httpx.AsyncClient, number: str) -> None:
    response = await get(kvk, "basisprofiel", f"/v1/basisprofielen/{number}")

    assert response.status_code == 500
    assert response.json()["fout"][0]["code"]


async def test_geo_data_only_when_asked(kvk: httpx.AsyncClient) -> None:
    without = (await get(kvk, "basisprofiel", "/v1/basisprofielen/90006623")).json()
    with_geo = (await get(kvk, "basisprofiel", "/v1/basisprofielen/90006623", params={"geoData": "true"})).json()

    assert "geoData" not in without["_embedded"]["hoofdvestiging"]["adressen"][0]
    geo = with_geo["_embedded"]["hoofdvestiging"]["adressen"][0]["geoData"]
    assert 50 < geo["gpsLatitude"] < 54


async def test_hoofdvestiging_vestigingen_and_eigenaar(kvk: httpx.AsyncClient) -> None:
    hoofd = await get(kvk, "basisprofiel", "/v1/basisprofielen/68750110/hoofdvestiging")
    lijst = await get(kvk, "basisprofiel", "/v1/basisprofielen/69599084/vestigingen")
    eigenaar = await get(kvk, "basisprofiel", "/v1/basisprofielen/68750110/eigenaar")

    assert hoofd.json()["vestigingsnummer"] == "000037178598"
    assert hoofd.json()["rsin"] == "857587973"
    assert {a["type"] for a in hoofd.json()["adressen"]} == {"bezoekadres", "postadres"}
    assert lijst.json()["totaalAantalVestigingen"] == 2
    assert {v["vestigingsnummer"] for v in lijst.json()["vestigingen"]} == {"000038509504", "000038509520"}
    assert eigenaar.json()["rsin"] == "857587973"


async def test_vve_has_no_hoofdvestiging(kvk: httpx.AsyncClient) -> None:
    profiel = (await get(kvk, "basisprofiel", "/v1/basisprofielen/90000749")).json()
    hoofd = await get(kvk, "basisprofiel", "/v1/basisprofielen/90000749/hoofdvestiging")

    assert "hoofdvestiging" not in profiel["_embedded"]
    assert profiel["_embedded"]["eigenaar"]["adressen"][0]["straatnaam"] == "Blaauwweg"
    assert hoofd.status_code == 404


async def test_company_with_a_thousand_vestigingen(kvk: httpx.AsyncClient) -> None:
    body = (await get(kvk, "basisprofiel", "/v1/basisprofielen/90006577/vestigingen")).json()

    assert body["totaalAantalVestigingen"] == 1000
    assert len({v["vestigingsnummer"] for v in body["vestigingen"]}) == 1000


async def test_afgeschermd_adres_hides_the_address(kvk: httpx.AsyncClient) -> None:
    # The Vestigingsprofiel spec declares only application/hal+json answers.
    body = (await get(kvk, "vestigingsprofiel", "/v1/vestigingsprofielen/990000541921", headers=HAL)).json()

    bezoek = next(a for a in body["adressen"] if a["type"] == "bezoekadres")
    assert bezoek == {"type": "bezoekadres", "indAfgeschermd": "Ja"}


async def test_vestigingsprofiel(kvk: httpx.AsyncClient) -> None:
    response = await get(kvk, "vestigingsprofiel", "/v1/vestigingsprofielen/000038509520", headers=HAL)

    assert response.status_code == 200
    assert response.json()["eersteHandelsnaam"] == "Test EMZ Nevenvestiging Govert"
    assert response.json()["indHoofdvestiging"] == "Nee"


@pytest.mark.parametrize("number", ["12345", "00003850952x", "0000385095200"])
async def test_malformed_vestigingsnummer_is_ipd0006(kvk: httpx.AsyncClient, number: str) -> None:
    response = await kvk.get(f"/v1/vestigingsprofielen/{number}")

    assert response.status_code == 400
    assert response.json()["fout"][0]["code"] == "IPD0006"


async def test_zoeken_on_kvk_nummer(kvk: httpx.AsyncClient) -> None:
    response = await get(kvk, "zoeken", "/v2/zoeken", params={"kvkNummer": "69599084"})

    body = response.json()
    assert body["totaal"] == 2
    assert {r["type"] for r in body["resultaten"]} == {"hoofdvestiging", "nevenvestiging"}
    assert all("links" in r for r in body["resultaten"])


async def test_zoeken_stichting_lists_the_rechtspersoon(kvk: httpx.AsyncClient) -> None:
    body = (await get(kvk, "zoeken", "/v2/zoeken", params={"kvkNummer": "69599068"}, headers=HAL)).json()

    rechtspersoon = next(r for r in body["resultaten"] if r["type"] == "rechtspersoon")
    assert rechtspersoon["naam"] == "Test Stichting Bolderbast"
    assert "vestigingsnummer" not in rechtspersoon
    assert "basisprofiel" in rechtspersoon["_links"]


async def test_zoeken_pages(kvk: httpx.AsyncClient) -> None:
    first = (
        await get(kvk, "zoeken", "/v2/zoeken", params={"kvkNummer": "90006577", "resultatenPerPagina": 100})
    ).json()
    second = (
        await get(
            kvk, "zoeken", "/v2/zoeken", params={"kvkNummer": "90006577", "resultatenPerPagina": 100, "pagina": 2}
        )
    ).json()

    assert first["totaal"] == 1000
    assert len(first["resultaten"]) == 100
    assert "vorige" not in first
    assert "pagina=2" in first["volgende"]
    assert second["pagina"] == 2
    assert "pagina=1" in second["vorige"]
    assert not {r["vestigingsnummer"] for r in first["resultaten"] if "vestigingsnummer" in r} & {
        r["vestigingsnummer"] for r in second["resultaten"] if "vestigingsnummer" in r
    }


async def test_zoeken_without_results_is_ipd5200(kvk: httpx.AsyncClient) -> None:
    response = await get(kvk, "zoeken", "/v2/zoeken", params={"kvkNummer": "12345678"})

    assert response.status_code == 404
    assert response.json()["fout"][0]["code"] == "IPD5200"


async def test_inactive_registration_only_with_inclusief_inactief(kvk: httpx.AsyncClient) -> None:
    default = await get(kvk, "zoeken", "/v2/zoeken", params={"kvkNummer": "96354429"})
    inclusief = await get(
        kvk, "zoeken", "/v2/zoeken", params={"kvkNummer": "96354429", "inclusiefInactieveRegistraties": "true"}
    )
    profiel = (await get(kvk, "basisprofiel", "/v1/basisprofielen/96354429")).json()

    assert default.status_code == 404
    assert inclusief.status_code == 200
    assert {r["actief"] for r in inclusief.json()["resultaten"]} == {"Nee"}
    assert "datumEinde" in profiel["materieleRegistratie"]


async def test_zoeken_by_naam(kvk: httpx.AsyncClient) -> None:
    body = (await get(kvk, "zoeken", "/v2/zoeken", params={"naam": "dagobert"})).json()

    assert {r["kvkNummer"] for r in body["resultaten"]} == {"69599084"}


async def test_apikey_is_required_only_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IKO_SANDBOX_KVK_API_KEY", "kvk-geheim")
    app = create_kvk_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST) as client:
        without = await client.get("/v1/basisprofielen/69599084")
        right = await client.get("/v1/basisprofielen/69599084", headers={"apikey": "kvk-geheim"})

    assert without.status_code == 401
    assert without.json()["fout"][0]["code"]
    assert right.status_code == 200
