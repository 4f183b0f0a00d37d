"""The connector runtime shared by every source connector."""

from iko_shared.connector.breaker import ANONYMOUS, BreakerState, Caller, CircuitBreaker
from iko_shared.connector.http import SourceHttpSettings, load_source_settings, make_client
from iko_shared.connector.resilience import FETCH_CALLERS, FETCH_DEADLINE, ResilientTransport, RetryPolicy
from iko_shared.connector.runtime import ConnectorRuntime, ConnectorSettings, build_connector_app, run_connector
from iko_shared.connector.source import FetchContext, FetchResult, Source, SourceError

__all__ = [
    "ANONYMOUS",
    "FETCH_CALLERS",
    "FETCH_DEADLINE",
    "BreakerState",
    "Caller",
    "CircuitBreaker",
    "ConnectorRuntime",
    "ConnectorSettings",
    "FetchContext",
    "FetchResult",
    "ResilientTransport",
    "RetryPolicy",
    "Source",
    "SourceError",
    "SourceHttpSettings",
    "build_connector_app",
    "load_source_settings",
    "make_client",
    "run_connector",
]
