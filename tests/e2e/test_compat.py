"""The IKO Server compatible API against the running stack: the calls Valtimo's IKO module makes, read the way
Valtimo reads the answers (JSON pointers into the detail, ``content``/``totalElements`` of a paged container,
the first JSON array of an endpoint answer)."""

from __future__ import annotations

import base64
import json
from collections import deque
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

PERSOON_BSN = "999993653"
PARTNER_BSN = "999995248"  # a partner and 11 children in the BRP mock data
KVK = "69599084"


def container_param(container_id: str, page: int, size: int, sort: Any = None, filters: Any = None) -> str:
    """As Valtimo's ContainerParam goes out: Jackson's Pageable, URL-safe Base64 with padding."""
    pageable = {
        "pageNumber": page,
        "pageSize": size,
        "sort": sort if sort is not None else {"empty": True, "sorted": False, "unsorted": True},
        "offset": page * size,
        "paged": True,
        "unpaged": False,
    }
    body = {"containerId": container_id, "pageable": pageable, "filters": filters or {}}
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


def first_array(node: Any) -> list[Any] | None:
    """Valtimo's IkoServerRepository: breadth-first, the first JSON array in the answer."""
    queue: deque[Any] = deque([node])
    while queue:
        current = queue.popleft()
        if isinstance(current, list):
            return current
        if isinstance(current, dict):
            queue.extend(current.values())
    return None


def pointer(data: Any, path: str) -> Any:
    for part in path.strip("/").split("/"):
        data = data[int(part)] if isinstance(data, list) else data.get(part)
        if data is None:
            return None
    return data


async def detail(gateway, profile: str, id_: str, *params: str, headers: dict[str, str] | None = None):
    query: list[tuple[str, str]] = [("containerParam", p) for p in params] + [("id", id_)]
    return await gateway.get(f"/aggregated-data-profiles/{profile}", params=query, headers=headers or {})


async def test_persoon_detail_is_the_view_with_a_correlation_id(gateway):
    response = await detail(gateway, "persoon", PERSOON_BSN)
    assert response.status_code == 200, response.text
    assert response.headers["X-Correlation-Id"]
    assert response.headers["X-IKO-Status"] == "complete"
    view = response.json()
    assert pointer(view, "/persoon/burgerservicenummer") == PERSOON_BSN
    assert pointer(view, "/persoon/naam/geslachtsnaam") == "Moulin"
    assert isinstance(view["zaken"], list)
    assert len(view["zaken"]) >= 3, "the sandbox has zaken for this BSN"


async def test_zaken_container_is_filtered_sorted_and_paged_as_a_spring_page(gateway):
    everything = (await detail(gateway, "persoon", PERSOON_BSN)).json()["zaken"]
    identificaties = sorted((z["identificatie"] for z in everything), key=str.casefold, reverse=True)
    # A filter that keeps all but one zaak: the exact multi-select of every identificatie but the last.
    wanted = identificaties[:-1]
    sort = {"orders": [{"property": "identificatie", "direction": "DESC"}]}
    filters = {"identificatie": ",".join(wanted), "identificatie~": ""}

    first = await detail(gateway, "persoon", PERSOON_BSN, container_param("zaken", 0, 2, sort, filters))
    assert first.status_code == 200, first.text
    page = first.json()["zaken"]
    assert [z["identificatie"] for z in page["content"]] == wanted[:2]
    assert page["totalElements"] == len(wanted)
    assert (page["number"], page["size"], page["first"]) == (0, 2, True)

    second = await detail(gateway, "persoon", PERSOON_BSN, container_param("zaken", 1, 2, sort, filters))
    assert [z["identificatie"] for z in second.json()["zaken"]["content"]] == wanted[2:4]
    # The other lists of the view are untouched.
    assert second.json()["persoon"]["burgerservicenummer"] == PERSOON_BSN


async def test_like_filter_and_spring_sort_without_orders(gateway):
    everything = (await detail(gateway, "persoon", PERSOON_BSN)).json()["zaken"]
    needle = everything[-1]["identificatie"].lower()
    expected = [z["identificatie"] for z in everything if needle in z["identificatie"].lower()]
    assert 0 < len(expected) < len(everything)
    sort = {"sorted": True, "unsorted": False, "empty": False}  # Jackson's Sort: no orders, so no sort
    response = await detail(
        gateway, "persoon", PERSOON_BSN, container_param("zaken", 0, 50, sort, {"identificatie~": needle.upper()})
    )
    page = response.json()["zaken"]
    assert [z["identificatie"] for z in page["content"]] == expected
    assert page["totalElements"] == len(expected)


async def test_kinderen_container_of_the_person_with_eleven_children(gateway):
    sort = [{"property": "naam.voornamen", "direction": "ASC"}]
    response = await detail(gateway, "persoon", PARTNER_BSN, container_param("kinderen", 2, 5, sort))
    assert response.status_code == 200, response.text
    view = response.json()
    page = view["kinderen"]
    assert page["totalElements"] == 11
    assert page["totalPages"] == 3
    assert len(page["content"]) == 1
    assert page["last"] is True
    assert len(view["partners"]) == 1, "no containerParam for partners: the list as it is"


