"""The audit store's statements, one file each beside this loader."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import LiteralString


@cache
def load(name: str) -> LiteralString:
    # Typed as psycopg's queries are (literal strings, to keep caller text out of SQL): these files ship with the
    # package and hold no caller text.
    text: LiteralString = files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
    return text
