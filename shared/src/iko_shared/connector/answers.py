"""A source's successful answer must be what every IKO source API sends: a JSON object. A 200 with an HTML page (a
proxy's error page), a body cut off mid-way, or JSON of another shape is the source's fault, and says so as
``invalid_response`` — never ``ok`` with nothing in it, which a caller would read as "the source knows nothing"."""

from __future__ import annotations

import httpx

from iko_shared.connector.source import SourceError

INVALID = "invalid_response"


def invalid_response(message: str, status: int) -> SourceError:
    return SourceError(INVALID, message, {"status": status})


class AnswerCheck(httpx.AsyncBaseTransport):
    """Checks every 2xx answer before an adapter reads it: a JSON content type and an object at the top."""

    def __init__(self, inner: httpx.AsyncBaseTransport, source: str) -> None:
        self._inner = inner
        self._source = source

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if not 200 <= response.status_code < 300 or response.status_code == 204:
            return response
        content_type = response.headers.get("content-type", "")
        if "json" not in content_type.lower():
            await response.aclose()
            raise invalid_response(
                f"{self._source} answered {response.status_code} with {content_type or 'no content type'}, not JSON",
                response.status_code,
            )
        body = await response.aread()
        if not body.lstrip()[:1] == b"{":
            raise invalid_response(
                f"{self._source} answered {response.status_code} with JSON that is not an object",
                response.status_code,
            )
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
