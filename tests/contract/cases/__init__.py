"""The connectors under contract, one module per source, each exposing ``CASE`` (a ``ConnectorCase``).

``discover_cases()`` imports every module of this package (``common`` and ``_private`` ones aside) and collects
its ``CASE``: a new source's case is one more module here (``make new-connector`` writes it), no list is edited.
The names the source-specific tests import (``BRP``, ``KVK_CASE``, ``kvk_source``, ...) stay importable from here.
"""

from __future__ import annotations

import importlib
import pkgutil

from iko_shared.testing.contract_kit import ConnectorCase

from tests.contract.cases.brp import BRP, brp_source
from tests.contract.cases.common import API_KEY, BSN, KVK, UNKNOWN_BSN, UNKNOWN_KVK, ZGW_SECRET, http_status
from tests.contract.cases.kvk import KVK_CASE, kvk_source
from tests.contract.cases.zgw import ZGW, zgw_source

__all__ = [
    "API_KEY",
    "BRP",
    "BSN",
    "CASES",
    "KVK",
    "KVK_CASE",
    "UNKNOWN_BSN",
    "UNKNOWN_KVK",
    "ZGW",
    "ZGW_SECRET",
    "brp_source",
    "discover_cases",
    "http_status",
    "kvk_source",
    "zgw_source",
]

NOT_CASES = frozenset({"common"})


def discover_cases() -> list[ConnectorCase]:
    """Every module's ``CASE``, sorted by source name; a module without one (or a non-case) is an error."""
    cases: list[ConnectorCase] = []
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name in NOT_CASES or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        case = getattr(module, "CASE", None)
        if not isinstance(case, ConnectorCase):
            raise TypeError(f"{module.__name__} has no CASE (a ConnectorCase)")
        cases.append(case)
    names = [case.source for case in cases]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"sources with more than one contract case: {duplicates}")
    return sorted(cases, key=lambda case: case.source)


CASES = discover_cases()
