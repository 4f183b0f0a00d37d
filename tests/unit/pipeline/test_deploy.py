"""The deployment files stay true to the code: modules that exist, settings that are read, files that are there."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
from iko_assembler.app import AssemblerSettings
from iko_audit.settings import AuditSettings
from iko_brp_connector.source import BrpSettings
from iko_gateway.auth import AuthSettings
from iko_gateway.settings import GatewaySettings
from iko_kvk_connector.source import KvkSettings
from iko_shared.connector import ConnectorSettings
from iko_shared.sources import registered_sources
from iko_zgw_connector.source import ZgwSettings

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
KUBERNETES = DEPLOY / "kubernetes"


def env_names(settings: type, prefix: str) -> set[str]:
    return {f"{prefix}{name}".upper() for name in settings.model_fields}


KNOWN_SETTINGS = (
    env_names(GatewaySettings, "IKO_")
    | env_names(AssemblerSettings, "IKO_")
    | env_names(AuditSettings, "IKO_")
    | env_names(ConnectorSettings, "IKO_")
    | env_names(BrpSettings, "IKO_BRP_")
    | env_names(KvkSettings, "IKO_KVK_")
    | env_names(ZgwSettings, "IKO_ZGW_")
    | env_names(AuthSettings, "IKO_AUTH_")
    | {"IKO_SECRETS_DIR", "IKO_DEV_MODE", "IKO_DEV_API_KEY"}
)


def documents() -> list[dict]:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    docs = []
    for resource in kustomization["resources"]:
        path = KUBERNETES / resource
        assert path.exists(), f"kustomization names {resource}, which is missing"
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for generator in kustomization.get("configMapGenerator", []):
        for file in generator["files"]:
            assert (KUBERNETES / file).exists()
    return docs


def deployments() -> list[dict]:
    return [d for d in documents() if d["kind"] == "Deployment"]


def test_every_service_has_a_deployment_running_an_existing_module():
    modules = {}
    for deployment in deployments():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        command = container["command"]
        assert command[:2] == ["python", "-m"]
        assert importlib.util.find_spec(command[2]) is not None, f"{command[2]} is not an installed module"
        modules[deployment["metadata"]["name"]] = command[2]
    connectors = {entry.connector_module for entry in registered_sources()}
    assert set(modules.values()) == {"iko_gateway", "iko_assembler", "iko_audit", *connectors}


def test_the_connector_deployments_are_rendered_from_the_registry_and_current():
    from tools.render_connectors import OUTPUT, render

    assert OUTPUT.read_text(encoding="utf-8") == render(), "stale: run make deploy-manifests"


def test_configmap_sets_only_settings_the_code_reads():
    [configmap] = [d for d in documents() if d["kind"] == "ConfigMap"]
    unknown = set(configmap["data"]) - KNOWN_SETTINGS
    assert unknown == set(), f"the ConfigMap sets variables no service reads: {unknown}"


def test_secret_example_names_settings_the_code_reads():
    secret = yaml.safe_load((KUBERNETES / "secret.example.yaml").read_text())
    assert {key.upper() for key in secret["stringData"]} <= KNOWN_SETTINGS


def test_the_audit_purge_runs_as_a_cronjob_one_at_a_time():
    [cronjob] = [d for d in documents() if d["kind"] == "CronJob"]
    [container] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "iko_audit", "purge"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"


@pytest.mark.parametrize("probe", ["livenessProbe", "readinessProbe"])
def test_gateway_probes_use_the_health_endpoints(probe):
    [gateway] = [d for d in deployments() if d["metadata"]["name"] == "iko-gateway"]
    [container] = gateway["spec"]["template"]["spec"]["containers"]
    assert container[probe]["httpGet"]["path"] in ("/healthz", "/readyz")


def test_dockerfile_installs_from_the_hashed_lock_and_every_package():
    dockerfile = (DEPLOY / "container" / "Dockerfile").read_text()
    assert "uv pip sync --python /opt/iko/bin/python requirements.lock" in dockerfile
    for package in ("shared", "services/*/", "sandbox"):
        assert f"./{package}" in dockerfile


def test_source_secrets_are_read_from_mounted_files(tmp_path, monkeypatch):
    from iko_shared.connector import load_source_settings

    (tmp_path / "iko_brp_api_key").write_text("from-a-file")
    monkeypatch.setenv("IKO_SECRETS_DIR", str(tmp_path))
    monkeypatch.delenv("IKO_BRP_API_KEY", raising=False)
    settings = load_source_settings(BrpSettings)
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "from-a-file"


def test_every_shipped_profile_is_in_the_kubernetes_profiles_configmap():
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    [generator] = [g for g in kustomization["configMapGenerator"] if g["name"] == "iko-profiles"]
    listed = {Path(f).name for f in generator["files"]}
    shipped = {p.name for p in (DEPLOY / "config" / "profiles").glob("*.yaml")}
    assert listed == shipped
