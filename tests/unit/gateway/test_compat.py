"""IKO Server compatibility, without HTTP: containerParam decoding, filters, sorting, paging, the view schema.

What an ``/endpoints`` call may do is decided in ``decisions`` (tests/unit/gateway/test_decisions.py)."""

from __future__ import annotations

import base64
import json

import pytest
from iko_gateway.compat_containers import (
    ContainerParam,
    ContainerParamError,
    Order,
    Pageable,
    apply_container_params,
    decode_container_param,
    filter_items,
    page_of,
    parse_pageable,
    parse_sort,
    shape_container,
    sort_items,
)
from iko_gateway.compat_schema import view_schema
from iko_shared.profiles import load_profiles
from iko_shared.settings import ProfileSettings


def encode(obj: object, *, padding: bool = True, urlsafe: bool = True) -> str:
    raw = json.dumps(obj).encode()
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return text if padding else text.rstrip("=")


# A payload whose Base64 has both padding and the URL-safe characters '-' and '_'.
TRICKY = {"containerId": "zaken", "filters": {"omschrijving~": "??>>??"}, "pageable": {"pageNumber": 0, "pageSize": 5}}

ZAKEN = [
    {"identificatie": "Z-3", "startdatum": "2024-03-01", "status": {"omschrijving": "Afgerond"}, "bedrag": 10},
    {"identificatie": "z-1", "startdatum": "2023-12-31", "status": {"omschrijving": "In behandeling"}, "bedrag": 9},
    {"identificatie": "Z-2", "startdatum": "2024-01-15T10:00:00Z", "status": {"omschrijving": "Ontvangen"}},
    {"identificatie": "Z-4", "startdatum": None, "status": None, "bedrag": 100},
]


def ids(items: list[dict[str, object]]) -> list[object]:
    return [item["identificatie"] for item in items]


# --- decoding ---


def test_tricky_payload_really_uses_urlsafe_characters_and_padding():
    text = encode(TRICKY)
    assert text.endswith("=")
    assert "-" in text or "_" in text


@pytest.mark.parametrize("padding", [True, False])
@pytest.mark.parametrize("urlsafe", [True, False])
def test_decodes_with_and_without_padding_in_both_alphabets(padding, urlsafe):
    param = decode_container_param(encode(TRICKY, padding=padding, urlsafe=urlsafe))
    assert param == ContainerParam("zaken", Pageable(0, 5, ()), {"omschrijving~": "??>>??"})


def test_a_plus_turned_into_a_space_by_a_query_parser_still_decodes():
    text = encode(TRICKY, urlsafe=False)
    assert "+" in text or "/" in text
    assert decode_container_param(text.replace("+", " ")).container_id == "zaken"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("!!!not base64!!!", "not valid Base64"),
        ("abcde", "not valid Base64"),
        (base64.urlsafe_b64encode(b"not json").decode(), "not Base64 of JSON"),
        (encode([1, 2]), "must be a JSON object"),
        (encode({"pageable": {"pageSize": 2}}), "no containerId"),
        (encode({"containerId": "zaken", "pageable": {"pageSize": 0}}), "at least 1"),
        (encode({"containerId": "zaken", "pageable": {"pageNumber": -1, "pageSize": 2}}), "negative"),
        (encode({"containerId": "zaken", "pageable": {"pageSize": "ten"}}), "whole number"),
        (encode({"containerId": "zaken", "filters": {"a": {"b": 1}}}), "filter 'a'"),
    ],
)
def test_unreadable_params_say_why(raw, why):
    with pytest.raises(ContainerParamError, match=why):
        decode_container_param(raw)


def test_jackson_pageable_as_valtimo_writes_it():
    pageable = parse_pageable(
        {
            "pageNumber": 1,
            "pageSize": 2,
            "sort": {"empty": False, "sorted": True, "unsorted": False},
            "offset": 2,
            "paged": True,
            "unpaged": False,
        }
    )
    assert pageable == Pageable(1, 2, ())


def test_numbers_as_strings_and_aliases():
    assert parse_pageable({"pageNumber": "0", "pageSize": "10"}) == Pageable(0, 10, ())
    assert parse_pageable({"page": 3, "size": 7}) == Pageable(3, 7, ())
    assert parse_pageable("page=2&size=5&sort=startdatum,desc") == Pageable(2, 5, (Order("startdatum", True),))


