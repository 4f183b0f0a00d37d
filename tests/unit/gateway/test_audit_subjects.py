"""Whom an audit record names: the looked-up identifier, each branch's own, and whoever a source's data names by its
query's ``subjects`` rule (the residents a search by an address finds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from iko_gateway.audit import StreamDisclosure, disclosed_sources, lookup_subjects
from iko_shared.contracts import Identifier, RelationPlan, SourceQuery, SubjectRule

ADDRESS = Identifier(type="nummeraanduiding", value="0599200000219678")
OBJECT = Identifier(type="adresseerbaarobject", value="0599010000208579")
RESIDENTS = SubjectRule(type="bsn", select=".personen[]?.burgerservicenummer")
QUERIES = [SourceQuery(key="bag", source="bag", operation="adres")]
RELATIONS = [
    RelationPlan(
        name="object",
        from_key="bag",
        select=".adresseerbaarObjectIdentificatie",
        identifier_type="adresseerbaarobject",
        queries=[
            SourceQuery(
                key="brp", source="brp", operation="ZoekMetAdresseerbaarObjectIdentificatie", subjects=RESIDENTS
            ),
            SourceQuery(key="zgw", source="zgw", operation="zaken_by_object"),
        ],
    )
]


def answer(personen: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {
        "status": "complete",
        "sources": {
            "bag": {"source": "bag", "status": "ok", "data": {"adresseerbaarObjectIdentificatie": OBJECT.value}},
            "object[0].brp": {
                "source": "brp",
                "status": "ok" if personen else "not_found",
                "data": {"personen": personen} if personen is not None else None,
            },
            "object[0].zgw": {"source": "zgw", "status": "ok", "data": {"zaken": []}},
        },
        "branches": {"object[0]": {"relation": "object", "identifier": OBJECT.model_dump()}},
    }


def named(subjects: list[Any]) -> dict[tuple[str, str], list[str]]:
    return {(s.identifier.type, s.identifier.value): [d.key for d in s.sources] for s in subjects}


def test_each_resident_a_search_by_the_object_finds_is_a_subject_of_the_residents_source() -> None:
    found = answer([{"burgerservicenummer": "999993653"}, {"burgerservicenummer": "999990007"}, {"naam": {}}])
    disclosed = disclosed_sources(QUERIES, found, RELATIONS)
    subjects = named(lookup_subjects(ADDRESS, disclosed, found, QUERIES, RELATIONS))
    assert subjects == {
        ("nummeraanduiding", ADDRESS.value): ["bag"],
        ("bsn", "999993653"): ["object[0].brp"],
        ("bsn", "999990007"): ["object[0].brp"],
        # The zaken about the object are the object's; the residents' source is not, as it names them.
        ("adresseerbaarobject", OBJECT.value): ["object[0].zgw"],
    }


def test_a_search_that_finds_nobody_is_recorded_against_the_object_it_asked_about() -> None:
    found = answer(None)
    disclosed = disclosed_sources(QUERIES, found, RELATIONS)
    subjects = named(lookup_subjects(ADDRESS, disclosed, found, QUERIES, RELATIONS))
    assert subjects[("adresseerbaarobject", OBJECT.value)] == ["object[0].brp", "object[0].zgw"]


@dataclass
class FakeAsk:
    identifier: Identifier = ADDRESS
    queries: list[SourceQuery] = field(default_factory=lambda: QUERIES)
    relations: list[RelationPlan] = field(default_factory=lambda: RELATIONS)


def test_a_stream_cut_short_names_the_residents_of_the_fragments_it_sent() -> None:
    disclosure = StreamDisclosure(FakeAsk())
    fragment = {
        "key": "object[0].brp",
        "subject": OBJECT.model_dump(),
        "result": {"source": "brp", "status": "ok", "data": {"personen": [{"burgerservicenummer": "999993653"}]}},
    }
    disclosure.sent("fragment", orjson.dumps(fragment))
    assert named(disclosure.subjects()) == {("bsn", "999993653"): ["object[0].brp"]}
    # Once the answer is sent, it holds everything, the residents too.
    disclosure.sent("view", orjson.dumps(answer([{"burgerservicenummer": "999993653"}])))
    assert ("bsn", "999993653") in named(disclosure.subjects())
