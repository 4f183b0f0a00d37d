"""BAG: Individuele Bevragingen v2 (Kadaster), with the ``X-Api-Key`` header.

Operations and the query params each reads:

``adres`` — ``GET /adressenuitgebreid/{nummeraanduidingIdentificatie}`` for the request's ``nummeraanduiding``
    identifier, with ``Accept-Crs: epsg:28992`` (the resource carries the object's geometry). One call gives the
    address, the adresseerbaar object's gebruiksdoelen and oppervlakte and the panden's bouwjaar. Data: the
    address fields as BAG names them (``openbareRuimteNaam``, ``korteNaam``, ``huisnummer``, ``huisletter``,
    ``huisnummertoevoeging``, ``postcode``, ``woonplaatsNaam``, ``nummeraanduidingIdentificatie``,
    ``adresseerbaarObjectIdentificatie``, ``pandIdentificaties``, ``typeAdresseerbaarObject``,
    ``adresseerbaarObjectStatus``, ``adresseerbaarObjectGeometrie``, ...) plus
    ``adresseerbaarObject``: ``{identificatie, gebruiksdoelen, oppervlakte}``,
    ``pand``: ``{identificatie, oorspronkelijkBouwjaar}`` (the first pand; ``null`` without one) and
    ``panden``: every pand in that shape (an object can lie in more than one). ``gebruiksdoelen``, ``oppervlakte``
    and ``oorspronkelijkBouwjaar`` are there only, not repeated at the top.
``zoeken`` — ``GET /adressen``; params ``postcode`` + ``huisnummer`` or ``woonplaatsNaam`` +
    ``openbareRuimteNaam`` + ``huisnummer``, each refined by ``huisletter``, ``huisnummertoevoeging``,
    ``exacteMatch``; ``page``, ``pageSize``. Passed through (BAG checks the combination: its 400 is
    ``invalid_query``). Data: ``{"adressen": [...]}``, each address with its ``nummeraanduidingIdentificatie`` (the
    identifier an ``adres`` lookup takes). No match is ``not_found`` with ``{"adressen": []}``.

Identifiers in URLs: a nummeraanduiding identification is public registry data of the BAG, not a personal
identifier, and BAG offers only ``GET``; it goes into the path only when it is 16 digits.

Links: BAG answers ``application/hal+json``; every object in the returned data carries its links as a ``links``
array of ``{"rel", "href"}`` (as the KVK connector gives them) and never ``_links``; ``_embedded`` is unwrapped.

Errors: RFC 9457 problem+json. 404 is ``not_found``; 400 is ``invalid_query`` (BAG's ``code`` and
``invalid-params`` in the details); 401 (no key) and 403 (wrong key) are ``authentication``; anything else (412/406
CRS, 5xx) is the source's ``code`` via the shared problem helper. ``details.status`` is always the HTTP status.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from iko_shared.connector import FetchContext, FetchResult, SourceError, SourceHttpSettings
from iko_shared.connector.problems import problem_error
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

ADRES = "adres"
ZOEKEN = "zoeken"
IDENTIFIER_TYPE = "nummeraanduiding"
API_KEY_HEADER = "X-Api-Key"
CRS = "epsg:28992"
HAL_JSON = "application/hal+json"
# The sandbox simulator's key (sandbox/README.md), so the stack works out of the box; set IKO_BAG_API_KEY.
SANDBOX_API_KEY = "iko-sandbox-bag-key-not-for-production"
NUMMERAANDUIDING = re.compile(r"^[0-9]{16}$")
ZOEKEN_PARAMS = frozenset(
    {
        "postcode",
        "huisnummer",
        "huisletter",
        "huisnummertoevoeging",
        "woonplaatsNaam",
        "openbareRuimteNaam",
        "exacteMatch",
        "page",
        "pageSize",
    }
)
# Moved into adresseerbaarObject / pand(en).
OBJECT_FIELDS = ("gebruiksdoelen", "oppervlakte", "oorspronkelijkBouwjaar")


class BagSettings(SourceHttpSettings):
    # IKO_BAG_BASE_URL, IKO_BAG_API_KEY (a secret: also read from IKO_SECRETS_DIR).
    model_config = SettingsConfigDict(env_prefix="IKO_BAG_", extra="ignore")

    base_url: str = "http://127.0.0.1:8106"
    api_key: SecretStr | None = SecretStr(SANDBOX_API_KEY)


def _links_array(value: Any) -> list[dict[str, Any]]:
    """HAL ``{rel: {href} | [{href}, ...]}`` as a ``[{rel, href}]`` array."""
    links: list[dict[str, Any]] = []
    if isinstance(value, dict):
        for rel, target in value.items():
            for one in target if isinstance(target, list) else [target]:
                if isinstance(one, dict) and "href" in one:
                    links.append({"rel": rel, "href": one["href"]})
    return links


def normalise_links(value: Any) -> Any:
    """Every object's ``_links`` as a ``links`` array of ``{rel, href}``."""
    if isinstance(value, list):
        return [normalise_links(item) for item in value]
    if not isinstance(value, dict):
        return value
    result = {key: normalise_links(item) for key, item in value.items() if key != "_links"}
    if "_links" in value:
        result["links"] = _links_array(value["_links"])
    return result


