"""ZGW's JWT authorisation: HS256 tokens signed with the client's shared secret."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import jwt
from jwt.warnings import InsecureKeyLengthWarning

REQUIRED_CLAIMS = ("iss", "iat", "client_id")


@dataclass(frozen=True)
class JwtSettings:
    secret: str
    client_id: str


def check_authorization(header: str | None, settings: JwtSettings) -> str | None:
    """None when the bearer token is valid for the client, else the reason it is refused."""
    if not header:
        return "Authenticatiegegevens zijn niet opgegeven."
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return "Ongeldig Authorization header, verwacht 'Bearer <JWT>'."
    try:
        with warnings.catch_warnings():
            # ZGW client secrets are often shorter than RFC 7518 recommends (the default is not);
            # warning about a configured short one on every request would flood stderr.
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            claims = jwt.decode(
                token.strip(),
                settings.secret,
                algorithms=["HS256"],
                options={"require": list(REQUIRED_CLAIMS), "verify_aud": False},
                leeway=300,
            )
    except jwt.PyJWTError as error:
        return f"JWT ongeldig: {error.__class__.__name__}."
    if claims.get("client_id") != settings.client_id:
        return "Client identificatie is onbekend."
    return None
