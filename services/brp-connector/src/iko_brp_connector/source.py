"""BRP Personen Bevragen v2: ``POST /personen`` for every query type, the identifier in the body, never in a URL.

The profile's ``fields`` go to the BRP as they are (data minimisation: the BRP itself returns only those), and the
request's purpose travels as the protocol headers that gateways in front of the BRP require.

The address searches ``ZoekMetAdresseerbaarObjectIdentificatie`` and ``ZoekMetNummeraanduidingIdentificatie`` take
their one parameter from the query's identifier (``adresseerbaarobject`` / ``nummeraanduiding``) when the params do
not name it: that is how a relation from a BAG answer asks who is registered at an object.

Protocol headers (``x-doelbinding``, ``x-verwerking``, ``x-gebruiker``, ``x-origin-oin``) carry free text from the
request (``"Beëindiging uitkering"``, a user named ``jösé``), and a header holds only ASCII. Each value is cut to
242 characters (the width of the VNG Verwerkingenlogging columns they end up in, as ZAC cuts them), then every
character outside printable ASCII (0x20-0x7E), and ``%`` itself, is percent-encoded as UTF-8, RFC 3986 style:
``Be%C3%ABindiging uitkering``. Printable ASCII text reaches the BRP unchanged; anything else arrives readable by
any percent-decoder, and a CR or LF can never end the header (``protocol_header_value``).
"""

from __future__ import annotations

from typing import Any

import httpx
from iko_shared.connector import FetchContext, FetchResult, SourceError, SourceHttpSettings
from iko_shared.connector.problems import problem_error as shared_problem_error
from pydantic_settings import SettingsConfigDict

from iko_brp_connector.batching import RaadpleegBatcher


class BrpSettings(SourceHttpSettings):
    model_config = SettingsConfigDict(env_prefix="IKO_BRP_", extra="ignore")

    base_url: str = "http://127.0.0.1:8101"
    # Sent as x-origin-oin: the OIN of the organisation that asks.
    origin_oin: str | None = None
    # Fallbacks for x-doelbinding / x-verwerking when a request carries none (a deployment with one purpose).
    default_doelbinding: str | None = None
    default_verwerking: str | None = None
    # Concurrent Raadpleeg lookups within this window share one call (0 turns batching off).
    batch_window_ms: float = 2.0


RAADPLEEG = "RaadpleegMetBurgerservicenummer"
SEARCHES = frozenset(
    {
        "ZoekMetGeslachtsnaamEnGeboortedatum",
        "ZoekMetNaamEnGemeenteVanInschrijving",
        "ZoekMetPostcodeEnHuisnummer",
        "ZoekMetStraatHuisnummerEnGemeenteVanInschrijving",
        "ZoekMetNummeraanduidingIdentificatie",
        "ZoekMetAdresseerbaarObjectIdentificatie",
    }
)
# The searches a relation drives: the BAG identifier a branch follows fills the search's one parameter, so a profile
# can ask "who lives at this object" from a BAG answer without naming the value.
IDENTIFIER_PARAMS = {
    "ZoekMetAdresseerbaarObjectIdentificatie": ("adresseerbaarobject", "adresseerbaarObjectIdentificatie"),
    "ZoekMetNummeraanduidingIdentificatie": ("nummeraanduiding", "nummeraanduidingIdentificatie"),
}
# The BRP refuses a query without fields; a profile that names none gets the identifying minimum.
DEFAULT_FIELDS = ["burgerservicenummer"]
PROTOCOL_HEADER_MAX_CHARS = 242


def protocol_header_value(value: str) -> str:
    """The value cut to 242 characters, then percent-encoded as UTF-8 outside printable ASCII, ``%`` included."""
    return "".join(_percent_encoded(char) for char in value[:PROTOCOL_HEADER_MAX_CHARS])


def _percent_encoded(char: str) -> str:
    if " " <= char <= "~" and char != "%":
        return char
    # A lone surrogate (JSON can carry one) is no character UTF-8 can encode: it travels as U+FFFD.
    encoded = "\ufffd".encode() if "\ud800" <= char <= "\udfff" else char.encode()
    return "".join(f"%{byte:02X}" for byte in encoded)