def source_error(response: httpx.Response) -> SourceError:
    """The error of a non-200, non-404 answer."""
    error = problem_error(response, "BAG")
    details = dict(error.details or {})
    try:
        body: Any = response.json()
    except ValueError:
        body = {}
    if isinstance(body, dict):
        if body.get("code"):
            details["code"] = str(body["code"])
        if body.get("invalid-params"):
            details["invalidParams"] = body["invalid-params"]
    if response.status_code == 400:
        return SourceError("invalid_query", error.message, details)
    if response.status_code in (401, 403):
        return SourceError("authentication", error.message, details)
    return SourceError(error.code, error.message, details)


def adres_data(found: dict[str, Any]) -> dict[str, Any]:
    """The ``adressenuitgebreid`` answer with the object's and the panden's fields grouped."""
    data = {key: value for key, value in found.items() if key not in OBJECT_FIELDS}
    data["adresseerbaarObject"] = {
        "identificatie": found.get("adresseerbaarObjectIdentificatie"),
        "gebruiksdoelen": found.get("gebruiksdoelen") or [],
        "oppervlakte": found.get("oppervlakte"),
    }
    ids = found.get("pandIdentificaties") or []
    bouwjaren = found.get("oorspronkelijkBouwjaar") or []
    panden = [
        {"identificatie": pand, "oorspronkelijkBouwjaar": bouwjaren[i] if i < len(bouwjaren) else None}
        for i, pand in enumerate(ids)
    ]
    data["pand"] = panden[0] if panden else None
    data["panden"] = panden
    return data


def _zoeken_params(ctx: FetchContext) -> dict[str, str]:
    unknown = sorted(set(ctx.query.params) - ZOEKEN_PARAMS)
    if unknown:
        raise SourceError("invalid_query", f"BAG zoeken has no parameter {', '.join(unknown)}")
    params: dict[str, str] = {}
    for name, value in ctx.query.params.items():
        if value is None:
            continue
        params[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if not params:
        raise SourceError(
            "invalid_query",
            "BAG zoeken needs postcode + huisnummer or woonplaatsNaam + openbareRuimteNaam + huisnummer",
        )
    return params


class BagSource:
    name = "bag"

    def __init__(self, settings: BagSettings) -> None:
        self._settings = settings

    def operations(self) -> frozenset[str]:
        return frozenset({ADRES, ZOEKEN})

    def headers(self, ctx: FetchContext, *, crs: bool = False) -> dict[str, str]:
        headers = {"Accept": HAL_JSON, **ctx.extra_headers}
        if crs:
            headers["Accept-Crs"] = CRS
        if self._settings.api_key is not None:
            headers[API_KEY_HEADER] = self._settings.api_key.get_secret_value()
        return headers

    async def fetch(self, ctx: FetchContext) -> FetchResult:
        operation = ctx.query.operation
        if operation == ADRES:
            return await self._adres(ctx)
        if operation == ZOEKEN:
            return await self._zoeken(ctx)
        raise SourceError("unsupported_operation", f"bag has no operation {operation!r}")

    async def _adres(self, ctx: FetchContext) -> FetchResult:
        _, value = ctx.identifier(IDENTIFIER_TYPE)
        if not NUMMERAANDUIDING.fullmatch(value):
            raise SourceError(
                "invalid_query",
                f"De nummeraanduidingIdentificatie {value} is niet valide: 16 cijfers verwacht.",
                {"status": 400, "checked_by": "connector"},
            )
        response = await ctx.client.get(
            f"/adressenuitgebreid/{value}", headers=self.headers(ctx, crs=True), timeout=ctx.remaining()
        )
        if response.status_code == 404:
            return FetchResult.not_found()
        if response.status_code != 200:
            raise source_error(response)
        return FetchResult.ok(adres_data(normalise_links(response.json())))

    async def _zoeken(self, ctx: FetchContext) -> FetchResult:
        params = _zoeken_params(ctx)
        response = await ctx.client.get("/adressen", params=params, headers=self.headers(ctx), timeout=ctx.remaining())
        if response.status_code != 200:
            raise source_error(response)
        body: Any = normalise_links(response.json())
        adressen = list((body.get("_embedded") or {}).get("adressen") or []) if isinstance(body, dict) else []
        if not adressen:
            return FetchResult.not_found({"adressen": []})
        return FetchResult.ok({"adressen": adressen})
