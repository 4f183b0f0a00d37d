"""Simulator of the Open Klant 2 Klantinteracties API (read side: klantcontacten and what they link to)."""

DEFAULT_PORT = 8104