def problem_error(response: httpx.Response) -> SourceError:
    return shared_problem_error(response, "BRP")


def _is_bad_request(exc: Exception) -> bool:
    return isinstance(exc, SourceError) and (exc.details or {}).get("status") == 400


def _found(personen: list[Any], many: bool) -> FetchResult:
    if many:
        return FetchResult.ok({"personen": personen}) if personen else FetchResult.not_found({"personen": []})
    return FetchResult.ok(personen[0]) if personen else FetchResult.not_found()


class BrpSource:
    name = "brp"

    def __init__(self, settings: BrpSettings) -> None:
        self._settings = settings
        self._batcher = RaadpleegBatcher(
            self._raadpleeg_batch, window_s=settings.batch_window_ms / 1000, split_on=_is_bad_request
        )

    def operations(self) -> frozenset[str]:
        return SEARCHES | {RAADPLEEG}

    def headers(self, ctx: FetchContext) -> dict[str, str]:
        headers = {"Accept": "application/json", **ctx.extra_headers}
        if self._settings.api_key is not None:
            headers["X-API-KEY"] = self._settings.api_key.get_secret_value()
        protocol = {
            "x-doelbinding": ctx.request.context.doelbinding or self._settings.default_doelbinding,
            "x-verwerking": ctx.request.context.verwerking or self._settings.default_verwerking,
            "x-gebruiker": ctx.request.context.gebruiker,
            "x-origin-oin": self._settings.origin_oin,
        }
        headers.update({k: protocol_header_value(v) for k, v in protocol.items() if v})
        return headers

    @staticmethod
    async def _post(client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]) -> list[Any]:
        response = await client.post("/personen", json=body, headers=headers)
        if response.status_code != 200:
            raise problem_error(response)
        personen = response.json().get("personen")
        return personen if isinstance(personen, list) else []

    async def fetch(self, ctx: FetchContext) -> FetchResult:
        fields = ctx.query.fields or DEFAULT_FIELDS
        headers = self.headers(ctx)
        if ctx.query.operation != RAADPLEEG:
            body = {**ctx.query.params, "type": ctx.query.operation, "fields": fields}
            by_identifier = IDENTIFIER_PARAMS.get(ctx.query.operation)
            if by_identifier is not None and by_identifier[1] not in body:
                body[by_identifier[1]] = ctx.identifier(by_identifier[0])[1]
            return _found(await self._post(ctx.client, body, headers), many=True)
        bsns = ctx.query.params.get("burgerservicenummer")
        if bsns is None:
            bsns = [ctx.identifier("bsn")[1]]
        if not isinstance(bsns, list) or not bsns:
            raise SourceError("invalid_query", "burgerservicenummer must be a non-empty list")
        if len(bsns) > 1 or self._settings.batch_window_ms <= 0:
            body = {"type": RAADPLEEG, "burgerservicenummer": bsns, "fields": fields}
            return _found(await self._post(ctx.client, body, headers), many=len(bsns) > 1)
        person = await self._batcher.lookup(
            ctx.client, bsns[0], fields, headers, ctx.request.deadline, ctx.request.context.caller
        )
        return FetchResult.ok(person) if person is not None else FetchResult.not_found()

    async def _raadpleeg_batch(
        self, client: httpx.AsyncClient, bsns: list[str], fields: list[str], headers: dict[str, str]
    ) -> dict[str, Any]:
        # Each person must say whose it is to be handed back; that field goes again if the profile did not ask it.
        extra = "burgerservicenummer" not in fields
        body = {
            "type": RAADPLEEG,
            "burgerservicenummer": bsns,
            "fields": [*fields, "burgerservicenummer"] if extra else fields,
        }
        found: dict[str, Any] = {}
        for person in await self._post(client, body, headers):
            bsn = person.get("burgerservicenummer")
            if extra:
                person = {k: v for k, v in person.items() if k != "burgerservicenummer"}
            found[str(bsn)] = person
        return found
