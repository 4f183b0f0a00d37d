"""KVK Zoeken v2: filtering companies and branches into paged result items."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from iko_sandbox.kvk.companies import Adres, Company, Vestiging
from iko_sandbox.kvk.representation import LinkStyle

MAX_RESULTS = 1000
PATTERNS = {
    "kvkNummer": r"^[0-9]{8}$",
    "rsin": r"^[0-9]{9}$",
    "vestigingsnummer": r"^[0-9]{12}$",
    "postcode": r"^[0-9]{4}[a-zA-Z]{2}$",
    "huisnummer": r"^[0-9]{1,5}$",
    "huisletter": r"^[a-zA-Z]$",
    "postbusnummer": r"^[0-9]{1,5}$",
}
TYPES = ("hoofdvestiging", "nevenvestiging", "rechtspersoon")


@dataclass(frozen=True)
class Hit:
    company: Company
    vestiging: Vestiging | None  # None for the rechtspersoon itself

    @property
    def type(self) -> str:
        if self.vestiging is None:
            return "rechtspersoon"
        return "hoofdvestiging" if self.vestiging.hoofdvestiging else "nevenvestiging"

    @property
    def adres(self) -> Adres | None:
        adressen = self.vestiging.adressen if self.vestiging else self.company.eigenaar_adressen
        if not adressen and self.vestiging is None and self.company.hoofdvestiging:
            adressen = self.company.hoofdvestiging.adressen
        visible = [a for a in adressen if not a.afgeschermd]
        return next((a for a in visible if a.type == "bezoekadres"), visible[0] if visible else None)


def validate(params: dict[str, list[str]]) -> str | None:
    """Returns the name of the first invalid parameter, or None."""
    for name, pattern in PATTERNS.items():
        for value in params.get(name, []):
            if not re.fullmatch(pattern, value):
                return name
    for value in params.get("type", []):
        if any(part not in TYPES for part in value.split(",")):
            return "type"
    for name, low, high in (("pagina", 1, 1000), ("resultatenPerPagina", 1, 100)):
        for value in params.get(name, []):
            if not value.isdigit() or not low <= int(value) <= high:
                return name
    for value in params.get("inclusiefInactieveRegistraties", []):
        if value.lower() not in ("true", "false"):
            return "inclusiefInactieveRegistraties"
    if ("huisnummer" in params or "postbusnummer" in params) and "postcode" not in params:
        return "postcode"
    return None


def _contains(wanted: str, *candidates: str) -> bool:
    want = wanted.lower()
    return any(want in candidate.lower() for candidate in candidates if candidate)


def _hits(companies: dict[str, Company]) -> list[Hit]:
    hits: list[Hit] = []
    for company in companies.values():
        if company.rechtspersoon:
            hits.append(Hit(company, None))
        hits.extend(Hit(company, vestiging) for vestiging in company.vestigingen)
    return hits


def _matches(hit: Hit, params: dict[str, str], types: set[str], inactive: bool) -> bool:
    company = hit.company
    adres = hit.adres
    if not inactive and not company.actief:
        return False
    if types and hit.type not in types:
        return False
    checks: dict[str, Callable[[str], bool]] = {
        "kvkNummer": lambda v: company.kvk_nummer == v,
        "rsin": lambda v: company.rsin == v,
        "vestigingsnummer": lambda v: hit.vestiging is not None and hit.vestiging.vestigingsnummer == v,
        "naam": lambda v: _contains(v, company.naam, *(hit.vestiging.handelsnamen if hit.vestiging else [])),
        "straatnaam": lambda v: adres is not None and _contains(v, adres.straatnaam),
        "plaats": lambda v: adres is not None and _contains(v, adres.plaats),
        "postcode": lambda v: adres is not None and adres.postcode.upper() == v.upper(),
        "huisnummer": lambda v: adres is not None and str(adres.huisnummer) == str(int(v)),
        "huisletter": lambda v: adres is not None and adres.huisletter.upper() == v.upper(),
        "postbusnummer": lambda v: adres is not None and str(adres.postbusnummer) == str(int(v)),
    }
    return all(check(params[name]) for name, check in checks.items() if name in params)


def search(companies: dict[str, Company], params: dict[str, list[str]]) -> list[Hit]:
    single = {name: values[0] for name, values in params.items() if values}
    types = {part for value in params.get("type", []) for part in value.split(",") if part}
    inactive = single.get("inclusiefInactieveRegistraties", "false").lower() == "true"
    return [hit for hit in _hits(companies) if _matches(hit, single, types, inactive)][:MAX_RESULTS]


def render_hit(hit: Hit, style: LinkStyle) -> dict[str, Any]:
    company = hit.company
    item: dict[str, Any] = {"kvkNummer": company.kvk_nummer}
    if company.rsin and hit.vestiging is None:
        item["rsin"] = company.rsin
    if hit.vestiging is not None:
        item["vestigingsnummer"] = hit.vestiging.vestigingsnummer
    item["naam"] = hit.vestiging.naam if hit.vestiging else company.naam
    adres = hit.adres
    if adres is not None:
        binnenlands: dict[str, Any] = {"type": "postadres" if adres.type == "postadres" else "bezoekadres"}
        if adres.postbusnummer is not None:
            binnenlands["postbusnummer"] = adres.postbusnummer
        else:
            binnenlands["straatnaam"] = adres.straatnaam
            if adres.huisnummer is not None:
                binnenlands["huisnummer"] = adres.huisnummer
            if adres.huisletter:
                binnenlands["huisletter"] = adres.huisletter
        binnenlands["postcode"] = adres.postcode
        binnenlands["plaats"] = adres.plaats
        item["adres"] = {"binnenlandsAdres": binnenlands}
    item["type"] = hit.type
    item["actief"] = "Ja" if company.actief else "Nee"
    links = {"basisprofiel": f"v1/basisprofielen/{company.kvk_nummer}"}
    if hit.vestiging is not None:
        links["vestigingsprofiel"] = f"v1/vestigingsprofielen/{hit.vestiging.vestigingsnummer}"
    return style.attach(item, links)
