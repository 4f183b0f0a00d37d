"""The Objecten connector under contract: registrations configured per objecttype, as a profile sets them.

The Objects API filters by GET query only (``data_attr``), so the identifier, a BSN too, is in the URL: the case
says so with ``bsn_in_url_accepted_because``. Happy and not found ask by BSN; kvkNummer and nummeraanduiding are
searches.
"""

from __future__ import annotations

from typing import Any

from iko_objecten_connector.source import ObjectenSettings, ObjectenSource
from iko_sandbox.objecten.app import create_objecten_app
from iko_sandbox.objecten.store import OBJECTTYPE_UUIDS
from iko_shared.contracts import FragmentProduced, Identifier
from iko_shared.testing.contract_kit import ConnectorCase, Scenario
from pydantic import SecretStr

from tests.contract.cases.common import BSN, KVK, UNKNOWN_BSN, http_status

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


def _parkeervergunningen(fragment: FragmentProduced) -> None:
    assert fragment.data["count"] == 2
    assert {o["record"]["data"]["bsn"] for o in fragment.data["objecten"]} == {"999993653"}
    assert {o["objecttypeNaam"] for o in fragment.data["objecten"]} == {"parkeervergunning"}


def _none(fragment: FragmentProduced) -> None:
    assert fragment.data == {"count": 0, "complete": True, "objecten": [], "warnings": []}


CASE = ConnectorCase(
    source="objecten",
    make_source=make_source,
    make_simulator=lambda: create_objecten_app(token=TOKEN),
    happy=Scenario("the parkeervergunningen of a bsn", "registraties", BSN, PARAMS, check=_parkeervergunningen),
    not_found=Scenario("an unknown bsn: no registrations", "registraties", UNKNOWN_BSN, PARAMS, check=_none),
    errors=[
        Scenario(
            "wrong token",
            "registraties",
            BSN,
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
        Scenario("the bedrijfsvergunningen of a kvkNummer", "registraties", KVK, PARAMS, check=_bedrijfsvergunningen),
        Scenario(
            "the meldingen at a nummeraanduiding",
            "registraties",
            NUMMERAANDUIDING,
            PARAMS,
            check=_meldingen,
        ),
    ],
    bsn_in_url_accepted_because=(
        "the Objects API filters objects by GET query only (data_attr=<path>__exact__<value>); it has no search "
        "with a body for record data"
    ),
)
