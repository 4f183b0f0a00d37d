"""Dutch identifiers as data: each type's name, pattern and check, read by the gateway, the assembler, the profiles
and the audit store. A new type (an object UUID, a BAG id of another kind, ...) is one entry in ``IDENTIFIER_TYPES``.
Also masking for logs."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema


def passes_elfproef(number: str) -> bool:
    """The '11-proof' of BSN and RSIN: weights 9..2 and -1 on the last digit, sum divisible by 11."""
    if not re.fullmatch(r"[0-9]{9}", number):
        return False
    digits = [int(c) for c in number]
    total = sum(d * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - digits[8]
    return total % 11 == 0 and total != 0


@dataclass(frozen=True)
class IdentifierKind:
    """One identifier type: what it is called, what it looks like and whose it is."""

    name: str
    title: str
    # Matched in full, ASCII only: ``\\d`` would admit Arabic-Indic and full-width digits, ``$`` a newline.
    pattern: re.Pattern[str]
    # The shape, as a person reads it in an error ("a BSN has exactly 9 digits").
    shape: str
    # The Verwerkingenlogging model's objecttype of what this identifies.
    objecttype: str
    # A further check once the shape holds: why the value is not valid, or None.
    check: Callable[[str], str | None] | None = None

    def problem(self, value: str) -> str | None:
        if not self.pattern.fullmatch(value):
            return self.shape
        return self.check(value) if self.check is not None else None


def _elfproef(what: str) -> Callable[[str], str | None]:
    return lambda value: None if passes_elfproef(value) else f"this {what} fails the elfproef"


IDENTIFIER_TYPES: dict[str, IdentifierKind] = {
    kind.name: kind
    for kind in (
        IdentifierKind(
            "bsn", "BSN", re.compile(r"[0-9]{9}"), "a BSN has exactly 9 digits", "natuurlijk persoon", _elfproef("BSN")
        ),
        IdentifierKind(
            "kvk", "KVK-nummer", re.compile(r"[0-9]{8}"), "a kvkNummer has exactly 8 digits", "niet-natuurlijk persoon"
        ),
        IdentifierKind(
            "rsin",
            "RSIN",
            re.compile(r"[0-9]{9}"),
            "an RSIN has exactly 9 digits",
            "niet-natuurlijk persoon",
            _elfproef("RSIN"),
        ),
        IdentifierKind(
            "vestigingsnummer",
            "Vestigingsnummer",
            re.compile(r"[0-9]{12}"),
            "a vestigingsnummer has exactly 12 digits",
            "vestiging",
        ),
        # BAG: the address (nummeraanduiding) by its 16-digit identification (4 digits of the municipality, 2 of the
        # object kind, 10 of the number).
        IdentifierKind(
            "nummeraanduiding",
            "Nummeraanduiding",
            re.compile(r"[0-9]{16}"),
            "a nummeraanduiding identification has exactly 16 digits",
            "adres",
        ),
        # BAG: the adresseerbaar object (verblijfsobject, standplaats or ligplaats) an address belongs to, by its
        # 16-digit identification: what the BRP registers a person at and what a zaakobject points at.
        IdentifierKind(
            "adresseerbaarobject",
            "Adresseerbaar object",
            re.compile(r"[0-9]{16}"),
            "an adresseerbaar object identification has exactly 16 digits",
            "adresseerbaar object",
        ),
    )
}


def known_identifier_type(name: str) -> str:
    """``name`` when it is a known identifier type; for pydantic fields (``IdentifierType``)."""
    if name not in IDENTIFIER_TYPES:
        raise ValueError(f"unknown identifier type {name!r}; known: {', '.join(IDENTIFIER_TYPES)}")
    return name


# An identifier type's name, checked against ``IDENTIFIER_TYPES`` where a model holds one; the documents (OpenAPI,
# AsyncAPI) list the types known to this build.
IdentifierType = Annotated[
    str, AfterValidator(known_identifier_type), WithJsonSchema({"type": "string", "enum": list(IDENTIFIER_TYPES)})
]


def identifier_problem(kind: str, value: str) -> str | None:
    """Why ``value`` is not a valid identifier of ``kind``, or None when it is."""
    found = IDENTIFIER_TYPES.get(kind)
    if found is None:
        return f"unknown identifier type {kind!r}"
    return found.problem(value)


def objecttype(kind: str) -> str:
    found = IDENTIFIER_TYPES.get(kind)
    return found.objecttype if found is not None else "onbekend"


def mask(value: str) -> str:
    """Keep enough to correlate by eye, never enough to identify: '999993653' -> '9999***53'."""
    if len(value) <= 4:
        return "*" * len(value)
    keep_head = min(4, len(value) - 4)
    return value[:keep_head] + "***" + value[-2:]
