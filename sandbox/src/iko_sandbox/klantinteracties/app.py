"""The Klantinteracties simulator: Open Klant 2's Klantinteracties API 0.9.0 (read side), plus sandbox control."""

from __future__ import annotations

import os
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import Scope

from iko_sandbox.control.middleware import ErrorAnswer
from iko_sandbox.control.wiring import install_control
from iko_sandbox.klantinteracties.store import API, KlantinteractiesStore, store_for
from iko_sandbox.pagination import paginate

TOKEN_ENV = "IKO_SANDBOX_KLANTINTERACTIES_TOKEN"
DEFAULT_TOKEN = "iko-sandbox-klantinteracties-token"
API_VERSION = "0.9.0"
PAGE_SIZE = 100
MAX_PAGE_SIZE = 500

Json = dict[str, Any]

KLANTCONTACT_EXPANDS = frozenset(
    {
        "gingOverOnderwerpobjecten",
        "hadBetrokkenen",
        "hadBetrokkenen.digitaleAdressen",
        "hadBetrokkenen.wasPartij",
        "leiddeTotInterneTaken",
        "omvatteBijlagen",
    }
)
PARTIJ_EXPANDS = frozenset({"betrokkenen", "betrokkenen.hadKlantcontact", "categorieRelaties", "digitaleAdressen"})
PARTIJ_IDENTIFICATOR_FILTERS = {
    "partijIdentificator__codeObjecttype": "codeObjecttype",
    "partijIdentificator__codeSoortObjectId": "codeSoortObjectId",
    "partijIdentificator__objectId": "objectId",
    "partijIdentificator__codeRegister": "codeRegister",
}
# Filter on the partij identificator of a betrokkene: query name -> key in partijIdentificator.
IDENTIFICATOR_FILTERS = {
    "hadBetrokkene__wasPartij__partijIdentificator__codeObjecttype": "codeObjecttype",
    "hadBetrokkene__wasPartij__partijIdentificator__codeSoortObjectId": "codeSoortObjectId",
    "hadBetrokkene__wasPartij__partijIdentificator__objectId": "objectId",
    "hadBetrokkene__wasPartij__partijIdentificator__codeRegister": "codeRegister",
}
BOOLEAN_FILTERS = ("indicatieContactGelukt", "vertrouwelijk")