@pytest.mark.parametrize(
    "node", [None, "INSTANCE", {"paged": False, "pageSize": 5}, {"unpaged": True, "pageSize": 5}, {"pageNumber": 0}]
)
def test_unpaged_shapes(node):
    assert not parse_pageable(node).paged


@pytest.mark.parametrize(
    ("node", "orders"),
    [
        ({"orders": [{"property": "a", "direction": "DESC"}, {"property": "b"}]}, (Order("a", True), Order("b"))),
        ([{"property": "a", "direction": "desc"}], (Order("a", True),)),
        ({"property": "a", "direction": "ASC", "ignoreCase": True}, (Order("a"),)),
        ({"startdatum": "DESC"}, (Order("startdatum", True),)),
        ("a,desc;b", (Order("a", True), Order("b"))),
        ({"sorted": True, "unsorted": False, "empty": False}, ()),
        ({"orders": []}, ()),
        (None, ()),
        ({"orders": [{"property": "a", "direction": "sideways"}]}, (Order("a"),)),
    ],
)
def test_sort_shapes(node, orders):
    assert parse_sort(node) == orders


# --- filters ---


def test_like_is_case_insensitive_contains():
    assert ids(filter_items(ZAKEN, {"identificatie~": "z-"})) == ["Z-3", "z-1", "Z-2", "Z-4"]
    assert ids(filter_items(ZAKEN, {"status.omschrijving~": "BEHANDEL"})) == ["z-1"]


def test_exact_is_exact():
    assert ids(filter_items(ZAKEN, {"identificatie": "Z-3"})) == ["Z-3"]
    assert ids(filter_items(ZAKEN, {"identificatie": "z-3"})) == []
    assert ids(filter_items(ZAKEN, {"bedrag": "10"})) == ["Z-3"]


def test_multi_select_is_any_of():
    assert ids(filter_items(ZAKEN, {"status.omschrijving": "Afgerond,Ontvangen"})) == ["Z-3", "Z-2"]
    assert ids(filter_items(ZAKEN, {"identificatie~": "-1, -4"})) == ["z-1", "Z-4"]


def test_date_range_from_inclusive_to_exclusive_and_date_times_by_their_date():
    found = filter_items(ZAKEN, {"startdatum>=": "2024-01-15", "startdatum<": "2024-03-01"})
    assert ids(found) == ["Z-2"]
    assert ids(filter_items(ZAKEN, {"startdatum<": "2024-01-01"})) == ["z-1"]


def test_number_range_compares_numbers_not_text():
    assert ids(filter_items(ZAKEN, {"bedrag>=": "10"})) == ["Z-3", "Z-4"]
    assert ids(filter_items(ZAKEN, {"bedrag<": "10"})) == ["z-1"]


def test_dotted_and_pointer_paths_and_lists_on_the_way():
    rows = [{"rollen": [{"naam": "Jan"}, {"naam": "Piet"}]}, {"rollen": [{"naam": "Kees"}]}]
    assert filter_items(rows, {"rollen.naam": "Piet"}) == rows[:1]
    assert ids(filter_items(ZAKEN, {"/status/omschrijving": "Ontvangen"})) == ["Z-2"]


def test_missing_property_never_matches_and_empty_filter_is_ignored():
    assert ids(filter_items(ZAKEN, {"status.omschrijving~": ""})) == ids(ZAKEN)
    assert "Z-4" not in ids(filter_items(ZAKEN, {"status.omschrijving~": "a"}))


# --- sorting and paging ---


def test_sort_dates_ascending_and_descending_nulls_last():
    assert ids(sort_items(ZAKEN, (Order("startdatum"),))) == ["z-1", "Z-2", "Z-3", "Z-4"]
    assert ids(sort_items(ZAKEN, (Order("startdatum", True),))) == ["Z-3", "Z-2", "z-1", "Z-4"]


def test_sort_text_case_folded_and_numbers_numerically():
    assert ids(sort_items(ZAKEN, (Order("identificatie"),))) == ["z-1", "Z-2", "Z-3", "Z-4"]
    assert ids(sort_items(ZAKEN, (Order("bedrag", True),))) == ["Z-4", "Z-3", "z-1", "Z-2"]


