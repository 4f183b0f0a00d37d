"""The connector runtime shared by every source connector."""

from iko_shared.connector.http import SourceHttpSettings, make_client
from iko_shared.connector.runtime import ConnectorRuntime, ConnectorSettings, build_connector_app, run_connector
from iko_shared.connector.source import FetchContext, FetchResult, Source, SourceError

__all__ = [
    "ConnectorRuntime",
    "ConnectorSettings",
    "FetchContext",
    "FetchResult",
    "Source",
    "SourceError",
    "SourceHttpSettings",
    "build_connector_app",
    "make_client",
    "run_connector",
]
