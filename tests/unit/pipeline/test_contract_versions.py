"""Rolling upgrades: an older replica reads a newer replica's message (unknown fields ignored), a version this build
does not accept is refused with a clear reason, and the API still refuses a caller's unknown keys."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
import pytest
from iko_gateway.inputs import IdentifierInput
from iko_shared import contracts
from iko_shared.contracts import (
    ACCEPTED_SCHEMA_VERSIONS,
    SCHEMA_VERSION,
    FragmentProduced,
    Identifier,
    LookupRequested,
    SourceQuery,
)
from pydantic import BaseModel, ValidationError

BSN = Identifier(type="bsn", value="999993653")


def lookup() -> LookupRequested:
    return LookupRequested(
        request_id="r1",
        profile="persoon",
        identifier=BSN,
        queries=[SourceQuery(key="brp", source="brp", operation="RaadpleegMetBurgerservicenummer")],
        requested_at=time.time(),
        deadline=time.time() + 2,
        reply_to="replies",
    )


def with_extra(message: BaseModel) -> bytes:
    """The message as a newer replica might write it: a field at the top and one nested that this build lacks."""
    body = orjson.loads(message.model_dump_json())
    body["priority"] = "high"
    nested = "identifier" if "identifier" in body else "subject"
    body[nested]["issuer"] = "gemeente"
    return orjson.dumps(body)


def test_a_message_with_fields_a_newer_replica_added_is_read() -> None:
    read = LookupRequested.model_validate_json(with_extra(lookup()))
    assert read.identifier == BSN
    assert read.request_id == "r1"
    fragment = FragmentProduced(
        request_id="r1",
        key="brp",
        source="brp",
        status="ok",
        data={},
        retrieved_at=datetime.now(UTC),
        duration_ms=3.0,
        deadline=time.time() + 2,
        subject=BSN,
    )
    assert FragmentProduced.model_validate_json(with_extra(fragment)).subject == BSN


def test_a_version_this_build_does_not_accept_is_refused_by_name() -> None:
    body = orjson.loads(lookup().model_dump_json())
    body["schema_version"] = max(ACCEPTED_SCHEMA_VERSIONS) + 1
    with pytest.raises(ValidationError, match=r"schema_version \d+ is not accepted by this build \(accepted: 1\)"):
        LookupRequested.model_validate(body)


def test_the_previous_version_stays_readable_after_a_bump(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a breaking change writes version 2, a consumer of that build still reads the 1 older replicas send."""
    monkeypatch.setattr(contracts, "ACCEPTED_SCHEMA_VERSIONS", frozenset({1, 2}))
    for version in (1, 2):
        body = {**orjson.loads(lookup().model_dump_json()), "schema_version": version}
        assert LookupRequested.model_validate(body).schema_version == version
    assert SCHEMA_VERSION in ACCEPTED_SCHEMA_VERSIONS


def test_a_caller_identifier_with_an_unknown_key_is_still_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        IdentifierInput.model_validate({"type": "bsn", "value": "999993653", "typo": 1})
