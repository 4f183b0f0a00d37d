"""Test tools for connectors: the contract kit and suite (they need pytest, pytest-asyncio and iko-sandbox)."""
