"""Attaches the control API and the behaviour middleware to a simulator app."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI

from iko_sandbox.control.behaviour import BehaviourStore
from iko_sandbox.control.middleware import BehaviourMiddleware, ErrorFactory
from iko_sandbox.control.recorder import RequestRecorder
from iko_sandbox.control.routes import control_router


@dataclass
class SandboxControl:
    store: BehaviourStore = field(default_factory=BehaviourStore)
    recorder: RequestRecorder = field(default_factory=RequestRecorder)


def install_control(app: FastAPI, error_factory: ErrorFactory) -> SandboxControl:
    control = SandboxControl()
    app.include_router(control_router(control.store, control.recorder))
    app.add_middleware(
        BehaviourMiddleware,
        store=control.store,
        recorder=control.recorder,
        error_factory=error_factory,
    )
    # The refusing server protocol needs the store; app.state is where it finds it.
    app.state.sandbox_control = control
    return control
