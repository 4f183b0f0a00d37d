from __future__ import annotations

from typing import Annotated

from iko_shared.settings import CommonSettings, ProfileSettings
from pydantic import AliasChoices, BeforeValidator, Field, IPvAnyNetwork
from pydantic_settings import NoDecode

from iko_gateway.auth.settings import string_list


class GatewaySettings(CommonSettings, ProfileSettings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    # How long past a lookup's deadline the gateway still waits for the assembler before answering 504.
    gateway_reply_grace_s: float = 2.0
    # Requests with a bigger body are refused (413) before they are read.
    gateway_max_body_bytes: int = 64 * 1024
    # Lookups and searches per client per minute (0: no limit).
    gateway_rate_limit_per_minute: int = 600
    # Requests one caller may have in flight at once on this replica (0: no cap); beyond it 429.
    gateway_max_in_flight_per_caller: int = Field(16, ge=0)
    # Lookups this replica has in flight at once, all callers together (0: no cap); beyond it 503 with
    # Retry-After at once: a burst past what the pipeline answers within the deadline is shed, not queued late.
    gateway_max_in_flight: int = Field(256, ge=0)
    # Identical lookups in flight at once (same caller, profile, identifier, purpose and plan; a Valtimo tab's
    # widgets) share one pipeline run when their deadlines are within this of each other (0: never shared).
    gateway_coalesce_tolerance_ms: int = Field(250, ge=0)
    # Failed authentication attempts per source address per minute (0: no limit); beyond it every request from
    # that address, with good credentials or not, is refused (429) until the minute ends.
    gateway_auth_failures_per_minute: int = Field(30, ge=0)
    # Proxies (addresses or CIDRs, comma-separated or a JSON list) whose X-Forwarded-For is believed.
    gateway_trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode, BeforeValidator(string_list)] = Field(
        default_factory=list
    )
    # Timeout of one /endpoints call of the IKO Server compatible API.
    gateway_compat_timeout_ms: int = 5000
    # The purpose recorded for IKO Server compatible calls that state none (Valtimo sends no purpose headers);
    # empty: such calls are refused.
    gateway_compat_doelbinding: str = ""
    gateway_compat_verwerking: str = "Zaakbehandeling (Valtimo)"
    # Who may read the audit trail of a data subject (POST /api/v1/inzage), and who only its citizen's form
    # (POST /api/v1/inzage/burger, e.g. a citizen portal's service client).
    gateway_inzage_roles: Annotated[list[str], NoDecode, BeforeValidator(string_list)] = Field(
        default_factory=lambda: ["iko-privacy"]
    )
    gateway_inzage_portal_roles: Annotated[list[str], NoDecode, BeforeValidator(string_list)] = Field(
        default_factory=lambda: ["iko-portaal"]
    )
    # How long an inzage waits for the audit service.
    gateway_inzage_timeout_ms: int = 5000
    # Development mode: the dev API key with every role, and the purpose "demo" for every profile.
    dev_mode: bool = Field(False, validation_alias=AliasChoices("IKO_DEV_MODE", "iko_dev_mode"))
    # Facts of every audit record (VNG Verwerkingenlogging).
    audit_uitvoerder: str = "gemeente"
    audit_systeem: str = "IKO"
    audit_bewaartermijn: str = "P20Y"
    audit_vertrouwelijkheid: str = "vertrouwelijk"