async def test_bedrijf_detail(gateway):
    response = await detail(gateway, "bedrijf", KVK, container_param("vestigingen", 0, 1))
    assert response.status_code == 200, response.text
    view = response.json()
    assert pointer(view, "/bedrijf/kvkNummer") == KVK
    assert isinstance(view["zaken"], list)
    assert len(view["vestigingen"]["content"]) <= 1
    assert view["vestigingen"]["totalElements"] >= 1


async def test_id_in_the_path_as_older_valtimo_clients_send_it(gateway):
    response = await gateway.get(f"/aggregated-data-profiles/persoon/{PERSOON_BSN}")
    assert response.status_code == 200, response.text
    assert pointer(response.json(), "/persoon/burgerservicenummer") == PERSOON_BSN


async def test_schema_is_the_views_shape(gateway):
    response = await gateway.get("/aggregated-data-profiles/persoon/schema")
    assert response.status_code == 200, response.text
    assert set(response.json()["properties"]) == {
        "persoon",
        "adres",
        "zaken",
        "contactmomenten",
        "partners",
        "kinderen",
    }


async def test_brp_search_endpoint(gateway):
    response = await gateway.get(
        "/endpoints/brp/default/ZoekMetGeslachtsnaamEnGeboortedatum",
        params={"geslachtsnaam": "Moulin", "geboortedatum": "1985-12-01"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["X-Correlation-Id"]
    personen = first_array(response.json())
    assert personen
    assert PERSOON_BSN in [p["burgerservicenummer"] for p in personen]
    assert personen[0]["naam"]["geslachtsnaam"] == "Moulin", "the search's fields are asked, not only the BSN"


async def test_brp_search_by_type_param_as_valtimo_configures_it(gateway):
    response = await gateway.get(
        "/endpoints/brp/default/personen",
        params={
            "type": "ZoekMetGeslachtsnaamEnGeboortedatum",
            "geslachtsnaam": "Moulin",
            "geboortedatum": "1985-12-01",
        },
    )
    assert response.status_code == 200, response.text
    assert PERSOON_BSN in [p["burgerservicenummer"] for p in first_array(response.json()) or []]


async def test_kvk_zoeken_endpoint(gateway):
    bedrijf = (await detail(gateway, "bedrijf", KVK)).json()["bedrijf"]
    response = await gateway.get("/endpoints/kvk/default/zoeken", params={"naam": bedrijf["naam"]})
    assert response.status_code == 200, response.text
    resultaten = first_array(response.json())
    assert resultaten
    assert KVK in [r["kvkNummer"] for r in resultaten]


async def test_brp_detail_endpoint(gateway):
    response = await gateway.get(f"/endpoints/brp/default/RaadpleegMetBurgerservicenummer/{PERSOON_BSN}")
    assert response.status_code == 200, response.text
    person = response.json()
    assert person["burgerservicenummer"] == PERSOON_BSN
    assert person["naam"]["geslachtsnaam"] == "Moulin"


async def test_unknown_profile_is_404_in_the_iko_server_error_shape(gateway):
    response = await detail(gateway, "onbekend", PERSOON_BSN, headers={"X-Correlation-Id": "valtimo-123"})
    assert response.status_code == 404
    assert response.json() == {"message": response.json()["message"], "correlationId": "valtimo-123"}
    assert "onbekend" in response.json()["message"]
    assert response.headers["X-Correlation-Id"] == "valtimo-123"


@pytest.mark.parametrize(
    "query",
    [
        [("id", "999993654")],  # fails the elfproef
        [],  # no id
        [("id", PERSOON_BSN), ("containerParam", "%%%not-base64")],
    ],
)
async def test_bad_id_or_container_param_is_400(gateway, query):
    response = await gateway.get("/aggregated-data-profiles/persoon", params=query)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"message", "correlationId"}
    assert body["correlationId"] == response.headers["X-Correlation-Id"]


async def test_unknown_connector_and_unknown_detail(gateway):
    unknown = await gateway.get("/endpoints/bag/default/adressen")
    assert unknown.status_code == 404
    assert set(unknown.json()) == {"message", "correlationId"}
    missing = await gateway.get("/endpoints/brp/default/RaadpleegMetBurgerservicenummer/999990007")
    assert missing.status_code == 404
    assert set(missing.json()) == {"message", "correlationId"}


async def test_openapi_tags_the_compatibility_routes(gateway):
    spec = (await gateway.get("/openapi.json")).json()
    operation = spec["paths"]["/aggregated-data-profiles/{name}"]["get"]
    assert operation["tags"] == ["IKO Server compatibility"]
    assert "recommended" in operation["description"]
