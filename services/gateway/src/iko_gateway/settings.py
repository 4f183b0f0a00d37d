from __future__ import annotations

from iko_shared.settings import CommonSettings, ProfileSettings
from pydantic import AliasChoices, Field


class GatewaySettings(CommonSettings, ProfileSettings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    # How long past a lookup's deadline the gateway still waits for the assembler before answering 504.
    gateway_reply_grace_s: float = 2.0
    # Requests with a bigger body are refused (413) before they are read.
    gateway_max_body_bytes: int = 64 * 1024
    # Lookups and searches per client per minute (0: no limit).
    gateway_rate_limit_per_minute: int = 600
    # Timeout of one /endpoints call of the IKO Server compatible API.
    gateway_compat_timeout_ms: int = 5000
    # The purpose recorded for IKO Server compatible calls that state none (Valtimo sends no purpose headers);
    # empty: such calls are refused.
    gateway_compat_doelbinding: str = ""
    gateway_compat_verwerking: str = "Zaakbehandeling (Valtimo)"
    # Development mode: the dev API key with every role, and the purpose "demo" for every profile.
    dev_mode: bool = Field(False, validation_alias=AliasChoices("IKO_DEV_MODE", "iko_dev_mode"))
    # Facts of every audit record (VNG Verwerkingenlogging).
    audit_uitvoerder: str = "gemeente"
    audit_systeem: str = "IKO"
    audit_bewaartermijn: str = "P20Y"
    audit_vertrouwelijkheid: str = "vertrouwelijk"
