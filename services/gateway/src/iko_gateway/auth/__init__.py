"""Authentication of the gateway's callers: bearer JWTs (JWKS), hashed API keys, a dev key; a rate limiter and a
limit on failed attempts per address.

Usage (wired in by the app)::

    authenticator = Authenticator(AuthSettings())
    caller = await authenticator.authenticate(request.headers)   # raises AuthError
    ...
    problem = auth_problem(error)   # status, RFC 9457 body, WWW-Authenticate header
"""

from iko_gateway.auth.api_keys import ApiKeyEntry, ApiKeysFileError, ApiKeyStore, hash_api_key, load_api_keys
from iko_gateway.auth.authenticator import Authenticator
from iko_gateway.auth.caller import Caller, CallerKind
from iko_gateway.auth.errors import AuthError, AuthProblem, auth_problem
from iko_gateway.auth.failures import AuthFailureLimiter
from iko_gateway.auth.jwks import JwksCache
from iko_gateway.auth.rate_limit import RateDecision, RateLimiter
from iko_gateway.auth.settings import AuthSettings
from iko_gateway.auth.tokens import TokenVerifier

__all__ = [
    "ApiKeyEntry",
    "ApiKeyStore",
    "ApiKeysFileError",
    "AuthError",
    "AuthFailureLimiter",
    "AuthProblem",
    "AuthSettings",
    "Authenticator",
    "Caller",
    "CallerKind",
    "JwksCache",
    "RateDecision",
    "RateLimiter",
    "TokenVerifier",
    "auth_problem",
    "hash_api_key",
    "load_api_keys",
]
