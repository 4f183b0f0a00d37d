"""The committed AsyncAPI document must match what the FastStream apps declare today."""

from tools.asyncapi import DOCUMENT, render


def test_committed_asyncapi_document_is_current():
    assert DOCUMENT.exists(), "docs/asyncapi/iko.yaml is missing: run `make asyncapi`"
    assert DOCUMENT.read_text(encoding="utf-8") == render(), (
        "docs/asyncapi/iko.yaml is stale: run `make asyncapi` and commit the result"
    )


def test_document_names_every_message_contract():
    text = render()
    for contract in ("LookupRequested", "FragmentProduced", "LookupCompleted"):
        assert f"{contract}:" in text or contract in text
    assert "iko.connector.brp" in text
    assert "iko.assembler.fragments" in text
