"""Relations: from one fragment to the follow-ups it starts."""

from __future__ import annotations

from iko_assembler.relations import expand, plans_at, split_key
from iko_shared.contracts import RelationPlan, SourceQuery


def plan(name="partners", from_key="brp", select=".partners[]?.bsn", fanout=50, nested=None, queries=None):
    return RelationPlan(
        name=name,
        from_key=from_key,
        select=select,
        identifier_type="bsn",
        queries=queries
        or [
            SourceQuery(key="brp", source="brp", operation="RaadpleegMetBurgerservicenummer", fields=["naam"]),
            SourceQuery(key="zgw", source="zgw", operation="zaken"),
        ],
        max_fanout=fanout,
        relations=nested or [],
    )


def ok(data):
    return {"status": "ok", "data": data}


PARTNERS = ok({"partners": [{"bsn": "999990408"}, {"bsn": "999994086"}]})


def test_keys_name_their_place_in_the_tree():
    assert split_key("brp") == ([], "brp")
    assert split_key("partners[1].kinderen[0].brp") == (["partners[1]", "kinderen[0]"], "brp")
    inner = plan("kinderen")
    outer = plan(nested=[inner])
    assert plans_at([outer], ["partners[3]"]) == [inner]
    assert plans_at([outer], ["nobody[0]"]) == []


def test_each_selected_identifier_becomes_a_branch_with_every_query():
    expansion = expand([plan()], "brp", PARTNERS)
    assert list(expansion.branches) == ["partners[0]", "partners[1]"]
    assert [c.key for c in expansion.children] == [
        "partners[0].brp",
        "partners[0].zgw",
        "partners[1].brp",
        "partners[1].zgw",
    ]
    assert expansion.branches["partners[1]"]["identifier"] == {"type": "bsn", "value": "999994086"}
    assert expansion.branches["partners[1]"]["parent"] == "brp"
    followup = expansion.followups[0]
    assert followup.identifier.value == "999990408"
    assert [q.key for q in followup.queries] == ["partners[0].brp", "partners[0].zgw"]
    assert followup.queries[0].fields == ["naam"]
    assert followup.queries[0].identifier == followup.identifier, "each query names whom it is about"
    assert expansion.children[0].dedup_token == "brp|RaadpleegMetBurgerservicenummer|bsn:999990408"


def test_only_relations_rooted_at_the_key_run():
    assert expand([plan()], "zgw", PARTNERS).children == []


def test_a_failed_or_empty_fragment_starts_nothing():
    assert expand([plan()], "brp", {"status": "error", "data": None}).children == []
    assert expand([plan()], "brp", ok({})).children == []
    assert expand([plan()], "brp", {"status": "not_found", "data": None}).children == []


def test_fanout_is_capped_and_the_cut_is_reported():
    many = ok({"partners": [{"bsn": b} for b in ["999990408", "999994086", "999993653", "999991838"]]})
    expansion = expand([plan(fanout=2)], "brp", many)
    assert list(expansion.branches) == ["partners[0]", "partners[1]"]
    assert expansion.truncated == ["partners: 4 selected, 2 followed"]


def test_invalid_and_repeated_identifiers_are_not_followed():
    data = ok({"partners": [{"bsn": "999990408"}, {"bsn": "123"}, {"bsn": "999990408"}, {"bsn": None}]})
    expansion = expand([plan()], "brp", data)
    assert list(expansion.branches) == ["partners[0]"]
    assert expansion.rejected == 1


def test_nested_relations_mark_their_root_queries_as_expanding():
    inner = plan("kinderen", select=".kinderen[]?.bsn")
    expansion = expand([plan(nested=[inner])], "brp", PARTNERS)
    expanding = {c.key for c in expansion.children if c.expanding}
    assert expanding == {"partners[0].brp", "partners[1].brp"}
    deeper = expand([plan(nested=[inner])], "partners[1].brp", ok({"kinderen": [{"bsn": "999993653"}]}))
    assert [c.key for c in deeper.children] == ["partners[1].kinderen[0].brp", "partners[1].kinderen[0].zgw"]
    assert deeper.branches["partners[1].kinderen[0]"]["parent"] == "partners[1].brp"
