"""KVK: Basisprofiel v1, Vestigingsprofiel v1 and Zoeken v2, with the ``apikey`` header.

Operations and the query params each reads:

``basisprofiel`` — ``GET /v1/basisprofielen/{kvkNummer}`` for the request's ``kvk`` identifier.
    ``params.include``: a list (or comma-separated string) of ``hoofdvestiging``, ``vestigingen``, ``eigenaar``;
    each adds the sub-resource ``/v1/basisprofielen/{kvkNummer}/<name>``, fetched concurrently with the profile.
    ``params.geoData``: ``true`` asks for the addresses' geoData (basisprofiel, hoofdvestiging, eigenaar).
    Data: the Basisprofiel as KVK gives it (``kvkNummer``, ``naam``, ``handelsnamen``, ``_embedded``, ...) plus,
    per included name, a top-level key of that name holding the full sub-resource (the Vestiging, the
    VestigingList, the Eigenaar), or ``null`` when KVK has none (a VvE has no hoofdvestiging).
``vestigingsprofiel`` — ``GET /v1/vestigingsprofielen/{vestigingsnummer}``; ``params.vestigingsnummer`` (12
    digits, required), ``params.geoData`` as above. Data: the Vestiging.
``zoeken`` — ``GET /v2/zoeken``; the params are KVK's own search parameters (``kvkNummer``, ``rsin``,
    ``vestigingsnummer``, ``naam``, ``straatnaam``, ``plaats``, ``postcode``, ``huisnummer``, ``huisletter``,
    ``postbusnummer``, ``type``, ``inclusiefInactieveRegistraties``, ``pagina``, ``resultatenPerPagina``), passed
    through; a ``kvk`` identifier on the request is the ``kvkNummer`` when the params name none. Data: the page,
    ``{"pagina", "resultatenPerPagina", "totaal", "resultaten": [...]}`` plus ``vorige`` / ``volgende`` when KVK
    gives them. A search without results (404 ``IPD5200``) is ``not_found`` with an empty page.

Identifiers in URLs: unlike the BRP (``POST /personen``) and ZGW (``POST /zaken/_zoek``) connectors, this one
puts the kvkNummer and vestigingsnummer in the URL — the path of Basisprofiel and Vestigingsprofiel, the query of
Zoeken — because the KVK APIs offer no other way to ask (every operation is a ``GET``). That is acceptable: a
kvkNummer or vestigingsnummer is public data of the Handelsregister, which anyone may look up, not a personal
identifier of a natural person like the BSN. A BSN never goes to the KVK. (A ``naam`` or address search does put
those words in the query string; they are the caller's search terms, passed through as KVK asks for them.)

Links: KVK sends them as a ``links`` array of ``{rel, href}`` (``application/json``) or as a HAL ``_links``
object (``application/hal+json``). Whichever came, every object in the returned data carries its links as the
``links`` array of ``{"rel", "href"}`` and never ``_links``.

Errors: KVK's ``{"fout": [{"code", "omschrijving"}]}``. ``IPD0005`` (nothing under this number) and ``IPD5200``
(no search results) are ``not_found``; any other is an error with KVK's code (``IPD0004``, ``IPD0006``,
``IPD1002``, ``IPD5203``, ...) and ``details.status`` the HTTP status. A kvkNummer or vestigingsnummer that is
not well-formed is refused before any call with the code KVK gives for it (``IPD0004`` / ``IPD0006``, details
``{"status": 400, "checked_by": "connector"}``): a number goes into a URL path only when it is digits.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from iko_shared.connector import FetchContext, FetchResult, SourceError, SourceHttpSettings
from pydantic_settings import SettingsConfigDict


class KvkSettings(SourceHttpSettings):
    model_config = SettingsConfigDict(env_prefix="IKO_KVK_", extra="ignore")

    base_url: str = "http://127.0.0.1:8102"
    # The representation asked for: application/json (links as an array) or application/hal+json (_links).
    # The returned data has the same shape either way.
    accept: str = "application/json"


# KVK's codes for "nothing under this number" (basisprofiel, vestigingsprofiel) and "search without results".
NOT_FOUND_CODES = frozenset({"IPD0005", "IPD5200"})
INVALID_KVK_NUMMER = "IPD0004"
INVALID_VESTIGINGSNUMMER = "IPD0006"

KVK_NUMMER = re.compile(r"^[0-9]{8}$")
VESTIGINGSNUMMER = re.compile(r"^[0-9]{12}$")
INCLUDES = ("hoofdvestiging", "vestigingen", "eigenaar")
# Sub-resources that take ?geoData (the vestigingen list does not).
GEO_INCLUDES = frozenset({"hoofdvestiging", "eigenaar"})
ZOEKEN_PARAMS = frozenset(
    {
        "kvkNummer",
        "rsin",
        "vestigingsnummer",
        "naam",
        "straatnaam",
        "plaats",
        "postcode",
        "huisnummer",
        "huisletter",
        "postbusnummer",
        "type",
        "inclusiefInactieveRegistraties",
        "pagina",
        "resultatenPerPagina",
    }
)


def fout_codes(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        body: Any = response.json()
    except ValueError:
        return []
    fout = body.get("fout") if isinstance(body, dict) else None
    return [f for f in fout if isinstance(f, dict)] if isinstance(fout, list) else []


class _NotFound:
    """KVK's answer that it has nothing under the number asked (as opposed to an error)."""


