"""Simulator of the Objecten API v2 and the Objecttypen API v2 (read side), both under one server."""

DEFAULT_PORT = 8105
