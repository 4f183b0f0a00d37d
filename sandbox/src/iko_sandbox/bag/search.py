"""Query parameters of GET /adressen and /adressenuitgebreid: checks and matching."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from iko_sandbox.bag.problems import invalid_param
from iko_sandbox.bag.register import Adres, BagRegister

PATTERNS = {
    "postcode": re.compile(r"^[1-9][0-9]{3}[a-zA-Z]{2}$"),
    "huisnummertoevoeging": re.compile(r"^[0-9a-zA-Z]{1,4}$"),
    "huisletter": re.compile(r"^[a-zA-Z]$"),
    "adresseerbaarObjectIdentificatie": re.compile(r"^[0-9]{4}(01|02|03)[0-9]{10}$"),
    "pandIdentificatie": re.compile(r"^[0-9]{4}10[0-9]{10}$"),
}
NAMES = ("woonplaatsNaam", "openbareRuimteNaam")
INTEGERS = {"huisnummer": (1, 99999), "page": (1, None), "pageSize": (10, 100)}
# The search entries the spec lists; huisletter, huisnummertoevoeging and exacteMatch refine
# the two huisnummer entries.
ENTRIES: tuple[frozenset[str], ...] = (
    frozenset({"postcode", "huisnummer"}),
    frozenset({"adresseerbaarObjectIdentificatie"}),
    frozenset({"woonplaatsNaam", "openbareRuimteNaam", "huisnummer"}),
    frozenset({"pandIdentificatie"}),
)
REFINEMENTS = frozenset({"huisletter", "huisnummertoevoeging", "exacteMatch"})
SEARCH_PARAMETERS = frozenset().union(*ENTRIES) | REFINEMENTS


@dataclass(frozen=True)
class Query:
    values: dict[str, str]

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    @property
    def entry(self) -> frozenset[str]:
        return frozenset(name for name in self.values if name in SEARCH_PARAMETERS) - REFINEMENTS


def check(params: Mapping[str, str]) -> list[dict[str, str]]:
    """The spec's schema checks; an empty list when every given parameter is valid."""
    problems: list[dict[str, str]] = []
    for name, pattern in PATTERNS.items():
        value = params.get(name)
        if value is not None and not pattern.fullmatch(value):
            problems.append(invalid_param(name, "pattern", f"Waarde voldoet niet aan patroon {pattern.pattern}."))
    for name in NAMES:
        value = params.get(name)
        if value is not None and not 1 <= len(value) <= 80:
            problems.append(invalid_param(name, "maxLength", "Waarde is langer dan 80 tekens."))
    for name, (low, high) in INTEGERS.items():
        value = params.get(name)
        if value is None:
            continue
        if not re.fullmatch(r"-?[0-9]+", value):
            problems.append(invalid_param(name, "integer", "Waarde is geen geldige integer."))
        elif int(value) < low:
            problems.append(invalid_param(name, "minimum", f"Waarde is lager dan minimum {low}."))
        elif high is not None and int(value) > high:
            problems.append(invalid_param(name, "maximum", f"Waarde is hoger dan maximum {high}."))
    exact = params.get("exacteMatch")
    if exact is not None and exact.lower() not in ("true", "false"):
        problems.append(invalid_param("exacteMatch", "boolean", "Waarde is geen geldige boolean."))
    return problems


def _same(value: str | None, wanted: str | None, exact: bool) -> bool:
    if wanted is None:
        return not exact or value is None
    return (value or "").lower() == wanted.lower()


def find(register: BagRegister, query: Query) -> list[Adres]:
    """The addresses that match one of the spec's search entries (the caller checked it is one)."""
    entry = query.entry
    exact = (query.get("exacteMatch") or "false").lower() == "true"
    candidates: list[Adres]
    if "adresseerbaarObjectIdentificatie" in entry:
        found = register.adres_of_object(query.values["adresseerbaarObjectIdentificatie"])
        return [found] if found else []
    if "pandIdentificatie" in entry:
        wanted = query.values["pandIdentificatie"]
        return [a for a in register.adressen() if a.verblijfsobject.pand.identificatie == wanted]
    huisnummer = int(query.values["huisnummer"])
    if "postcode" in entry:
        postcode = query.values["postcode"].upper()
        candidates = [a for a in register.adressen() if a.postcode == postcode and a.huisnummer == huisnummer]
    else:
        woonplaats = query.values["woonplaatsNaam"].lower()
        straat = query.values["openbareRuimteNaam"].lower()
        candidates = [
            a
            for a in register.adressen()
            if a.huisnummer == huisnummer
            and a.woonplaats.naam.lower() == woonplaats
            and straat in (a.openbare_ruimte.naam.lower(), a.openbare_ruimte.korte_naam.lower())
        ]
    return sorted(
        (
            a
            for a in candidates
            if _same(a.huisletter, query.get("huisletter"), exact)
            and _same(a.huisnummertoevoeging, query.get("huisnummertoevoeging"), exact)
        ),
        key=lambda a: (
            (a.huisletter or "").lower(),
            (a.huisnummertoevoeging or "").lower(),
            a.nummeraanduiding_identificatie,
        ),
    )