NOT_FOUND = _NotFound()


def answer(response: httpx.Response) -> Any:
    """The body of a 200, ``NOT_FOUND`` for KVK's not-found codes, a ``SourceError`` for anything else."""
    if response.status_code == 200:
        return normalise_links(response.json())
    fout = fout_codes(response)
    codes = [str(f.get("code", "")) for f in fout]
    # Only KVK's own codes mean "nothing there": a bare 404 is a wrong URL, not an absent company.
    if response.status_code == 404 and NOT_FOUND_CODES.intersection(codes):
        return NOT_FOUND
    code = codes[0] if codes and codes[0] else f"http_{response.status_code}"
    message = str(fout[0].get("omschrijving") or "") if fout else ""
    raise SourceError(code, message or f"KVK answered {response.status_code}", {"status": response.status_code})


def _links_array(value: Any) -> list[dict[str, Any]]:
    """HAL ``{rel: {href} | [{href}, ...]}`` or a ``[{rel, href}]`` array, as the array."""
    links: list[dict[str, Any]] = []
    if isinstance(value, dict):
        for rel, target in value.items():
            for one in target if isinstance(target, list) else [target]:
                if isinstance(one, dict) and "href" in one:
                    links.append({"rel": rel, "href": one["href"]})
    elif isinstance(value, list):
        links.extend(
            {"rel": item.get("rel"), "href": item["href"]}
            for item in value
            if isinstance(item, dict) and "href" in item
        )
    return links


def normalise_links(value: Any) -> Any:
    """Every object's links as a ``links`` array of ``{rel, href}``, whether they came as that or as ``_links``."""
    if isinstance(value, list):
        return [normalise_links(item) for item in value]
    if not isinstance(value, dict):
        return value
    result = {key: normalise_links(item) for key, item in value.items() if key not in ("links", "_links")}
    if "links" in value or "_links" in value:
        links: list[dict[str, Any]] = []
        for link in _links_array(value.get("links")) + _links_array(value.get("_links")):
            if link not in links:
                links.append(link)
        result["links"] = links
    return result


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "ja", "yes")
    return bool(value)


def _number(value: str | None, default: int) -> int:
    return int(value) if value is not None and value.isdigit() else default


def _includes(value: Any) -> list[str]:
    if value is None:
        return []
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SourceError("invalid_query", "include must be a list of names")
    wanted = [n.strip() for n in names if n.strip()]
    unknown = sorted(set(wanted) - set(INCLUDES))
    if unknown:
        raise SourceError("invalid_query", f"include has unknown names {unknown}; known are {list(INCLUDES)}")
    return [n for n in INCLUDES if n in wanted]


