"""KVK's error body: {"fout": [{"code", "omschrijving"}]}."""

from __future__ import annotations

import orjson
from fastapi.responses import Response

# Codes from KVK's developer documentation; IPD1999 stands in for the unrecorded code of
# the published error scenarios and the sandbox `error` mode.
NOT_FOUND = "IPD0005"
INVALID_KVK_NUMMER = "IPD0004"
INVALID_VESTIGINGSNUMMER = "IPD0006"
NO_SEARCH_RESULTS = "IPD5200"
UNAUTHORIZED = "IPD1002"
TECHNICAL_ERROR = "IPD1999"


def fout_body(code: str, omschrijving: str) -> bytes:
    return orjson.dumps({"fout": [{"code": code, "omschrijving": omschrijving}]})


# Basisprofiel and Vestigingsprofiel declare their errors as application/hal+json only;
# Zoeken declares both and follows the Accept header.
HAL_JSON = "application/hal+json"


def error_media_type(path: str, accept: str) -> str:
    if path.startswith("/v2/") and HAL_JSON not in accept:
        return "application/json"
    return HAL_JSON


def fout(status: int, code: str, omschrijving: str, media_type: str = HAL_JSON) -> Response:
    return Response(fout_body(code, omschrijving), status_code=status, media_type=media_type)


INVALID_PARAMETER = "IPD5203"
