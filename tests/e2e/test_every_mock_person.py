"""Every person of the BRP mock data set, looked up through the running stack, comes back as in the data set."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from iko_shared.identifiers import passes_elfproef

pytestmark = pytest.mark.e2e

MOCK = Path(__file__).resolve().parents[2] / "sandbox" / "data" / "brp" / "personen-mock-test-data.json"


def expected_birth_date(raw: str) -> dict[str, Any] | None:
    """The BRP v2 date object for a GBA date (yyyymmdd, with 00 for what is unknown)."""
    if not raw:
        return None
    year, month, day = raw[:4], raw[4:6], raw[6:]
    if year == "0000":
        return {"type": "DatumOnbekend"}
    if month == "00":
        return {"type": "JaarDatum", "jaar": int(year)}
    if day == "00":
        return {"type": "JaarMaandDatum", "jaar": int(year), "maand": int(month)}
    return {"type": "Datum", "datum": f"{year}-{month}-{day}"}


async def test_every_bsn_of_the_mock_data_answers_with_its_name_and_birth_date(gateway):
    persons = json.loads(MOCK.read_text(encoding="utf-8"))
    assert len(persons) == 1176
    limit = asyncio.Semaphore(16)
    failures: list[str] = []
    refused: list[str] = []

    async def check(person: dict[str, Any]) -> None:
        bsn = person["burgerservicenummer"]
        async with limit:
            response = await gateway.post(
                "/api/v1/profiles/persoon/lookups",
                json={"identifier": {"type": "bsn", "value": bsn}, "timeout_ms": 5000},
            )
        if not passes_elfproef(bsn):
            if response.status_code == 422:
                refused.append(bsn)
            else:
                failures.append(f"{bsn}: expected 422, got {response.status_code}")
            return
        if response.status_code != 200:
            failures.append(f"{bsn}: HTTP {response.status_code}")
            return
        brp = response.json()["sources"]["brp"]
        if brp["status"] != "ok":
            failures.append(f"{bsn}: brp {brp['status']} {brp.get('error')}")
            return
        data = brp["data"]
        if data["naam"].get("geslachtsnaam") != person["naam"]["geslachtsnaam"]:
            failures.append(f"{bsn}: geslachtsnaam {data['naam'].get('geslachtsnaam')!r}")
        # Compared with whitespace normalised: the data set pads names with spaces, as GBA fields are.
        voornamen = " ".join((person["naam"].get("voornamen") or "").split())
        if voornamen and " ".join((data["naam"].get("voornamen") or "").split()) != voornamen:
            failures.append(f"{bsn}: voornamen {data['naam'].get('voornamen')!r}")
        expected = expected_birth_date(person.get("geboorte", {}).get("datum", ""))
        actual = data.get("geboorte", {}).get("datum")
        if expected is None:
            if actual is not None:
                failures.append(f"{bsn}: unexpected geboortedatum {actual}")
        elif actual is None or any(actual.get(k) != v for k, v in expected.items()):
            failures.append(f"{bsn}: geboortedatum {actual} != {expected}")

    await asyncio.gather(*(check(p) for p in persons))
    assert failures == [], f"{len(failures)} persons differ, e.g. {failures[:5]}"
    assert refused == ["999999245"]
