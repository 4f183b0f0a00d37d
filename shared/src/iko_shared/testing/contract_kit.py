"""The connector contract kit: what every source connector must do, described once, run against each.

A library, so that a connector living in another repository runs the same contract: describe the connector as a
``ConnectorCase``, make its fixtures with ``contract_fixtures`` in a conftest, and import the suite
(``iko_shared.testing.contract_suite``) into a test module — see docs/adding-a-source.md. It needs pytest,
pytest-asyncio and the sandbox package (``iko-sandbox``: its server serves a simulator with the behaviour modes);
none of that is imported by anything but tests.

A ``ConnectorCase`` tells the kit how to build one connector's adapter and its simulator, and which scenarios
its source documents (happy path, not found, each documented error, searches). A scenario may override settings
of the adapter (``Scenario.settings``: a wrong credential, another filter); they are handed to the case's
``make_source`` as keyword overrides of the settings it builds. The tests in
``test_connector_contract.py`` run every case through the real runtime pieces — the adapter, the resilient
transport and ``ConnectorRuntime`` — against the simulator served over real HTTP, so timeouts, resets and
retries behave as they do in production.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import httpx
import uvicorn
from fastapi import FastAPI

from iko_shared.connector import CircuitBreaker, ConnectorRuntime, RetryPolicy, Source, SourceHttpSettings, make_client
from iko_shared.contracts import FragmentProduced, Identifier, LookupRequested, RequestContext, SourceQuery

Check = Callable[[FragmentProduced], None]


class SourceFactory(Protocol):
    """Builds an adapter for the simulator at ``base_url``, and the settings its HTTP client is built from.

    ``overrides`` are settings fields (``secret=...``, ``api_key=...``) that win over the factory's own values.
    """

    def __call__(self, base_url: str, /, **overrides: Any) -> tuple[Source, SourceHttpSettings]: ...


@dataclass(frozen=True)
class Scenario:
    name: str
    operation: str
    identifier: Identifier | None = None
    params: dict[str, Any] = field(default_factory=dict)
    fields: list[str] = field(default_factory=list)
    # What the fragment must say.
    status: str = "ok"
    error_code: str | None = None
    check: Check | None = None
    context: RequestContext = field(default_factory=RequestContext)
    # Settings of the adapter that differ for this scenario, merged over those the case's make_source builds.
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectorCase:
    source: str
    make_source: SourceFactory
    make_simulator: Callable[[], FastAPI]
    happy: Scenario
    not_found: Scenario
    errors: list[Scenario] = field(default_factory=list)
    searches: list[Scenario] = field(default_factory=list)
    # Why this source takes a BSN in the URL, when its API offers no way to send one in a body (Open Klant's
    # Klantinteracties API filters through GET query parameters only). Non-empty, the suite's "a BSN travels in no
    # URL" test is skipped with this reason; the connector's docstring must say so too. Leave empty otherwise.
    bsn_in_url_accepted_because: str = ""

    def __str__(self) -> str:
        return self.source

    def with_settings(self, **overrides: Any) -> ConnectorCase:
        """The same case with some settings changed for every scenario (a scenario's own settings still win)."""
        base = self.make_source

        def make_source(base_url: str, /, **more: Any) -> tuple[Source, SourceHttpSettings]:
            return base(base_url, **{**overrides, **more})

        return replace(self, make_source=make_source)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Simulator:
    url: str
    server: uvicorn.Server

    def control(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=5)

    def set_behaviour(self, mode: str, latency_ms: int = 0) -> None:
        with self.control() as client:
            client.put("/__sandbox__/behaviour", json={"mode": mode, "latency_ms": latency_ms}).raise_for_status()

    def reset(self) -> None:
        with self.control() as client:
            client.delete("/__sandbox__/behaviour").raise_for_status()
            client.delete("/__sandbox__/requests").raise_for_status()

    def received(self) -> list[dict[str, Any]]:
        with self.control() as client:
            answer: list[dict[str, Any]] = client.get("/__sandbox__/requests").json()
            return answer


@contextmanager
def serve_simulator(app: FastAPI) -> Iterator[Simulator]:
    """The simulator on a free port in a thread of its own, for as long as the block runs."""
    # The sandbox's server: it can refuse connections (behaviour "refuse"), which plain uvicorn cannot.
    from iko_sandbox.server import server_config

    port = free_port()
    server = uvicorn.Server(server_config(app, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, name=f"simulator-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the simulator did not start")
        time.sleep(0.02)
    try:
        yield Simulator(f"http://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def by(caller: str | None, scenario: Scenario) -> Scenario:
    """The scenario asked by ``caller`` (the gateway's caller token): the circuit breaker tells callers apart."""
    return replace(scenario, context=scenario.context.model_copy(update={"caller": caller}))


def lookup_for(case: ConnectorCase, scenario: Scenario, deadline_s: float = 5.0) -> LookupRequested:
    now = time.time()
    return LookupRequested(
        request_id=str(uuid.uuid4()),
        profile="contract",
        identifier=scenario.identifier,
        queries=[
            SourceQuery(
                key=case.source,
                source=case.source,
                operation=scenario.operation,
                fields=scenario.fields,
                params=scenario.params,
            )
        ],
        requested_at=now,
        deadline=now + deadline_s,
        reply_to="contract",
        context=scenario.context,
    )


class Harness:
    """One connector wired as in production, publishing into a list instead of RabbitMQ.

    A scenario with its own ``settings`` runs on an adapter and client built for it alone (with the same retry
    policy and circuit breaker, but the default inner transport), closed when the run ends.
    """

    def __init__(
        self,
        case: ConnectorCase,
        simulator: Simulator,
        policy: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        inner: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.case = case
        self._simulator = simulator
        self._policy = policy or RetryPolicy(base_delay_s=0.01)
        self._breaker = breaker
        self.source, settings = case.make_source(simulator.url)
        self.client = make_client(settings, case.source, self._policy, breaker, inner)
        self.published: list[FragmentProduced] = []
        self.runtime = ConnectorRuntime(self.source, self.client, self._publish)

    async def _publish(self, fragment: FragmentProduced) -> None:
        self.published.append(fragment)

    async def run(self, scenario: Scenario, deadline_s: float = 5.0) -> FragmentProduced | None:
        if scenario.settings:
            own = Harness(self.case.with_settings(**scenario.settings), self._simulator, self._policy, self._breaker)
            try:
                fragment = await own.run(replace(scenario, settings={}), deadline_s)
            finally:
                await own.aclose()
            self.published.extend(own.published)
            return fragment
        request = lookup_for(self.case, scenario, deadline_s)
        await self.runtime.handle(request)
        # Runs may overlap (batching tests): hand back this request's own fragment.
        mine = [f for f in self.published if f.request_id == request.request_id]
        return mine[-1] if mine else None

    async def aclose(self) -> None:
        await self.client.aclose()


class FlakyTransport(httpx.AsyncBaseTransport):
    """Answers the first ``failures`` requests with ``status`` itself, then lets requests through."""

    def __init__(self, failures: int, status: int = 503) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.failures = failures
        self.status = status
        self.seen = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        if self.seen <= self.failures:
            return httpx.Response(self.status, headers={"Retry-After": "0"}, request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def contract_fixtures(cases: list[ConnectorCase]) -> tuple[Any, Any, Any]:
    """The fixtures the suite takes, for a conftest: ``case_and_simulator, case, simulator =
    contract_fixtures(CASES)``. Each case's simulator is served once per session, reset around every test."""
    import pytest

    @pytest.fixture(scope="session", params=cases, ids=str)
    def case_and_simulator(request: pytest.FixtureRequest) -> Iterator[tuple[ConnectorCase, Simulator]]:
        case: ConnectorCase = request.param
        with serve_simulator(case.make_simulator()) as simulator:
            yield case, simulator

    @pytest.fixture
    def case(case_and_simulator: tuple[ConnectorCase, Simulator]) -> ConnectorCase:
        return case_and_simulator[0]

    @pytest.fixture
    def simulator(case_and_simulator: tuple[ConnectorCase, Simulator]) -> Iterator[Simulator]:
        simulator = case_and_simulator[1]
        simulator.reset()
        yield simulator
        simulator.reset()

    return case_and_simulator, case, simulator