def _detail(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    # Open Klant answers errors as Django REST framework does: {"detail": ...}.
    return Response(
        orjson.dumps({"detail": detail}), status_code=status, media_type="application/json", headers=headers
    )


def _error_answer(scope: Scope) -> ErrorAnswer:
    del scope
    return ErrorAnswer(500, "application/json", orjson.dumps({"detail": "Er is een serverfout opgetreden."}))


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json", headers={"API-version": API_VERSION})


def _expands(request: Request, allowed: frozenset[str]) -> set[str] | Response:
    raw = ",".join(request.query_params.getlist("expand"))
    values = {value.strip() for value in raw.split(",") if value.strip()}
    unknown = sorted(values - allowed)
    if unknown:
        body = {"expand": [f"Ongeldige keuze: {value}" for value in unknown]}
        return Response(orjson.dumps(body), status_code=400, media_type="application/json")
    return values


def _expanded_klantcontact(store: KlantinteractiesStore, kc: Json, expands: set[str]) -> Json:
    if not expands:
        return kc
    expand: Json = {}
    if any(e.startswith("hadBetrokkenen") for e in expands):
        betrokkenen = []
        for ref in kc["hadBetrokkenen"]:
            betrokkene = store.betrokkenen[ref["uuid"]]
            nested: Json = {}
            if "hadBetrokkenen.wasPartij" in expands:
                partij_ref = betrokkene["wasPartij"]
                nested["wasPartij"] = store.partijen[partij_ref["uuid"]] if partij_ref else None
            if "hadBetrokkenen.digitaleAdressen" in expands:
                nested["digitaleAdressen"] = [store.digitaleadressen[d["uuid"]] for d in betrokkene["digitaleAdressen"]]
            betrokkenen.append({**betrokkene, "_expand": nested} if nested else betrokkene)
        expand["hadBetrokkenen"] = betrokkenen
    if "gingOverOnderwerpobjecten" in expands:
        expand["gingOverOnderwerpobjecten"] = [
            store.onderwerpobjecten[r["uuid"]] for r in kc["gingOverOnderwerpobjecten"]
        ]
    if "leiddeTotInterneTaken" in expands:
        expand["leiddeTotInterneTaken"] = [store.internetaken[r["uuid"]] for r in kc["leiddeTotInterneTaken"]]
    if "omvatteBijlagen" in expands:
        expand["omvatteBijlagen"] = [store.bijlagen[r["uuid"]] for r in kc["omvatteBijlagen"]]
    return {**kc, "_expand": expand}


def _expanded_partij(store: KlantinteractiesStore, partij: Json, expands: set[str]) -> Json:
    if not expands:
        return partij
    expand: Json = {}
    if any(e.startswith("betrokkenen") for e in expands):
        betrokkenen = []
        for ref in partij["betrokkenen"]:
            betrokkene = store.betrokkenen[ref["uuid"]]
            if "betrokkenen.hadKlantcontact" in expands:
                kc = store.klantcontacten[betrokkene["hadKlantcontact"]["uuid"]]
                betrokkene = {**betrokkene, "_expand": {"hadKlantcontact": kc}}
            betrokkenen.append(betrokkene)
        expand["betrokkenen"] = betrokkenen
    if "digitaleAdressen" in expands:
        expand["digitaleAdressen"] = [store.digitaleadressen[d["uuid"]] for d in partij["digitaleAdressen"]]
    if "categorieRelaties" in expands:
        expand["categorieRelaties"] = []
    return {**partij, "_expand": expand}


def _partij_matches(partij: Json, query: dict[str, str]) -> bool:
    wanted = {key: query[name] for name, key in PARTIJ_IDENTIFICATOR_FILTERS.items() if name in query}
    identificatoren = [pi["partijIdentificator"] for pi in partij["partijIdentificatoren"]]
    if wanted and not any(all(pi.get(k) == v for k, v in wanted.items()) for pi in identificatoren):
        return False
    return not ("soortPartij" in query and partij["soortPartij"] != query["soortPartij"])


def _matches(store: KlantinteractiesStore, kc: Json, query: dict[str, str]) -> bool:
    wanted = {key: query[name] for name, key in IDENTIFICATOR_FILTERS.items() if name in query}
    # All identificator filters must hold for one and the same identificator.
    if wanted and not any(all(pi.get(k) == v for k, v in wanted.items()) for pi in store.identificatoren(kc)):
        return False
    partij_uuid = query.get("hadBetrokkene__wasPartij__uuid")
    if partij_uuid is not None and not any(
        (store.betrokkenen[r["uuid"]]["wasPartij"] or {}).get("uuid") == partij_uuid for r in kc["hadBetrokkenen"]
    ):
        return False
    for name in BOOLEAN_FILTERS:
        if name in query and kc[name] is not (query[name].lower() in ("true", "1")):
            return False
    return not ("kanaal" in query and kc["kanaal"] != query["kanaal"])


def create_klantinteracties_app(*, token: str | None = None) -> FastAPI:
    """The accepted token defaults to IKO_SANDBOX_KLANTINTERACTIES_TOKEN, else DEFAULT_TOKEN."""
    accepted = token or os.environ.get(TOKEN_ENV) or DEFAULT_TOKEN
    app = FastAPI(title="IKO sandbox: Klantinteracties", openapi_url=None, docs_url=None, redoc_url=None)
    install_control(app, _error_answer)

    def store(request: Request) -> KlantinteractiesStore:
        return store_for(str(request.base_url))

    def denied(request: Request) -> Response | None:
        # Django REST framework's TokenAuthentication: 401 with WWW-Authenticate: Token.
        challenge = {"WWW-Authenticate": "Token"}
        scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "token":
            return _detail(401, "Authenticatiegegevens zijn niet opgegeven.", challenge)
        if not value.strip():
            return _detail(401, "Ongeldige token header. Geen credentials verstrekt.", challenge)
        if value.strip() != accepted:
            return _detail(401, "Ongeldige token.", challenge)
        return None

    @app.get(f"{API}/klantcontacten")
    async def klantcontact_list(request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        expands = _expands(request, KLANTCONTACT_EXPANDS)
        if isinstance(expands, Response):
            return expands
        data = store(request)
        query = dict(request.query_params)
        found = [kc for kc in data.klantcontacten.values() if _matches(data, kc, query)]
        # Newest first, as a contact history is read.
        found.sort(key=lambda kc: (kc["plaatsgevondenOp"], kc["uuid"]), reverse=True)
        page = paginate(request, found, PAGE_SIZE, MAX_PAGE_SIZE, page_size_param="pageSize")
        if page is None:
            return _detail(404, "Ongeldige pagina.")
        page["results"] = [_expanded_klantcontact(data, kc, expands) for kc in page["results"]]
        return _json(page)

    @app.get(f"{API}/klantcontacten/{{kc_uuid}}")
    async def klantcontact_read(kc_uuid: str, request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        expands = _expands(request, KLANTCONTACT_EXPANDS)
        if isinstance(expands, Response):
            return expands
        data = store(request)
        kc = data.klantcontacten.get(kc_uuid)
        return _json(_expanded_klantcontact(data, kc, expands)) if kc else _detail(404, "Niet gevonden.")

    @app.get(f"{API}/partijen")
    async def partij_list(request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        expands = _expands(request, PARTIJ_EXPANDS)
        if isinstance(expands, Response):
            return expands
        data = store(request)
        query = dict(request.query_params)
        found = sorted((p for p in data.partijen.values() if _partij_matches(p, query)), key=lambda p: p["nummer"])
        page = paginate(request, found, PAGE_SIZE, MAX_PAGE_SIZE, page_size_param="pageSize")
        if page is None:
            return _detail(404, "Ongeldige pagina.")
        page["results"] = [_expanded_partij(data, p, expands) for p in page["results"]]
        return _json(page)

    @app.get(f"{API}/partijen/{{partij_uuid}}")
    async def partij_read(partij_uuid: str, request: Request) -> Response:
        refused = denied(request)
        if refused:
            return refused
        expands = _expands(request, PARTIJ_EXPANDS)
        if isinstance(expands, Response):
            return expands
        data = store(request)
        partij = data.partijen.get(partij_uuid)
        return _json(_expanded_partij(data, partij, expands)) if partij else _detail(404, "Niet gevonden.")

    def detail_route(collection: str, attribute: str) -> None:
        async def read(resource_uuid: str, request: Request) -> Response:
            refused = denied(request)
            if refused:
                return refused
            resource = getattr(store(request), attribute).get(resource_uuid)
            return _json(resource) if resource else _detail(404, "Niet gevonden.")

        app.add_api_route(f"{API}/{collection}/{{resource_uuid}}", read, methods=["GET"], name=f"{collection}_read")

    for collection, attribute in (
        ("betrokkenen", "betrokkenen"),
        ("onderwerpobjecten", "onderwerpobjecten"),
        ("actoren", "actoren"),
        ("internetaken", "internetaken"),
        ("bijlagen", "bijlagen"),
        ("digitaleadressen", "digitaleadressen"),
    ):
        detail_route(collection, attribute)

    return app


# The name python -m iko_sandbox looks for in a source's simulator package.
create_app = create_klantinteracties_app