def _zoeken_params(ctx: FetchContext) -> dict[str, str]:
    unknown = sorted(set(ctx.query.params) - ZOEKEN_PARAMS)
    if unknown:
        raise SourceError("invalid_query", f"KVK zoeken has no parameter {', '.join(unknown)}")
    params: dict[str, str] = {}
    for name, value in ctx.query.params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            params[name] = "true" if value else "false"
        elif isinstance(value, list):
            params[name] = ",".join(str(v) for v in value)
        else:
            params[name] = str(value)
    identifier = ctx.request.identifier
    if "kvkNummer" not in params and identifier is not None and identifier.type == "kvk":
        params["kvkNummer"] = identifier.value
    return params


class KvkSource:
    name = "kvk"

    def __init__(self, settings: KvkSettings) -> None:
        self._settings = settings

    def operations(self) -> frozenset[str]:
        return frozenset({"basisprofiel", "vestigingsprofiel", "zoeken"})

    def headers(self, ctx: FetchContext) -> dict[str, str]:
        headers = {"Accept": self._settings.accept, **ctx.extra_headers}
        if self._settings.api_key is not None:
            headers["apikey"] = self._settings.api_key.get_secret_value()
        return headers

    async def _get(self, ctx: FetchContext, path: str, params: dict[str, str] | None = None) -> Any:
        response = await ctx.client.get(path, params=params, headers=self.headers(ctx), timeout=ctx.remaining())
        return answer(response)

    async def fetch(self, ctx: FetchContext) -> FetchResult:
        operation = ctx.query.operation
        if operation == "zoeken":
            return await self._zoeken(ctx)
        geo = {"geoData": "true"} if _flag(ctx.query.params.get("geoData")) else None
        if operation == "vestigingsprofiel":
            nummer = ctx.query.params.get("vestigingsnummer")
            if not isinstance(nummer, str) or not VESTIGINGSNUMMER.fullmatch(nummer):
                raise SourceError(
                    INVALID_VESTIGINGSNUMMER,
                    f"Het vestigingsnummer {nummer} is niet valide: 12 cijfers verwacht.",
                    {"status": 400, "checked_by": "connector"},
                )
            found = await self._get(ctx, f"/v1/vestigingsprofielen/{nummer}", geo)
            return FetchResult.not_found() if found is NOT_FOUND else FetchResult.ok(found)
        return await self._basisprofiel(ctx, geo)

    async def _basisprofiel(self, ctx: FetchContext, geo: dict[str, str] | None) -> FetchResult:
        _, kvk_nummer = ctx.identifier("kvk")
        if not KVK_NUMMER.fullmatch(kvk_nummer):
            raise SourceError(
                INVALID_KVK_NUMMER,
                f"Het kvkNummer {kvk_nummer} is niet valide: 8 cijfers verwacht.",
                {"status": 400, "checked_by": "connector"},
            )
        includes = _includes(ctx.query.params.get("include"))
        base = f"/v1/basisprofielen/{kvk_nummer}"
        calls = [self._get(ctx, base, geo)]
        calls += [self._get(ctx, f"{base}/{name}", geo if name in GEO_INCLUDES else None) for name in includes]
        # Every call runs to its end (each bounded by the deadline), so no call is left running on its own.
        results = await asyncio.gather(*calls, return_exceptions=True)
        profile = results[0]
        if isinstance(profile, BaseException):
            raise profile
        if profile is NOT_FOUND:
            return FetchResult.not_found()
        data: dict[str, Any] = dict(profile)
        for name, result in zip(includes, results[1:], strict=True):
            if isinstance(result, BaseException):
                raise result
            data[name] = None if result is NOT_FOUND else result
        return FetchResult.ok(data)

    async def _zoeken(self, ctx: FetchContext) -> FetchResult:
        params = _zoeken_params(ctx)
        found = await self._get(ctx, "/v2/zoeken", params)
        if found is NOT_FOUND:
            empty = {
                "pagina": _number(params.get("pagina"), 1),
                "resultatenPerPagina": _number(params.get("resultatenPerPagina"), 10),
                "totaal": 0,
                "resultaten": [],
            }
            return FetchResult.not_found(empty)
        page: dict[str, Any] = {
            "pagina": found.get("pagina"),
            "resultatenPerPagina": found.get("resultatenPerPagina"),
            "totaal": found.get("totaal"),
            "resultaten": found.get("resultaten") or [],
        }
        for key in ("vorige", "volgende"):
            if found.get(key):
                page[key] = found[key]
        return FetchResult.ok(page)
