"""Klantinteracties API (Open Klant 2): the klantcontacten (contactmomenten) of a person or a company.

Operation ``contactmomenten`` — ``GET {api_path}/klantcontacten`` filtered on the partij identificator of the
contact's betrokkene:

- a ``bsn`` identifier: ``hadBetrokkene__wasPartij__partijIdentificator__codeSoortObjectId=bsn``;
- a ``kvk`` identifier: ``...codeSoortObjectId=kvk_nummer``;

with ``hadBetrokkene__wasPartij__partijIdentificator__objectId=<value>`` and ``expand`` (``params.expand``, a list
or a comma-separated string, default ``IKO_KLANTINTERACTIES_EXPAND``: ``hadBetrokkenen,gingOverOnderwerpobjecten``;
an empty list asks for no expansion).

**The BSN is in the URL.** Open Klant's Klantinteracties API (0.9.0) offers these filters as query parameters of
a GET only: it has no search with a body (no ``_zoek``), and the partij route filters the same way. So this
connector is the one IKO source whose requests carry a BSN in the query string; the contract case says so
(``ConnectorCase.bsn_in_url_accepted_because``) and the suite's "a BSN travels in no URL" test is skipped for it.
What keeps the BSN out of logs is then on the deployment: Open Klant's and every proxy's access logs must not
record query strings (the sandbox logs no requests). IKO itself never logs the URL: a refused ``next`` link is
reported by its host only.

Auth: ``Authorization: Token <IKO_KLANTINTERACTIES_TOKEN>`` (DRF token authentication; a secret, also read from
``IKO_SECRETS_DIR``). Pages (DRF: ``{count, next, previous, results}``) are followed through ``next`` until there
is none or ``params.max_pages`` (default and upper bound ``IKO_KLANTINTERACTIES_MAX_PAGES``, 5) are read. A
``next`` link is followed only when it is under the base URL: the token is never sent to another host; a link
elsewhere makes the fetch an error (``foreign_url``).

Data::

    {"count": <the API's count of matching klantcontacten>,
     "complete": <true when every page was read>,
     "klantcontacten": [<the Klantcontact as the API gives it, with its _expand when asked>]}

No klantcontacten is ``ok`` with an empty list (as the ZGW connector answers for zaken: a person without
contacts is an answer). Errors: 401 is ``authentication``, 403 ``forbidden`` (Open Klant's tokens have no scopes,
but a proxy may answer it), anything else through the shared problem helper (``http_<status>``, the source's
``detail`` as the message); ``details.status`` is always the HTTP status.
"""

from __future__ import annotations

from typing import Any

import httpx
from iko_shared.connector import FetchContext, FetchResult, SourceError, SourceHttpSettings
from iko_shared.connector.problems import problem_error
from iko_shared.connector.urls import UrlGuard
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

OPERATION = "contactmomenten"
SANDBOX_TOKEN = "iko-sandbox-klantinteracties-token"
FILTER_PREFIX = "hadBetrokkene__wasPartij__partijIdentificator__"
CODE_SOORT_OBJECT_ID = f"{FILTER_PREFIX}codeSoortObjectId"
OBJECT_ID = f"{FILTER_PREFIX}objectId"
# IKO's identifier type -> Open Klant's codeSoortObjectId.
SOORT_OBJECT_ID = {"bsn": "bsn", "kvk": "kvk_nummer"}
# The expand values of the spec's enum.
EXPANDS = frozenset(
    {
        "hadBetrokkenen",
        "hadBetrokkenen.wasPartij",
        "hadBetrokkenen.digitaleAdressen",
        "gingOverOnderwerpobjecten",
        "leiddeTotInterneTaken",
        "omvatteBijlagen",
    }
)


