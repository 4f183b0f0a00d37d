"""ZGW's JWT: HS256 over client_id / secret, kept and renewed shortly before it expires."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt


class ZgwToken:
    def __init__(
        self,
        client_id: str,
        secret: str,
        lifetime_s: float = 3600.0,
        renew_margin_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client_id = client_id
        self._secret = secret
        self._lifetime = lifetime_s
        self._margin = renew_margin_s
        self._clock = clock
        self._token = ""
        self._expires_at = 0.0

    def bearer(self) -> str:
        now = self._clock()
        if now >= self._expires_at - self._margin:
            issued = int(now)
            payload = {
                "iss": self._client_id,
                "iat": issued,
                "exp": issued + int(self._lifetime),
                "client_id": self._client_id,
                "user_id": self._client_id,
                "user_representation": "IKO",
            }
            self._token = jwt.encode(payload, self._secret, algorithm="HS256")
            self._expires_at = issued + self._lifetime
        return self._token
