"""The BRP `fields` parameter: which paths a caller may ask for, and cutting a person down to them."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iko_sandbox.paths import data_file

# Delivered whenever they apply; asking for them is an error in the real API.
AUTOMATIC_FIELDS = ("inOnderzoek", "geheimhoudingPersoonsgegevens", "opschortingBijhouding", "rni", "verificatie")
# Aliases that deliver `verblijfplaats` / `adressering` only for an address in the Netherlands.
BINNENLAND_ALIASES = {"verblijfplaatsBinnenland": "verblijfplaats", "adresseringBinnenland": "adressering"}
BINNENLAND_TYPES = ("Adres", "Locatie")

Tree = dict[str, Any]  # nested selection; a value of True selects the whole subtree


def _read_paths(path: Path) -> frozenset[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return frozenset(row["pad"].strip() for row in csv.DictReader(handle) if row["pad"].strip())


@dataclass(frozen=True)
class FieldSets:
    persoon: frozenset[str]
    persoon_beperkt: frozenset[str]
    gezag_persoon_beperkt: frozenset[str]

    @classmethod
    def load(cls) -> FieldSets:
        persoon = _read_paths(data_file("brp", "fields-Persoon.csv"))
        beperkt = _read_paths(data_file("brp", "fields-PersoonBeperkt.csv"))
        gezag = frozenset(p for p in persoon if p == "gezag" or p.startswith("gezag."))
        return cls(persoon=persoon, persoon_beperkt=beperkt, gezag_persoon_beperkt=beperkt | gezag)


def field_problem(field: str, allowed: frozenset[str]) -> str | None:
    """The reason a requested path is refused, or None when it is allowed."""
    segments = field.split(".")
    if any(segment in AUTOMATIC_FIELDS for segment in segments):
        return "Parameter bevat een automatisch geleverd veld."
    if field not in allowed:
        return "Parameter bevat een niet bestaande veldnaam."
    return None


def _add(tree: Tree, segments: list[str]) -> None:
    head, rest = segments[0], segments[1:]
    if tree.get(head) is True:
        return
    if not rest:
        tree[head] = True
        return
    _add(tree.setdefault(head, {}), rest)


def _merge(into: Tree, other: Tree) -> None:
    for key, sub in other.items():
        if sub is True or into.get(key) is True:
            into[key] = True
        elif key in into:
            _merge(into[key], sub)
        else:
            into[key] = sub


def selection_tree(fields: list[str]) -> Tree:
    tree: Tree = {}
    for field in fields:
        _add(tree, field.split("."))
    return tree


def _is_empty(value: Any) -> bool:
    return value is None or value == {} or value == []


def _select(value: Any, tree: Tree | bool) -> Any:
    if tree is True:
        return value
    assert isinstance(tree, dict)
    if isinstance(value, list):
        return [item for item in (_select(v, tree) for v in value) if not _is_empty(item)]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, sub in tree.items():
        if key in value:
            selected = _select(value[key], sub)
            if not _is_empty(selected):
                out[key] = selected
    if out and "type" in value:
        # Polymorphic objects are unreadable without their discriminator.
        out = {"type": value["type"], **out}
    if isinstance(value.get("inOnderzoek"), dict):
        onderzoek = _onderzoek_for(value["inOnderzoek"], requested=set(tree) | set(out))
        if onderzoek:
            out["inOnderzoek"] = onderzoek
    return out


def _onderzoek_for(onderzoek: dict[str, Any], requested: set[str]) -> dict[str, Any]:
    """An inOnderzoek flag travels with the field it marks once that field is asked for,
    also when the field has no value: the investigation may be why it is empty."""
    flags = {key: flag for key, flag in onderzoek.items() if key in requested and flag is True}
    if not flags:
        return {}
    dates = {key: value for key, value in onderzoek.items() if key.startswith("datumIngangOnderzoek")}
    return {**flags, **dates}


def filter_persoon(persoon: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    tree = selection_tree(fields)
    binnenland = (persoon.get("verblijfplaats") or {}).get("type") in BINNENLAND_TYPES
    for alias, target in BINNENLAND_ALIASES.items():
        sub = tree.pop(alias, None)
        if sub is not None and binnenland:
            _merge(tree, {target: sub})
    result = _select(persoon, tree)
    assert isinstance(result, dict)
    for key in ("geheimhoudingPersoonsgegevens", "opschortingBijhouding", "rni", "verificatie"):
        if key in persoon:
            result[key] = persoon[key]
    return result
