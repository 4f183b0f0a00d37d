"""Completion rules of the assembled answer."""

from iko_assembler.store import ClosedRequest
from iko_assembler.view import compose_view

META = {
    "profile": "persoon",
    "identifier": {"type": "bsn", "value": "999993653"},
    "requested_at": 100.0,
    "deadline": 101.0,
    "reply_to": "q",
    "transform": None,
}
EXPECTED = {"brp": {"source": "brp"}, "zgw": {"source": "zgw"}}


def fragment(status="ok", data=None, error=None):
    return {
        "status": status,
        "data": data,
        "error": error,
        "retrieved_at": "2026-11-22T08:00:00+00:00",
        "duration_ms": 3.5,
    }


def closed(fragments, by="all_sources", expected=EXPECTED, meta=META, **extra):
    return ClosedRequest("r1", by, 100.2, meta, expected, fragments, **extra)


def test_all_fragments_make_a_complete_answer():
    view = compose_view(closed({"brp": fragment(data={"a": 1}), "zgw": fragment()}))
    assert view.status == "complete"
    assert view.completed_by == "all_sources"
    assert view.sources["brp"].data == {"a": 1}
    assert view.sources["brp"].source == "brp"
    assert view.view == {"brp": {"a": 1}, "zgw": None}, "without a transform the view is the data by key"


def test_an_error_fragment_still_completes():
    error = {"code": "http_500", "message": "boom", "details": None}
    view = compose_view(closed({"brp": fragment("error", error=error), "zgw": fragment()}))
    assert view.status == "complete"
    assert view.sources["brp"].status == "error"
    assert view.sources["brp"].error is not None
    assert view.sources["brp"].error.code == "http_500"


def test_missing_fragment_at_deadline_is_timeout_and_partial():
    view = compose_view(closed({"zgw": fragment()}, by="deadline"))
    assert view.status == "partial"
    assert view.completed_by == "deadline"
    assert view.sources["brp"].status == "timeout"
    assert view.timed_out == ["brp"]
    assert view.sources["zgw"].status == "ok"


def test_branches_are_listed_and_a_timed_out_branch_is_named():
    expected = {
        **EXPECTED,
        "partners[0].brp": {"source": "brp", "relation": "partners", "branch": "partners[0]"},
        "partners[0].zgw": {"source": "zgw", "relation": "partners", "branch": "partners[0]"},
    }
    branches = {
        "partners[0]": {
            "relation": "partners",
            "parent": "brp",
            "identifier": {"type": "bsn", "value": "999990408"},
            "keys": ["partners[0].brp", "partners[0].zgw"],
        }
    }
    fragments = {"brp": fragment(), "zgw": fragment(), "partners[0].brp": fragment(data={"n": 1})}
    view = compose_view(closed(fragments, by="deadline", expected=expected, branches=branches))
    assert list(view.sources) == ["brp", "zgw", "partners[0].brp", "partners[0].zgw"]
    assert view.status == "partial"
    assert view.timed_out == ["partners[0].zgw"]
    assert view.branches["partners[0]"].identifier.value == "999990408"


def test_an_unexpanded_relation_makes_the_answer_partial():
    view = compose_view(closed({"brp": fragment(), "zgw": fragment()}, by="deadline", not_expanded=["brp"]))
    assert view.status == "partial"
    assert view.not_expanded == ["brp"]


def test_the_transform_shapes_the_view_and_a_failing_one_loses_nothing():
    meta = {**META, "transform": "{naam: .sources.brp.data.naam, n: (.sources | length)}"}
    view = compose_view(closed({"brp": fragment(data={"naam": "X"}), "zgw": fragment()}, meta=meta))
    assert view.view == {"naam": "X", "n": 2}
    broken = {**META, "transform": 'error("nope")'}
    view = compose_view(closed({"brp": fragment(data={"naam": "X"}), "zgw": fragment()}, meta=broken))
    assert view.view is None
    assert view.sources["brp"].data == {"naam": "X"}
