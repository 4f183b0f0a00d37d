"""Placeholder: maps GBA 'gegevens in onderzoek' markers onto v2 inOnderzoek objects."""

from __future__ import annotations

from typing import Any


def apply_onderzoek(persoon: dict[str, Any], raw: dict[str, Any]) -> None:
    """Fills the v2 inOnderzoek objects from the mock's aanduidingGegevensInOnderzoek."""
    del persoon, raw
