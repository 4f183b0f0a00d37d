"""What the routes take from the application's state, typed (set up in ``app.lifespan``)."""

from __future__ import annotations

from fastapi import Request

from iko_gateway.audit import Auditor
from iko_gateway.decisions import AccessDecider
from iko_gateway.inzage import InzageService
from iko_gateway.lookups import LookupService
from iko_gateway.settings import GatewaySettings


def service_of(request: Request) -> LookupService:
    service: LookupService = request.app.state.lookups
    return service


def settings_of(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


def auditor_of(request: Request) -> Auditor:
    auditor: Auditor = request.app.state.auditor
    return auditor


def decider_of(request: Request) -> AccessDecider:
    decider: AccessDecider = request.app.state.decider
    return decider


def inzage_of(request: Request) -> InzageService:
    service: InzageService = request.app.state.inzage
    return service
