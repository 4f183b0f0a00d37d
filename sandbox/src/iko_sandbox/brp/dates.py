"""GBA dates ("19750707", "20120000", "00000000") to the BRP API v2 date objects."""

from __future__ import annotations

from datetime import date
from typing import Any

MONTHS = (
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
)


def to_datum(raw: str | None) -> dict[str, Any] | None:
    """Maps a GBA date to the v2 `AbstractDatum` variant the spec prescribes for it."""
    if not raw or len(raw) != 8 or not raw.isdigit():
        return None
    year, month, day = int(raw[:4]), int(raw[4:6]), int(raw[6:])
    if year == 0:
        return {"type": "DatumOnbekend", "onbekend": True, "langFormaat": "onbekend"}
    if month == 0:
        return {"type": "JaarDatum", "jaar": year, "langFormaat": str(year)}
    if day == 0:
        return {
            "type": "JaarMaandDatum",
            "jaar": year,
            "maand": month,
            "langFormaat": f"{MONTHS[month - 1]} {year}",
        }
    return {
        "type": "Datum",
        "datum": date(year, month, day).isoformat(),
        "langFormaat": f"{day} {MONTHS[month - 1]} {year}",
    }


def to_date(raw: str | None) -> date | None:
    """A Python date when the GBA date is complete, else None."""
    if not raw or len(raw) != 8 or not raw.isdigit() or raw.endswith("00") or raw[4:6] == "00":
        return None
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        return None


def age_on(birth: date, today: date) -> int:
    had_birthday = (today.month, today.day) >= (birth.month, birth.day)
    return today.year - birth.year - (0 if had_birthday else 1)
