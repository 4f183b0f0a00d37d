"""Which URLs a connector may follow with its source's credentials: only those under a trusted base URL.

Sources hand back links (``next`` pages, zaaktype URLs); following one to another host would send the token there.
One guard for every connector: the same origin (scheme, host, port) and a path below the base's.
"""

from __future__ import annotations

import httpx

from iko_shared.connector.source import SourceError


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


class UrlGuard:
    """Admits a URL only under one of ``base_urls``; a relative one is the client's own (its base URL resolves it).

    ``what`` names the source's API in the error. Admitted URLs are remembered (bounded): the same links come back
    on every lookup, and parsing one costs more than the rest of its handling. Refused URLs are not remembered.
    """

    REMEMBERED = 4096

    def __init__(self, base_urls: list[str], what: str = "the base URL") -> None:
        self._bases = [(_origin(u), u.path.rstrip("/") + "/") for u in map(httpx.URL, base_urls)]
        self._what = what
        self._admitted: set[str] = set()

    def covers(self, url: str) -> bool:
        """Whether ``url`` is absolute and under one of the base URLs."""
        target = httpx.URL(url)
        if not target.is_absolute_url:
            return False
        origin, path = _origin(target), target.path.rstrip("/") + "/"
        return any(origin == o and path.startswith(p) for o, p in self._bases)

    def admit(self, url: str) -> str:
        """``url`` when it may be followed; ``SourceError("foreign_url")`` naming only the host otherwise (the URL
        itself may carry a BSN in its query)."""
        if url in self._admitted:
            return url
        target = httpx.URL(url)
        if target.is_absolute_url and not self.covers(url):
            raise SourceError(
                "foreign_url",
                f"refused to follow a URL on {target.host}: it is not under {self._what}",
                {"host": target.host},
            )
        if len(self._admitted) >= self.REMEMBERED:
            self._admitted.clear()
        self._admitted.add(url)
        return url