class KlantinteractiesSettings(SourceHttpSettings):
    # IKO_KLANTINTERACTIES_BASE_URL, IKO_KLANTINTERACTIES_TOKEN (a secret: also read from IKO_SECRETS_DIR), ...
    model_config = SettingsConfigDict(env_prefix="IKO_KLANTINTERACTIES_", extra="ignore")

    base_url: str = "http://127.0.0.1:8104"
    api_path: str = "/klantinteracties/api/v1"
    # The sandbox simulator's token (sandbox/README.md), so the stack works out of the box, as the BAG and Objecten
    # connectors default to theirs; set IKO_KLANTINTERACTIES_TOKEN anywhere else.
    token: SecretStr | None = SecretStr(SANDBOX_TOKEN)
    max_pages: int = 5
    expand: str = "hadBetrokkenen,gingOverOnderwerpobjecten"


def _max_pages(value: Any, bound: int) -> int:
    if value is None:
        return bound
    try:
        pages = int(value)
    except (TypeError, ValueError):
        pages = 0
    if pages < 1:
        raise SourceError("invalid_query", "max_pages must be a positive number")
    return min(pages, bound)


def _expand(value: Any, default: str) -> str:
    if value is None:
        value = default
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SourceError("invalid_query", "expand must be a list of names")
    wanted = [n.strip() for n in names if n.strip()]
    unknown = sorted(set(wanted) - EXPANDS)
    if unknown:
        raise SourceError("invalid_query", f"expand has unknown names {unknown}; known: {sorted(EXPANDS)}")
    return ",".join(wanted)


def _error(response: httpx.Response) -> SourceError:
    if response.status_code in (401, 403):
        try:
            body: Any = response.json()
        except ValueError:
            body = {}
        detail = body.get("detail") if isinstance(body, dict) else None
        code = "authentication" if response.status_code == 401 else "forbidden"
        return SourceError(
            code, str(detail or f"Klantinteracties answered {response.status_code}"), {"status": response.status_code}
        )
    return problem_error(response, "Klantinteracties")


class KlantinteractiesSource:
    name = "klantinteracties"

    def __init__(self, settings: KlantinteractiesSettings) -> None:
        self._settings = settings
        self._guard = UrlGuard([settings.base_url], "the Klantinteracties base URL")

    def operations(self) -> frozenset[str]:
        return frozenset({OPERATION})

    def headers(self, ctx: FetchContext) -> dict[str, str]:
        headers = {"Accept": "application/json", **ctx.extra_headers}
        if self._settings.token is not None:
            headers["Authorization"] = f"Token {self._settings.token.get_secret_value()}"
        return headers

    async def _page(self, ctx: FetchContext, url: str, params: dict[str, str] | None) -> dict[str, Any]:
        response = await ctx.client.get(
            self._guard.admit(url), params=params, headers=self.headers(ctx), timeout=ctx.remaining()
        )
        if response.status_code != 200:
            raise _error(response)
        body = response.json()
        if not isinstance(body, dict):
            raise SourceError("invalid_response", "Klantinteracties answered with something other than an object")
        return body

    async def fetch(self, ctx: FetchContext) -> FetchResult:
        if ctx.query.operation != OPERATION:
            raise SourceError("unsupported_operation", f"klantinteracties has no operation {ctx.query.operation!r}")
        kind, value = ctx.identifier(*SOORT_OBJECT_ID)
        max_pages = _max_pages(ctx.query.params.get("max_pages"), self._settings.max_pages)
        first = {CODE_SOORT_OBJECT_ID: SOORT_OBJECT_ID[kind], OBJECT_ID: value}
        expand = _expand(ctx.query.params.get("expand"), self._settings.expand)
        if expand:
            first["expand"] = expand
        params: dict[str, str] | None = first
        url: str | None = f"{self._settings.api_path}/klantcontacten"
        contacts: list[dict[str, Any]] = []
        count = 0
        pages = 0
        while url is not None and pages < max_pages:
            page = await self._page(ctx, url, params)
            count = int(page.get("count") or 0)
            contacts.extend(c for c in page.get("results") or [] if isinstance(c, dict))
            # ``next`` is absolute and repeats the query (filters, expand): it is asked as it is.
            url, params = page.get("next") or None, None
            pages += 1
        return FetchResult.ok({"count": count, "complete": url is None, "klantcontacten": contacts})
