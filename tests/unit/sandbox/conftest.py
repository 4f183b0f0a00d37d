from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from fastapi import FastAPI
from iko_sandbox.brp.app import create_brp_app
from iko_sandbox.kvk.app import create_kvk_app
from iko_sandbox.zgw.app import DEFAULT_CLIENT_ID, DEFAULT_SECRET, create_zgw_app

from tests.unit.sandbox.spec_check import HOST


def zgw_token(secret: str = DEFAULT_SECRET, client_id: str = DEFAULT_CLIENT_ID) -> str:
    claims = {
        "iss": client_id,
        "iat": int(time.time()),
        "client_id": client_id,
        "user_id": "tester",
        "user_representation": "Test Er",
    }
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture(scope="session")
def brp_app() -> FastAPI:
    return create_brp_app(api_key="")


@pytest.fixture(scope="session")
def kvk_app() -> FastAPI:
    return create_kvk_app(api_key="")


@pytest.fixture(scope="session")
def zgw_app() -> FastAPI:
    return create_zgw_app()


async def _client(app: FastAPI, headers: dict[str, str] | None = None) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=HOST, headers=headers) as client:
        yield client


@pytest.fixture
async def brp(brp_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(brp_app):
        yield client
        await client.delete("/__sandbox__/behaviour")
        await client.delete("/__sandbox__/requests")


@pytest.fixture
async def kvk(kvk_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # The specs require the apikey header; the app without a configured key accepts any.
    async for client in _client(kvk_app, {"apikey": "sandbox"}):
        yield client
        await client.delete("/__sandbox__/behaviour")
        await client.delete("/__sandbox__/requests")


@pytest.fixture
async def zgw(zgw_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {zgw_token()}", "Accept-Crs": "EPSG:4326", "Content-Crs": "EPSG:4326"}
    async for client in _client(zgw_app, headers):
        yield client
        await client.delete("/__sandbox__/behaviour")
        await client.delete("/__sandbox__/requests")
