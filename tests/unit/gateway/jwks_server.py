"""A tiny JWKS endpoint on 127.0.0.1 (a thread with http.server), with keys made by ``cryptography``.

Tests change what it serves (key rotation), make it fail or slow, and count how often it is asked.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any
    declare_alg: bool = True

    @classmethod
    def rsa(cls, kid: str | None = None, *, alg: str = "RS256", declare_alg: bool = True) -> SigningKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid or f"rsa-{uuid.uuid4().hex[:8]}", alg, private, declare_alg)

    @classmethod
    def ec(cls, kid: str | None = None, *, declare_alg: bool = True) -> SigningKey:
        private = ec.generate_private_key(ec.SECP256R1())
        return cls(kid or f"ec-{uuid.uuid4().hex[:8]}", "ES256", private, declare_alg)

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            data: dict[str, Any] = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            data = ECAlgorithm.to_jwk(public, as_dict=True)
        data.update({"kid": self.kid, "use": "sig"})
        if self.declare_alg:
            data["alg"] = self.alg
        return data

    def sign(self, claims: dict[str, Any], *, kid: str | None = None, alg: str | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm=alg or self.alg, headers={"kid": kid or self.kid})


@dataclass
class JwksServer:
    keys: list[SigningKey] = field(default_factory=list)
    status: int = 200
    delay_s: float = 0.0
    body: bytes | None = None
    fetches: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/certs"

    def serve(self, *keys: SigningKey) -> None:
        self.keys = list(keys)

    def start(self) -> JwksServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner._lock:
                    owner.fetches += 1
                if owner.delay_s:
                    time.sleep(owner.delay_s)
                if self.path != "/certs":
                    self.send_error(404)
                    return
                body = owner.body
                if body is None:
                    body = json.dumps({"keys": [k.jwk() for k in owner.keys]}).encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