def test_multi_key_sort_is_stable():
    rows = [
        {"a": 1, "b": "x", "n": 1},
        {"a": 2, "b": "y", "n": 2},
        {"a": 1, "b": "y", "n": 3},
        {"a": 2, "b": "x", "n": 4},
    ]
    assert [r["n"] for r in sort_items(rows, (Order("b", True), Order("a")))] == [3, 2, 1, 4]


def test_page_is_a_spring_page():
    page = page_of(list(range(5)), Pageable(1, 2, (Order("x"),)))
    assert page["content"] == [2, 3]
    assert (page["totalElements"], page["totalPages"], page["number"], page["size"]) == (5, 3, 1, 2)
    assert (page["first"], page["last"], page["empty"], page["numberOfElements"]) == (False, False, False, 2)
    assert page["pageable"]["offset"] == 2
    assert page["sort"]["sorted"] is True
    last = page_of(list(range(5)), Pageable(2, 2, ()))
    assert last["content"] == [4]
    assert last["last"] is True
    beyond = page_of(list(range(5)), Pageable(9, 2, ()))
    assert beyond["content"] == []
    assert beyond["empty"] is True
    assert beyond["totalElements"] == 5


def test_filter_then_sort_then_page():
    param = ContainerParam("zaken", Pageable(0, 1, (Order("startdatum", True),)), {"identificatie~": "z"})
    page = shape_container(ZAKEN, param)
    assert isinstance(page, dict)
    assert ids(page["content"]) == ["Z-3"]
    assert page["totalElements"] == 4


def test_unpaged_container_stays_a_list():
    param = ContainerParam("zaken", Pageable(0, None, (Order("identificatie"),)), {"bedrag>=": "10"})
    assert ids(shape_container(ZAKEN, param)) == ["Z-3", "Z-4"]  # type: ignore[arg-type]


def test_apply_to_a_view_by_the_profiles_container_paths():
    view = {"persoon": {"naam": "x"}, "zaken": list(ZAKEN), "partners": [{"zaken": list(ZAKEN)}], "kinderen": []}
    containers = {"zaken": ".zaken", "partnerzaken": ".partners[].zaken"}
    params = [
        ContainerParam("zaken", Pageable(0, 2, (Order("identificatie"),))),
        ContainerParam("partnerzaken", Pageable(0, None, ()), {"identificatie": "Z-2"}),
        ContainerParam("nope", Pageable(0, 2, ())),
    ]
    shaped, unknown = apply_container_params(view, containers, params)
    assert ids(shaped["zaken"]["content"]) == ["z-1", "Z-2"]
    assert ids(shaped["partners"][0]["zaken"]) == ["Z-2"]
    assert shaped["persoon"] == {"naam": "x"}
    assert shaped["kinderen"] == []
    assert unknown == ["nope"]


def test_a_missing_or_null_container_becomes_an_empty_page():
    shaped, _ = apply_container_params({"zaken": None}, {"zaken": ".zaken"}, [ContainerParam("zaken", Pageable(0, 5))])
    assert shaped["zaken"]["content"] == []
    assert shaped["zaken"]["totalElements"] == 0
    untouched, _ = apply_container_params({}, {"zaken": ".zaken"}, [ContainerParam("zaken", Pageable(0, 5))])
    assert untouched == {}


# --- schema ---


def test_view_schema_of_the_shipped_persoon_profile():
    profile = load_profiles(ProfileSettings().profiles_dir).get("persoon")
    assert profile is not None
    schema = view_schema(profile)
    props = schema["properties"]
    assert set(props) == {"persoon", "adres", "zaken", "contactmomenten", "partners", "kinderen"}
    assert "naam" in props["persoon"]["properties"]
    zaken = props["zaken"]["oneOf"]
    assert zaken[0]["type"] == "array"
    assert "totalElements" in zaken[1]["properties"]
    # The mock branch makes the partner's shape visible: {persoon, zaken} per partner.
    assert set(props["partners"]["oneOf"][0]["items"]["properties"]) == {"persoon", "zaken"}
