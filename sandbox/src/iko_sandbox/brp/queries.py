"""Validates the POST /personen body and finds the persons it asks for."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from iko_sandbox.brp.fields import FieldSets, field_problem
from iko_sandbox.brp.problems import invalid_param
from iko_sandbox.brp.repository import PersonRecord, PersonRepository

# Patterns copied from the spec's request schemas, so the simulator refuses what the real API refuses.
NAAM = r"^[a-zA-Z0-9À-ž \.\-\']{1,200}$|^[a-zA-Z0-9À-ž \.\-\']{3,199}\*{1}$"
PATTERNS: dict[str, str] = {
    "geslachtsnaam": NAAM,
    "voornamen": NAAM,
    "voornamen_optioneel": r"^[a-zA-Z0-9À-ž \.\-\']{1,199}\*{0,1}$",
    "geslacht": r"^([Mm]|[Vv]|[Oo])$",
    "voorvoegsel": r"^[a-zA-Z \']{1,10}$",
    "gemeenteVanInschrijving": r"^[0-9]{4}$",
    "postcode": r"^[1-9]{1}[0-9]{3}[ ]?[A-Za-z]{2}$",
    "huisletter": r"^[a-zA-Z]{1}$",
    "huisnummertoevoeging": r"^[a-zA-Z0-9 \-]{1,4}$",
    "straat": r"^[a-zA-Z0-9À-ž \-\'\.]{1,80}$|^[a-zA-Z0-9À-ž \-\'\.]{7,79}\*{1}$|^\*{1}[a-zA-Z0-9À-ž \-\'\.]{7,79}$",
    "nummeraanduidingIdentificatie": r"^(?!0{16})[0-9]{16}$",
    "adresseerbaarObjectIdentificatie": r"^(?!0{16})[0-9]{16}$",
    "burgerservicenummer": r"^[0-9]{9}$",
    "field": r"^[a-zA-Z0-9\._]{1,200}$",
}
MAX_BSNS = 20
MAX_FIELDS = 130
BASE_PARAMS = ("type", "fields", "gemeenteVanInschrijving")


@dataclass(frozen=True)
class QueryType:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    field_set: str
    includes_deceased_by_default: bool = False


QUERY_TYPES = {
    q.name: q
    for q in (
        QueryType("RaadpleegMetBurgerservicenummer", ("burgerservicenummer",), (), "persoon", True),
        QueryType(
            "ZoekMetGeslachtsnaamEnGeboortedatum",
            ("geslachtsnaam", "geboortedatum"),
            ("inclusiefOverledenPersonen", "geslacht", "voorvoegsel", "voornamen"),
            "persoon_beperkt",
        ),
        QueryType(
            "ZoekMetNaamEnGemeenteVanInschrijving",
            ("geslachtsnaam", "gemeenteVanInschrijving", "voornamen"),
            ("inclusiefOverledenPersonen", "geslacht", "voorvoegsel"),
            "persoon_beperkt",
        ),
        QueryType(
            "ZoekMetPostcodeEnHuisnummer",
            ("postcode", "huisnummer"),
            (
                "inclusiefOverledenPersonen",
                "huisletter",
                "huisnummertoevoeging",
                "geboortedatum",
                "geslachtsnaam",
            ),
            "persoon_beperkt",
        ),
        QueryType(
            "ZoekMetStraatHuisnummerEnGemeenteVanInschrijving",
            ("straat", "huisnummer", "gemeenteVanInschrijving"),
            ("inclusiefOverledenPersonen", "huisletter", "huisnummertoevoeging"),
            "persoon_beperkt",
        ),
        QueryType(
            "ZoekMetNummeraanduidingIdentificatie",
            ("nummeraanduidingIdentificatie",),
            ("inclusiefOverledenPersonen",),
            "persoon_beperkt",
        ),
        QueryType(
            "ZoekMetAdresseerbaarObjectIdentificatie",
            ("adresseerbaarObjectIdentificatie",),
            ("inclusiefOverledenPersonen",),
            "gezag_persoon_beperkt",
        ),
    )
}


class QueryError(Exception):
    def __init__(self, title: str, code: str, invalid_params: list[dict[str, str]]) -> None:
        super().__init__(title)
        self.title = title
        self.code = code
        self.invalid_params = invalid_params


def _pattern_error(name: str, value: Any, pattern_key: str) -> dict[str, str] | None:
    if not isinstance(value, str):
        return invalid_param(name, "string", "Waarde is geen geldige string.")
    if not re.fullmatch(PATTERNS[pattern_key], value):
        return invalid_param(name, "pattern", "Waarde voldoet niet aan het patroon.")
    return None


def _check_param(query: QueryType, name: str, value: Any) -> list[dict[str, str]]:
    if name == "burgerservicenummer":
        if not isinstance(value, list):
            return [invalid_param(name, "array", "Parameter is geen array.")]
        if not value:
            return [invalid_param(name, "minItems", "Array bevat minder dan 1 items.")]
        if len(value) > MAX_BSNS:
            return [invalid_param(name, "maxItems", "Array bevat meer dan 20 items.")]
        errors = [_pattern_error(name, bsn, "burgerservicenummer") for bsn in value]
        return [error for error in errors if error][:1]
    if name == "huisnummer":
        if isinstance(value, bool) or not isinstance(value, int):
            return [invalid_param(name, "integer", "Waarde is geen geldig getal.")]
        if not 1 <= value <= 99999:
            return [invalid_param(name, "minimum" if value < 1 else "maximum", "Waarde is buiten bereik.")]
        return []
    if name == "inclusiefOverledenPersonen":
        if not isinstance(value, bool):
            return [invalid_param(name, "boolean", "Waarde is geen boolean.")]
        return []
    if name == "geboortedatum":
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return [invalid_param(name, "date", "Waarde is geen geldige datum.")]
        try:
            date.fromisoformat(value)
        except ValueError:
            return [invalid_param(name, "date", "Waarde is geen geldige datum.")]
        return []
    pattern_key = name
    if name == "voornamen" and "voornamen" not in query.required:
        pattern_key = "voornamen_optioneel"
    error = _pattern_error(name, value, pattern_key)
    return [error] if error else []


def validate(body: Any, field_sets: FieldSets) -> tuple[QueryType, list[str]]:
    """Checks the body as the real API does; raises QueryError with invalidParams otherwise."""
    if not isinstance(body, dict):
        raise QueryError("Een of meerdere parameters zijn niet correct.", "paramsValidation", [])
    query = QUERY_TYPES.get(str(body.get("type")))
    if query is None:
        raise QueryError(
            "Een of meerdere parameters zijn niet correct.",
            "paramsValidation",
            [invalid_param("type", "value", "Waarde is geen geldig zoek type.")],
        )
    missing = [name for name in (*query.required, "fields") if name not in body]
    if missing:
        raise QueryError(
            "Ten minste één parameter moet worden opgegeven.",
            "paramsRequired",
            [invalid_param(name, "required", "Parameter is verplicht.") for name in missing],
        )
    errors: list[dict[str, str]] = []
    allowed_params = {*BASE_PARAMS, *query.required, *query.optional}
    for name in body:
        if name not in allowed_params:
            errors.append(invalid_param(name, "unknownParam", "Parameter is niet verwacht."))
    for name, value in body.items():
        if name in allowed_params and name not in ("type", "fields"):
            errors.extend(_check_param(query, name, value))
    errors.extend(_check_fields(body["fields"], getattr(field_sets, query.field_set)))
    if errors:
        raise QueryError("Een of meerdere parameters zijn niet correct.", "paramsValidation", errors)
    return query, list(body["fields"])


def _check_fields(fields: Any, allowed: frozenset[str]) -> list[dict[str, str]]:
    if not isinstance(fields, list):
        return [invalid_param("fields", "array", "Parameter is geen array.")]
    if not fields:
        return [invalid_param("fields", "minItems", "Array bevat minder dan 1 items.")]
    if len(fields) > MAX_FIELDS:
        return [invalid_param("fields", "maxItems", "Array bevat meer dan 130 items.")]
    errors: list[dict[str, str]] = []
    for field in fields:
        pattern_error = _pattern_error("fields", field, "field")
        if pattern_error:
            errors.append(pattern_error)
            continue
        reason = field_problem(field, allowed)
        if reason:
            errors.append(invalid_param("fields", "field", reason))
    return errors


def _text_matches(wanted: str, actual: str | None) -> bool:
    """Case-insensitive comparison honouring a leading or trailing `*` wildcard."""
    if actual is None:
        return False
    want, have = wanted.lower(), actual.lower()
    if want.endswith("*"):
        return have.startswith(want[:-1])
    if want.startswith("*"):
        return have.endswith(want[1:])
    return have == want


def _postcode(value: str) -> str:
    return value.replace(" ", "").upper()


def _matcher(query: QueryType, body: dict[str, Any]) -> Callable[[PersonRecord], bool]:
    def matches(record: PersonRecord) -> bool:
        raw = record.raw
        naam = raw.get("naam") or {}
        plaats = raw.get("verblijfplaats") or {}
        gemeente = (raw.get("gemeenteVanInschrijving") or {}).get("code")
        checks: list[bool] = []
        for name, value in body.items():
            if name == "geslachtsnaam":
                checks.append(_text_matches(value, naam.get("geslachtsnaam")))
            elif name == "voornamen":
                checks.append(_text_matches(value, " ".join(str(naam.get("voornamen", "")).split())))
            elif name == "voorvoegsel":
                checks.append(str(naam.get("voorvoegsel", "")).lower() == value.lower())
            elif name == "geslacht":
                checks.append(str((raw.get("geslacht") or {}).get("code", "")).upper() == value.upper())
            elif name == "geboortedatum":
                checks.append((raw.get("geboorte") or {}).get("datum") == value.replace("-", ""))
            elif name == "gemeenteVanInschrijving":
                checks.append(gemeente == value)
            elif name == "postcode":
                checks.append(_postcode(str(plaats.get("postcode", ""))) == _postcode(value))
            elif name == "huisnummer":
                checks.append(str(plaats.get("huisnummer", "")) == str(value))
            elif name == "huisletter":
                checks.append(str(plaats.get("huisletter", "")).lower() == value.lower())
            elif name == "huisnummertoevoeging":
                checks.append(str(plaats.get("huisnummertoevoeging", "")).lower() == value.lower())
            elif name == "straat":
                checks.append(
                    _text_matches(value, plaats.get("straat")) or _text_matches(value, plaats.get("naamOpenbareRuimte"))
                )
            elif name in ("nummeraanduidingIdentificatie", "adresseerbaarObjectIdentificatie"):
                checks.append(plaats.get(name) == value)
        return all(checks)

    return matches


def find(query: QueryType, body: dict[str, Any], repository: PersonRepository) -> list[PersonRecord]:
    if query.name == "RaadpleegMetBurgerservicenummer":
        found = [repository.by_bsn(bsn) for bsn in dict.fromkeys(body["burgerservicenummer"])]
        gemeente = body.get("gemeenteVanInschrijving")
        return [
            record
            for record in found
            if record is not None
            and (gemeente is None or (record.raw.get("gemeenteVanInschrijving") or {}).get("code") == gemeente)
        ]
    criteria = {k: v for k, v in body.items() if k not in ("type", "fields", "inclusiefOverledenPersonen")}
    matches = _matcher(query, criteria)
    include_deceased = bool(body.get("inclusiefOverledenPersonen", False))
    return [record for record in repository.all() if matches(record) and (include_deceased or not record.overleden)]
