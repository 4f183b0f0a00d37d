"""Generate the AsyncAPI document of IKO's message flow from the FastStream apps themselves.

``python -m tools.asyncapi`` rewrites docs/asyncapi/iko.yaml; a test fails when the committed file is stale.
Fixed settings (default namespace and broker URL) keep the document independent of the local environment.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from faststream.rabbit import RabbitBroker
from faststream.specification import AsyncAPI
from iko_assembler.app import AssemblerSettings, build_assembler_app
from iko_audit.app import build_audit_app
from iko_audit.settings import AuditSettings
from iko_gateway.app import build_gateway_broker
from iko_gateway.replies import ReplyWaiter
from iko_gateway.settings import GatewaySettings
from iko_shared.connector import ConnectorSettings, build_connector_app
from iko_shared.sources import SourceEntry, load_object, registered_sources

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "asyncapi" / "iko.yaml"
FIXED = {"rabbitmq_url": "amqp://guest:guest@127.0.0.1:5672/", "namespace": "iko"}


def render() -> str:
    gateway, _, _ = build_gateway_broker(GatewaySettings(**FIXED), ReplyWaiter(), instance="<instance>")
    _, assembler = build_assembler_app(AssemblerSettings(**FIXED))
    _, audit = build_audit_app(AuditSettings(**FIXED))
    connectors = [connector_app(entry) for entry in registered_sources()]
    spec = AsyncAPI(
        gateway,
        assembler,
        audit,
        *connectors,
        title="IKO lookup pipeline",
        version="1",
        description=(
            "Gateway -> lookups (headers exchange) -> connectors -> fragments -> assembler -> gateway reply queue."
        ),
    )
    # FastStream's channel order follows set iteration, which changes between processes: sort for a stable file.
    document = yaml.safe_load(spec.to_specification().to_yaml())
    document_raw_payloads(document)
    return str(yaml.safe_dump(document, sort_keys=True, allow_unicode=True, width=110))


def connector_app(entry: SourceEntry) -> RabbitBroker:
    settings = load_object(entry.settings_class)()
    return build_connector_app(load_object(entry.source_class)(settings), settings, ConnectorSettings(**FIXED))[1]


# Handlers that take a message as it came (a decoder hands them the raw body) are documented with the contract the
# body holds: message title -> (the decoder's type FastStream saw, the contract's schema).
RAW_PAYLOADS = {
    "iko.gateway.replies.<instance>:LookupCompleted:SubscribeMessage": ("Reply", "LookupCompleted"),
    "iko.audit:AuditRecorded(store):SubscribeMessage": ("Incoming_AuditRecorded_", "AuditRecorded"),
    "iko.audit.inzage:InzageRequested(store):SubscribeMessage": ("Incoming_InzageRequested_", "InzageRequested"),
}


def document_raw_payloads(document: dict[str, Any]) -> None:
    components = document["components"]
    for message in components["messages"].values():
        if message.get("title") in RAW_PAYLOADS:
            seen, contract = RAW_PAYLOADS[message["title"]]
            assert contract in components["schemas"], f"{contract} is not in the document"
            message["payload"] = {"$ref": f"#/components/schemas/{contract}"}
            components["schemas"].pop(seen, None)


def main() -> int:
    DOCUMENT.parent.mkdir(parents=True, exist_ok=True)
    DOCUMENT.write_text(render(), encoding="utf-8")
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
