"""RFC 9457 problem details from a source (the BRP, the ZGW APIs), as a ``SourceError`` with the source's own code."""

from __future__ import annotations

from typing import Any

import httpx

from iko_shared.connector.source import SourceError


def problem_error(response: httpx.Response, source: str) -> SourceError:
    """The source's ``code`` and ``invalidParams`` kept; its ``detail`` or ``title`` as the message."""
    try:
        body: Any = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    details: dict[str, Any] = {"status": response.status_code}
    if body.get("invalidParams"):
        details["invalidParams"] = body["invalidParams"]
    code = str(body.get("code") or f"http_{response.status_code}")
    message = str(body.get("detail") or body.get("title") or f"{source} answered {response.status_code}")
    return SourceError(code, message, details)
