from __future__ import annotations

from iko_shared.settings import CommonSettings, ProfileSettings


class GatewaySettings(CommonSettings, ProfileSettings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    # How long past a lookup's deadline the gateway still waits for the assembler before answering 504.
    gateway_reply_grace_s: float = 2.0
