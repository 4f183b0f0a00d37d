"""The probes the Kubernetes manifests name are the ones the services answer: for every Deployment of the base, its
process in the running stack (started with the same module) answers each probe's path with 200 on the port the
probe names. All processes share one host here, so the stack gives each its own ops port; the manifests' own
``IKO_OPS_PORT`` is checked to be the ``ops`` port the probes name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from iko_stack import Stack

pytestmark = pytest.mark.e2e

BASE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "base"
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


def deployments() -> list[dict[str, Any]]:
    found = []
    for path in sorted(BASE.glob("*.yaml")):
        found += [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "Deployment"]
    return found


def test_the_base_has_a_deployment_per_stack_service(stack: Stack) -> None:
    names = {d["metadata"]["name"].removeprefix("iko-") for d in deployments()}
    processes = {key.rsplit("-", 1)[0] for key in stack.ops_urls}
    assert names == processes


@pytest.mark.parametrize("deployment", deployments(), ids=lambda d: d["metadata"]["name"])
async def test_every_probe_the_manifests_name_answers_200(stack: Stack, deployment: dict[str, Any]) -> None:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    name = deployment["metadata"]["name"].removeprefix("iko-")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert env.get("IKO_OPS_PORT") == str(ports["ops"]), "the ops port the process listens on is the one named"
    urls = {"ops": stack.ops_urls[f"{name}-0"], "http": stack.gateway_url}
    async with httpx.AsyncClient(timeout=5) as client:
        for probe in PROBES:
            get = container[probe]["httpGet"]
            response = await client.get(urls[get["port"]] + get["path"])
            assert response.status_code == 200, f"{name} {probe} {get['path']}: {response.status_code} {response.text}"
