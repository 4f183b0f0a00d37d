"""The Objecten connector under contract: registrations configured per objecttype, as a profile sets them.

The Objects API filters by GET query only, so the identifier is in the URL; the kit's "a BSN travels in no URL"
test has no opt-out, so this case asks by kvkNummer and nummeraanduiding, and a BSN is tested in
``tests/contract/test_objecten_connector.py``.
"""

from __future__ import annotations

from typing import Any

from iko_objecten_connector.source import ObjectenSettings, ObjectenSource
from iko_sandbox.objecten.app import create_objecten_app
from iko_sandbox.objecten.store import OBJECTTYPE_UUIDS
from iko_shared.contracts import FragmentProduced, Identifier
from iko_shared.testing.contract_kit import ConnectorCase, Scenario
from pydantic import SecretStr

from tests.contract.cases.common import KVK, UNKNOWN_KVK, http_status

TOKEN = "contract-objecten-token"
NUMMERAANDUIDING = Identifier(type="nummeraanduiding", value="0599200000219678")

# What a profile sets: per identifier type, the objecttypes and the data path the identifier is matched on.
PARAMS: dict[str, Any] = {
    "types": [
        {"objecttype": OBJECTTYPE_UUIDS["parkeervergunning"], "data_attr": "bsn", "identifier_type": "bsn"},
        {"objecttype": OBJECTTYPE_UUIDS["bedrijfsvergunning"], "data_attr": "kvkNummer", "identifier_type": "kvk"},
        {
            "objecttype": OBJECTTYPE_UUIDS["melding-openbare-ruimte"],
            "data_attr": "nummeraanduidingIdentificatie",
            "identifier_type": "nummeraanduiding",
        },
    ]
}


def make_source(base_url: str, /, **overrides: Any) -> tuple[ObjectenSource, ObjectenSettings]:
    settings = ObjectenSettings(**{"base_url": base_url, "token": SecretStr(TOKEN), **overrides})
    return ObjectenSource(settings), settings


def _bedrijfsvergunningen(fragment: FragmentProduced) -> None:
    assert fragment.data["count"] == 2
    assert [o["record"]["data"]["kvkNummer"] for o in fragment.data["objecten"]] == ["69599084", "69599084"]
    assert {o["objecttypeNaam"] for o in fragment.data["objecten"]} == {"bedrijfsvergunning"}


def _meldingen(fragment: FragmentProduced) -> None:
    assert fragment.data["count"] == 2
    assert {o["objecttypeNaam"] for o in fragment.data["objecten"]} == {"melding openbare ruimte"}


def _none(fragment: FragmentProduced) -> None:
    assert fragment.data == {"count": 0, "complete": True, "objecten": [], "warnings": []}


CASE = ConnectorCase(
    source="objecten",
    make_source=make_source,
    make_simulator=lambda: create_objecten_app(token=TOKEN),
    happy=Scenario("the bedrijfsvergunningen of a kvkNummer", "registraties", KVK, PARAMS, check=_bedrijfsvergunningen),
    not_found=Scenario("an unknown kvkNummer: no registrations", "registraties", UNKNOWN_KVK, PARAMS, check=_none),
    errors=[
        Scenario(
            "wrong token",
            "registraties",
            KVK,
            PARAMS,
            settings={"token": SecretStr("not-the-token")},
            status="error",
            error_code="authentication",
            check=http_status(401),
        ),
        Scenario(
            "no objecttype configured",
            "registraties",
            KVK,
            {},
            status="error",
            error_code="invalid_query",
        ),
    ],
    searches=[
        Scenario(
            "the meldingen at a nummeraanduiding",
            "registraties",
            NUMMERAANDUIDING,
            PARAMS,
            check=_meldingen,
        ),
    ],
)
