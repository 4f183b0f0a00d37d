"""Completion rules of the assembled view."""

from iko_assembler.view import compose_view

META = {
    "profile": "persoon",
    "identifier": {"type": "bsn", "value": "999993653"},
    "requested_at": 100.0,
    "deadline": 101.0,
    "reply_to": "q",
    "queries": [{"key": "brp", "source": "brp"}, {"key": "zgw", "source": "zgw"}],
}


def fragment(status="ok", data=None, error=None):
    return {
        "status": status,
        "data": data,
        "error": error,
        "retrieved_at": "2026-11-22T08:00:00+00:00",
        "duration_ms": 3.5,
    }


def test_all_fragments_make_a_complete_view():
    view = compose_view("r1", META, {"brp": fragment(data={"a": 1}), "zgw": fragment()}, "all_sources", 100.2)
    assert view.status == "complete"
    assert view.completed_by == "all_sources"
    assert view.sources["brp"].data == {"a": 1}
    assert view.sources["brp"].source == "brp"


def test_an_error_fragment_still_completes():
    error = {"code": "http_500", "message": "boom", "details": None}
    view = compose_view("r1", META, {"brp": fragment("error", error=error), "zgw": fragment()}, "all_sources", 100.2)
    assert view.status == "complete"
    assert view.sources["brp"].status == "error"
    assert view.sources["brp"].error is not None
    assert view.sources["brp"].error.code == "http_500"


def test_missing_fragment_at_deadline_is_timeout_and_partial():
    view = compose_view("r1", META, {"zgw": fragment()}, "deadline", 101.0)
    assert view.status == "partial"
    assert view.completed_by == "deadline"
    assert view.sources["brp"].status == "timeout"
    assert view.sources["brp"].error is not None
    assert view.sources["zgw"].status == "ok"
