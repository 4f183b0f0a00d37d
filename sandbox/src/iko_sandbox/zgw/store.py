"""All ZGW resources of one simulator, built for the base URL callers use to reach it.

Resource URLs are absolute in ZGW, so they depend on how the simulator is addressed
(host and port); the data is built once per base URL and cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from iko_sandbox.zgw.catalogi import Catalogi, load_catalogi
from iko_sandbox.zgw.zaakobjecten import seed_zaakobjecten
from iko_sandbox.zgw.zaken import Betrokkene, Zaak, all_betrokkenen, generate_zaken

Json = dict[str, Any]


@dataclass(frozen=True)
class ZgwStore:
    catalogi: Catalogi
    zaken: list[Zaak]
    zaken_by_uuid: dict[str, Zaak]
    statussen_by_uuid: dict[str, Json]
    zaakobjecten: list[Json]
    zaakobjecten_by_uuid: dict[str, Json]


@lru_cache(maxsize=1)
def _betrokkenen() -> tuple[Betrokkene, ...]:
    return tuple(all_betrokkenen())


@lru_cache(maxsize=8)
def store_for(base: str, today: date) -> ZgwStore:
    catalogi = load_catalogi(base)
    zaken = [zaak for b in _betrokkenen() for zaak in generate_zaken(b, catalogi, base, today)]
    zaken_by_uuid = {zaak.uuid: zaak for zaak in zaken}
    zaakobjecten = seed_zaakobjecten(zaken_by_uuid, base)
    return ZgwStore(
        catalogi=catalogi,
        zaken=zaken,
        zaken_by_uuid=zaken_by_uuid,
        statussen_by_uuid={s["uuid"]: s for zaak in zaken for s in zaak.statussen},
        zaakobjecten=zaakobjecten,
        zaakobjecten_by_uuid={z["uuid"]: z for z in zaakobjecten},
    )
