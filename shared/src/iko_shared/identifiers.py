"""Dutch identifiers: validation rules and masking for logs."""

from __future__ import annotations

import re
from typing import Literal

IdentifierType = Literal["bsn", "kvk", "rsin", "vestigingsnummer"]

# ASCII digits only, matched in full: ``\d`` admits Arabic-Indic and full-width digits, and ``$`` a trailing newline.
_BSN = re.compile(r"[0-9]{9}")
_KVK = re.compile(r"[0-9]{8}")
_VESTIGINGSNUMMER = re.compile(r"[0-9]{12}")


def passes_elfproef(number: str) -> bool:
    """The '11-proof' of BSN and RSIN: weights 9..2 and -1 on the last digit, sum divisible by 11."""
    if not _BSN.fullmatch(number):
        return False
    digits = [int(c) for c in number]
    total = sum(d * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - digits[8]
    return total % 11 == 0 and total != 0


def identifier_problem(kind: str, value: str) -> str | None:
    """Why ``value`` is not a valid identifier of ``kind``, or None when it is."""
    if kind == "bsn":
        if not _BSN.fullmatch(value):
            return "a BSN has exactly 9 digits"
        if not passes_elfproef(value):
            return "this BSN fails the elfproef"
        return None
    if kind == "kvk":
        if not _KVK.fullmatch(value):
            return "a kvkNummer has exactly 8 digits"
        return None
    if kind == "rsin":
        # An RSIN is checked like a BSN: nine digits and the elfproef.
        if not _BSN.fullmatch(value):
            return "an RSIN has exactly 9 digits"
        if not passes_elfproef(value):
            return "this RSIN fails the elfproef"
        return None
    if kind == "vestigingsnummer":
        if not _VESTIGINGSNUMMER.fullmatch(value):
            return "a vestigingsnummer has exactly 12 digits"
        return None
    return f"unknown identifier type {kind!r}"


def mask(value: str) -> str:
    """Keep enough to correlate by eye, never enough to identify: '999993653' -> '9999***53'."""
    if len(value) <= 4:
        return "*" * len(value)
    keep_head = min(4, len(value) - 4)
    return value[:keep_head] + "***" + value[-2:]
