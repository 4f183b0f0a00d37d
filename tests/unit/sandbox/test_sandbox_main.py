"""python -m iko_sandbox <source>: the simulator and its default port come from the source registry."""

from __future__ import annotations

import logging.config
from typing import Any

import pytest
from fastapi import FastAPI
from iko_sandbox import __main__ as sandbox_main
from iko_sandbox import server
from iko_shared.sources import registered_sources


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[FastAPI, str, int]]:
    calls: list[tuple[FastAPI, str, int]] = []

    def fake_serve(app: FastAPI, host: str, port: int, **_: Any) -> None:
        calls.append((app, host, port))

    monkeypatch.setattr(server, "serve", fake_serve)
    # The simulator's own logging would stop iko_sandbox records reaching caplog in later tests.
    monkeypatch.setattr(logging.config, "dictConfig", lambda config: None)
    monkeypatch.delenv("IKO_SANDBOX_KVK_PORT", raising=False)
    return calls


def test_a_registered_source_runs_its_simulator_on_its_default_port(served: list[tuple[FastAPI, str, int]]) -> None:
    sandbox_main.main(["kvk"])

    [(app, host, port)] = served
    assert isinstance(app, FastAPI)
    assert (host, port) == ("127.0.0.1", 8102)


def test_the_port_from_the_environment_wins_over_the_default(
    served: list[tuple[FastAPI, str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IKO_SANDBOX_KVK_PORT", "18102")
    sandbox_main.main(["kvk"])

    assert served[0][2] == 18102


def test_an_unknown_source_is_a_usage_error_naming_the_registered_ones(
    served: list[tuple[FastAPI, str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        sandbox_main.main(["nope"])

    assert exit_info.value.code == 2
    registered = ", ".join(sorted(entry.name for entry in registered_sources()))
    assert f"unknown source 'nope'; registered: {registered}" in capsys.readouterr().err
    assert served == []
