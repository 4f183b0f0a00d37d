"""Service clients by API key: the keys file holds only SHA-256 hashes, looked up in constant time.

The file (``IKO_AUTH_API_KEYS_FILE``) is a YAML list::

    - client: zaaksysteem
      key_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
      roles: [persoon-lezen]

Make a key and its hash with ``python -m iko_gateway.auth``: give the key to the client, put the
hash in the file.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from iko_gateway.auth.caller import Caller


class ApiKeysFileError(ValueError):
    """The keys file cannot be used; the message names the file and what is wrong, never a key."""


class ApiKeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    client: str = Field(min_length=1, max_length=200)
    key_sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="hex SHA-256 of the key, never the key")
    roles: list[str] = Field(default_factory=list)

    @field_validator("key_sha256")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    def caller(self) -> Caller:
        return Caller(
            kind="api_key", subject=self.client, client=self.client, user=self.client, roles=frozenset(self.roles)
        )


_ENTRIES = TypeAdapter(list[ApiKeyEntry])


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> tuple[str, str]:
    """A fresh random key and its hash (for the keys file)."""
    key = secrets.token_urlsafe(32)
    return key, hash_api_key(key)


class ApiKeyStore:
    def __init__(self, entries: Sequence[ApiKeyEntry] = ()) -> None:
        self._entries = [(bytes.fromhex(entry.key_sha256), entry) for entry in entries]

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, presented: str) -> ApiKeyEntry | None:
        """The entry whose hash matches ``presented``: every entry is compared, each in constant time."""
        digest = hashlib.sha256(presented.encode()).digest()
        found: ApiKeyEntry | None = None
        for stored, entry in self._entries:
            if hmac.compare_digest(digest, stored) and found is None:
                found = entry
        return found


def _location(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".") or "(top)"


def load_api_keys(path: Path) -> ApiKeyStore:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ApiKeysFileError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ApiKeysFileError(f"{path}: not valid YAML{where}") from None
    if raw is None:
        raw = []
    try:
        entries = _ENTRIES.validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{_location(err['loc'])}: {err['msg']}" for err in exc.errors(include_input=False))
        raise ApiKeysFileError(f"{path}: expected a list of {{client, key_sha256, roles}}: {problems}") from None
    seen_clients: set[str] = set()
    seen_hashes: set[str] = set()
    for index, entry in enumerate(entries):
        if entry.client in seen_clients:
            raise ApiKeysFileError(f"{path}: [{index}].client: {entry.client!r} appears twice")
        if entry.key_sha256 in seen_hashes:
            raise ApiKeysFileError(f"{path}: [{index}].key_sha256: the same key hash appears twice")
        seen_clients.add(entry.client)
        seen_hashes.add(entry.key_sha256)
    return ApiKeyStore(entries)
