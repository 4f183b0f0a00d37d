"""Bearer JWT verification: allowed asymmetric algorithm, known key, signature, time claims, issuer, audience."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jwt

from iko_gateway.auth.caller import Caller
from iko_gateway.auth.errors import AuthError
from iko_gateway.auth.jwks import JwksCache
from iko_gateway.auth.settings import AuthSettings

# Far above any real access token (Keycloak's are 1-3 KiB); bounds the work an anonymous caller can cause.
MAX_TOKEN_LENGTH = 16 * 1024

_REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]


def _rejected(detail: str) -> AuthError:
    return AuthError(detail, token_rejected=True)


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``resource_access.iko.roles``), or None when any step is missing."""
    value: Any = claims
    for step in path.split("."):
        if not isinstance(value, Mapping) or step not in value:
            return None
        value = value[step]
    return value


def roles_from(claims: Mapping[str, Any], paths: Sequence[str]) -> frozenset[str]:
    """The roles at the first path that holds a list of strings (or a space-separated string)."""
    for path in paths:
        value = claim_at(claims, path)
        if isinstance(value, str):
            return frozenset(value.split())
        if isinstance(value, list):
            return frozenset(role for role in value if isinstance(role, str) and role)
    return frozenset()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class TokenVerifier:
    def __init__(self, settings: AuthSettings, jwks: JwksCache) -> None:
        if not settings.issuer:
            raise ValueError("a token verifier needs an issuer")
        self._issuer = settings.issuer
        self._settings = settings
        self._jwks = jwks
        self._algorithms = frozenset(settings.algorithms)

    async def verify(self, token: str) -> Caller:
        """The caller the token names; AuthError(401) with a short reason when anything is wrong with it."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise _rejected("the token is too large")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _rejected("the token is malformed") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise _rejected("the token's algorithm is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _rejected("the token names no signing key (kid)")
        key = await self._jwks.key(kid, alg)
        claims = self._decode(token, key, alg)
        return self._caller(claims)

    def _decode(self, token: str, key: jwt.PyJWK, alg: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self._settings.audience,
                issuer=self._issuer,
                leeway=self._settings.leeway_s,
                options={"require": _REQUIRED_CLAIMS, "enforce_minimum_key_length": True},
            )
        except jwt.ExpiredSignatureError:
            raise _rejected("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise _rejected("the token is not valid yet") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _rejected(f"the token has no {exc.claim!r} claim") from None
        except jwt.InvalidAudienceError:
            raise _rejected("the token is not meant for this service (audience)") from None
        except jwt.InvalidIssuerError:
            raise _rejected("the token's issuer is not trusted") from None
        except jwt.InvalidSignatureError:
            raise _rejected("the token's signature is invalid") from None
        except jwt.InvalidAlgorithmError:
            raise _rejected("the token's algorithm does not match its signing key") from None
        except jwt.InvalidKeyError:
            raise _rejected("the signing key is not acceptable") from None
        except jwt.PyJWTError:
            raise _rejected("the token is malformed") from None

    def _caller(self, claims: Mapping[str, Any]) -> Caller:
        subject = _text(claims.get("sub"))
        if subject is None:
            raise _rejected("the token has no valid 'sub' claim")
        user = _text(claim_at(claims, self._settings.user_claim)) or subject
        client = _text(claims.get("azp")) or _text(claims.get("client_id"))
        roles = roles_from(claims, self._settings.roles_claim)
        return Caller(kind="jwt", subject=subject, client=client, user=user, roles=roles)
