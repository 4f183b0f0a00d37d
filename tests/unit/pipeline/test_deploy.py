"""The deployment files stay true to the code, and render to manifests a cluster accepts.

Both overlays (``deploy/kubernetes/overlays/{sandbox,production}``) are rendered with ``kubectl kustomize``; the
built-in kinds are validated with kubernetes-validate, the custom resources (KEDA, the RabbitMQ, Redis and
PostgreSQL operators) with jsonschema against their CRDs in ``deploy/kubernetes/crds/``. Without kubectl the
rendering tests skip (it cannot be installed offline); the file checks run anyway.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from iko_assembler.app import AssemblerSettings
from iko_audit.settings import AuditSettings, DatabaseNames
from iko_gateway.auth import AuthSettings
from iko_gateway.settings import GatewaySettings
from iko_shared.connector import ConnectorSettings
from iko_shared.sources import load_object, registered_sources
from iko_shared.topology import Topology

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
CRDS = KUBERNETES / "crds"
OVERLAYS = ("sandbox", "production")
# A version kubernetes-validate ships schemas for; strict: unknown fields are errors.
KUBERNETES_VERSION = "1.33.0"
OPS_PORT = 9464
# scheme://user:password@ or scheme://user@: amqp://iko:iko@rabbitmq, postgresql://iko_writer@...
CREDENTIALS_IN_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s@]+@")
IKO_COMPONENTS = {"gateway", "assembler", "audit", "connector"}
# Worker processes (no public API): probes on port ops.
WORKER_COMPONENTS = {"assembler", "audit", "connector"}


def env_names(settings: type, prefix: str) -> set[str]:
    return {f"{prefix}{name}".upper() for name in settings.model_fields}


def source_settings_names() -> set[str]:
    names: set[str] = set()
    for entry in registered_sources():
        settings = load_object(entry.settings_class)
        names |= env_names(settings, settings.model_config["env_prefix"])
    return names


# The ops port's setting, being added to the services with the ops endpoints (metrics, /livez, /readyz); named
# here until a settings class declares it.
PENDING_SETTINGS = {"IKO_OPS_PORT"}

KNOWN_SETTINGS = (
    env_names(GatewaySettings, "IKO_")
    | env_names(AssemblerSettings, "IKO_")
    | env_names(AuditSettings, "IKO_")
    | env_names(ConnectorSettings, "IKO_")
    | env_names(AuthSettings, "IKO_AUTH_")
    | source_settings_names()
    | {"IKO_SECRETS_DIR", "IKO_DEV_MODE", "IKO_DEV_API_KEY"}
    | PENDING_SETTINGS
)


# -- rendering -------------------------------------------------------------------------------------------------


@functools.cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the overlays cannot be rendered (kubectl kustomize)")
    result = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize overlays/{overlay} fails:\n{result.stderr}"
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def of_kind(overlay: str, kind: str) -> list[dict[str, Any]]:
    return [d for d in rendered(overlay) if d["kind"] == kind]


def named(overlay: str, kind: str, name: str) -> dict[str, Any]:
    [document] = [d for d in of_kind(overlay, kind) if d["metadata"]["name"] == name]
    return document


def component(document: dict[str, Any]) -> str | None:
    return document["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")


def iko_deployments(overlay: str) -> list[dict[str, Any]]:
    return [d for d in of_kind(overlay, "Deployment") if component(d) in IKO_COMPONENTS]


def pod(document: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = document["spec"]["template"]["spec"]
    return spec


def containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod(document).get("initContainers", []), *pod(document)["containers"]]


def connector_name(entry_name: str) -> str:
    return f"iko-{entry_name}-connector"


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the openAPIV3Schema of every served version of every CRD in deploy/kubernetes/crds."""
    schemas = {}
    for path in sorted(CRDS.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not crd:
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served", True):
                    schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def is_custom(document: dict[str, Any]) -> bool:
    group = document["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


# -- the files -------------------------------------------------------------------------------------------------


def test_the_generated_files_are_current():
    from tools.render_deploy import render, stale_profiles

    stale = [str(path) for path, content in render().items() if not path.exists() or path.read_text() != content]
    assert stale == [], f"stale: run make deploy-manifests ({stale})"
    assert stale_profiles() == [], "base/profiles/ holds a profile deploy/config/profiles/ no longer has"


def test_the_crds_are_for_validation_only_and_cover_every_custom_kind():
    # Not a kustomize resource anywhere: the operators install their own CRDs.
    for kustomization in KUBERNETES.rglob("kustomization.yaml"):
        assert "crds" not in kustomization.read_text(encoding="utf-8"), f"{kustomization} names the CRDs"
    kinds = {kind for (_, kind) in crd_schemas()}
    assert kinds == {"ScaledObject", "TriggerAuthentication", "RabbitmqCluster", "RedisReplication"} | {
        "RedisSentinel",
        "Cluster",
    }
    assert (CRDS / "README.md").exists()


def test_secret_example_names_settings_the_code_reads():
    secrets = {d["metadata"]["name"]: d for d in yaml.safe_load_all((KUBERNETES / "secret.example.yaml").read_text())}
    for name in ("iko-broker", "iko-audit-database"):
        assert set(secrets[name]["stringData"]) <= KNOWN_SETTINGS, name
    assert {key.upper() for key in secrets["iko-source-secrets"]["stringData"]} <= KNOWN_SETTINGS
    assert set(secrets["iko-broker"]["stringData"]) == {"IKO_RABBITMQ_URL", "IKO_REDIS_URL"}
    assert set(secrets["iko-rabbitmq-management"]["stringData"]) == {"host"}


def test_dockerfile_installs_from_the_hashed_lock_and_every_package():
    dockerfile = (DEPLOY / "container" / "Dockerfile").read_text()
    assert "uv pip sync --python /opt/iko/bin/python requirements.lock" in dockerfile
    for package in ("shared", "services/*/", "sandbox"):
        assert f"./{package}" in dockerfile


def test_source_secrets_are_read_from_mounted_files(tmp_path, monkeypatch):
    from iko_brp_connector.source import BrpSettings
    from iko_shared.connector import load_source_settings

    (tmp_path / "iko_brp_api_key").write_text("from-a-file")
    monkeypatch.setenv("IKO_SECRETS_DIR", str(tmp_path))
    monkeypatch.delenv("IKO_BRP_API_KEY", raising=False)
    settings = load_source_settings(BrpSettings)
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "from-a-file"


# -- both overlays ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_builtin_kinds_pass_kubernetes_validate(overlay):
    builtin = [d for d in rendered(overlay) if not is_custom(d)]
    assert builtin
    for document in builtin:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_match_their_crds(overlay):
    schemas = crd_schemas()
    for document in filter(is_custom, rendered(overlay)):
        key = (document["apiVersion"], document["kind"])
        assert key in schemas, f"no CRD in deploy/kubernetes/crds for {key}"
        errors = [e.message for e in jsonschema.Draft7Validator(schemas[key]).iter_errors(document)]
        assert errors == [], f"{document['kind']} {document['metadata']['name']}: {errors}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_a_deployment_running_an_existing_module(overlay):
    modules = {}
    for deployment in iko_deployments(overlay):
        [container] = pod(deployment)["containers"]
        command = container["command"]
        assert command[:2] == ["python", "-m"]
        assert importlib.util.find_spec(command[2]) is not None, f"{command[2]} is not an installed module"
        modules[deployment["metadata"]["name"]] = command[2]
    connectors = {entry.connector_module for entry in registered_sources()}
    assert sorted(modules.values()) == sorted({"iko_gateway", "iko_assembler", "iko_audit", *connectors})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_probes_resources_a_grace_period_and_runs_locked_down(overlay):
    for deployment in of_kind(overlay, "Deployment"):
        name = deployment["metadata"]["name"]
        spec = pod(deployment)
        assert spec["terminationGracePeriodSeconds"] > 30, name
        for container in spec["containers"]:
            assert "livenessProbe" in container, name
            assert "readinessProbe" in container, name
            if component(deployment) in IKO_COMPONENTS:
                assert container["startupProbe"]["httpGet"] == container["livenessProbe"]["httpGet"], name
        for container in containers(deployment):
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert {"cpu", "memory"} <= set(resources["limits"]), name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        if component(deployment) == "sandbox-backing-service":
            continue  # the sandbox's RabbitMQ, Redis and PostgreSQL run as their images' own users
        assert spec["securityContext"]["runAsUser"] == 10001, name
        for container in containers(deployment):
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in spec["volumes"], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_process_serves_ops_on_9464_and_is_annotated_for_scraping(overlay):
    for deployment in iko_deployments(overlay):
        name = deployment["metadata"]["name"]
        [container] = pod(deployment)["containers"]
        assert {"name": "ops", "containerPort": OPS_PORT} in container["ports"], name
        assert {"name": "IKO_OPS_PORT", "value": str(OPS_PORT)} in container["env"], name
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(OPS_PORT)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_probe_livez_and_readyz_on_ops_the_gateway_on_http(overlay):
    for deployment in iko_deployments(overlay):
        [container] = pod(deployment)["containers"]
        live, ready = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
        if component(deployment) in WORKER_COMPONENTS:
            assert live == {"path": "/livez", "port": "ops"}
            assert ready == {"path": "/readyz", "port": "ops"}
        else:
            assert live == {"path": "/healthz", "port": "http"}
            assert ready == {"path": "/readyz", "port": "http"}
            assert {"name": "http", "containerPort": 8080} in container["ports"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grace_periods_exceed_the_graceful_shutdown(overlay):
    for deployment in iko_deployments(overlay):
        expected = 60 if component(deployment) == "gateway" else 45
        assert pod(deployment)["terminationGracePeriodSeconds"] == expected, deployment["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_connector_scales_on_its_own_queue_with_keda(overlay):
    topology = Topology(namespace="iko")
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for d in of_kind(overlay, "ScaledObject")}
    assert set(scaled) == {connector_name(entry.name) for entry in registered_sources()}
    for entry in registered_sources():
        spec = scaled[connector_name(entry.name)]["spec"]
        assert spec["minReplicaCount"] >= 1, "a lookup cannot wait for a cold start"
        assert spec["maxReplicaCount"] >= spec["minReplicaCount"]
        [trigger] = spec["triggers"]
        assert trigger["type"] == "rabbitmq"
        assert trigger["metadata"]["queueName"] == topology.connector_queue(entry.name).name
        assert trigger["metadata"]["protocol"] == "http", "AMQP would not count unacknowledged messages"
        assert trigger["metadata"]["mode"] == "QueueLength"
        assert int(trigger["metadata"]["value"]) > 0
        assert trigger["authenticationRef"]["name"] == "iko-rabbitmq"
        # KEDA owns the count: a replicas: in the Deployment would reset it on every apply.
        assert "replicas" not in named(overlay, "Deployment", connector_name(entry.name))["spec"]
    [auth] = of_kind(overlay, "TriggerAuthentication")
    assert auth["metadata"]["name"] == "iko-rabbitmq"
    assert auth["spec"]["secretTargetRef"] == [{"parameter": "host", "name": "iko-rabbitmq-management", "key": "host"}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_scales_on_cpu_the_assembler_runs_two(overlay):
    [hpa] = of_kind(overlay, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "iko-gateway"}
    assert hpa["spec"]["minReplicas"] >= 2
    [metric] = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource"
    assert metric["resource"]["name"] == "cpu"
    assert "replicas" not in named(overlay, "Deployment", "iko-gateway")["spec"]
    assert named(overlay, "Deployment", "iko-assembler")["spec"]["replicas"] >= 2


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_iko_deployment_has_a_disruption_budget_that_lets_a_node_drain(overlay):
    budgets = {
        d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]: d["spec"]
        for d in of_kind(overlay, "PodDisruptionBudget")
    }
    hpa_min = {
        h["spec"]["scaleTargetRef"]["name"]: h["spec"]["minReplicas"]
        for h in of_kind(overlay, "HorizontalPodAutoscaler")
    }
    for deployment in iko_deployments(overlay):
        name = deployment["metadata"]["name"]
        assert name in budgets, f"{name} has no PodDisruptionBudget"
        replicas = deployment["spec"].get("replicas", hpa_min.get(name, 1))
        budget = budgets[name]
        if "minAvailable" in budget:
            # minAvailable must leave a pod to evict, or the drain hangs.
            assert budget["minAvailable"] < replicas, name
        else:
            assert budget["maxUnavailable"] == 1, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_service_exposes_http_only(overlay):
    service = named(overlay, "Service", "iko-gateway")
    ports = service["spec"]["ports"]
    assert [p["targetPort"] for p in ports] == ["http"]
    assert all(p["name"] != "ops" and p.get("targetPort") != OPS_PORT for p in ports)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_admit_outside_traffic_to_the_gateway_http_port_only(overlay):
    policies = {d["metadata"]["name"]: d["spec"] for d in of_kind(overlay, "NetworkPolicy")}
    # Traffic from anywhere: only the gateway's http port.
    open_rules = [
        (spec["podSelector"], rule["ports"])
        for spec in policies.values()
        for rule in spec.get("ingress", [])
        if "from" not in rule
    ]
    assert open_rules == [
        ({"matchLabels": {"app.kubernetes.io/name": "iko-gateway"}}, [{"protocol": "TCP", "port": "http"}])
    ]
    # Other namespaces: the monitoring namespace, on port ops only.
    for spec in policies.values():
        assert spec["policyTypes"] == ["Ingress"], "egress stays open"
        for rule in spec.get("ingress", []):
            for peer in rule.get("from", []):
                if "namespaceSelector" in peer:
                    assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
                    assert rule["ports"] == [{"protocol": "TCP", "port": "ops"}]
                else:
                    assert peer == {"podSelector": {}}, "in-namespace peers only"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_configmap_carries_a_credential(overlay):
    for configmap in of_kind(overlay, "ConfigMap"):
        for key, value in configmap.get("data", {}).items():
            text = str(value)
            where = (configmap["metadata"]["name"], key)
            assert "password" not in key.lower(), where
            assert "password" not in text.lower(), where
            assert CREDENTIALS_IN_URL.search(text) is None, (*where, "a URL with credentials")
    settings = named(overlay, "ConfigMap", "iko-settings")["data"]
    assert "IKO_RABBITMQ_URL" not in settings
    assert "IKO_REDIS_URL" not in settings


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_are_ones_the_code_reads_and_the_broker_comes_from_a_secret(overlay):
    unknown = set(named(overlay, "ConfigMap", "iko-settings")["data"]) - KNOWN_SETTINGS
    assert unknown == set(), f"the ConfigMap sets variables no service reads: {unknown}"
    for deployment in iko_deployments(overlay):
        for container in containers(deployment):
            assert {e["name"] for e in container.get("env", [])} <= KNOWN_SETTINGS
            assert {"secretRef": {"name": "iko-broker"}} in container["envFrom"], deployment["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_connector_has_a_base_url_and_only_connectors_get_source_secrets(overlay):
    settings = named(overlay, "ConfigMap", "iko-settings")["data"]
    for entry in registered_sources():
        prefix = load_object(entry.settings_class).model_config["env_prefix"]
        assert f"{prefix}BASE_URL" in settings, entry.name
    for deployment in iko_deployments(overlay):
        secrets = {v["secret"]["secretName"] for v in pod(deployment).get("volumes", []) if "secret" in v}
        assert ("iko-source-secrets" in secrets) == (component(deployment) == "connector"), deployment["metadata"][
            "name"
        ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_profiles_configmap_holds_every_shipped_profile_and_the_gateway_reads_it(overlay):
    [profiles] = [c for c in of_kind(overlay, "ConfigMap") if c["metadata"]["name"].startswith("iko-profiles-")]
    shipped = {p.name: p.read_text(encoding="utf-8") for p in (DEPLOY / "config" / "profiles").glob("*.yaml")}
    assert profiles["data"] == shipped
    gateway = named(overlay, "Deployment", "iko-gateway")
    assert {"name": "profiles", "configMap": {"name": profiles["metadata"]["name"]}} in pod(gateway)["volumes"]
    [container] = pod(gateway)["containers"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "profiles")
    assert {"name": "IKO_PROFILES_DIR", "value": mount["mountPath"]} in container["env"]
    assert {"name": "IKO_GATEWAY_HOST", "value": "0.0.0.0"} in container["env"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_audit_purge_runs_as_a_cronjob_one_at_a_time(overlay):
    [cronjob] = of_kind(overlay, "CronJob")
    [container] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "iko_audit", "purge"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"


# -- production ------------------------------------------------------------------------------------------------


def test_production_runs_rabbitmq_redis_and_postgresql_through_operators():
    overlay = "production"
    assert of_kind(overlay, "StatefulSet") == [], "no hand-written broker, Redis or database"
    backing = {"rabbitmq", "redis", "postgres"}
    assert [d["metadata"]["name"] for d in of_kind(overlay, "Deployment") if d["metadata"]["name"] in backing] == []
    [rabbitmq] = of_kind(overlay, "RabbitmqCluster")
    assert rabbitmq["apiVersion"] == "rabbitmq.com/v1beta1"
    assert rabbitmq["metadata"]["name"] == "rabbitmq"
    assert rabbitmq["spec"]["replicas"] == 3, "quorum queues need a majority"
    assert "rabbitmq_prometheus" in rabbitmq["spec"]["rabbitmq"]["additionalPlugins"]
    [replication] = of_kind(overlay, "RedisReplication")
    [sentinel] = of_kind(overlay, "RedisSentinel")
    assert replication["apiVersion"] == sentinel["apiVersion"] == "redis.redis.opstreelabs.in/v1beta2"
    assert sentinel["spec"]["redisSentinelConfig"]["redisReplicationName"] == replication["metadata"]["name"]
    assert replication["spec"]["clusterSize"] >= 3
    assert sentinel["spec"]["clusterSize"] >= 3
    [database] = of_kind(overlay, "Cluster")
    assert database["apiVersion"] == "postgresql.cnpg.io/v1"
    assert database["spec"]["instances"] == 3
    names = DatabaseNames.of(named(overlay, "ConfigMap", "iko-settings")["data"]["IKO_NAMESPACE"])
    assert database["spec"]["bootstrap"]["initdb"]["database"] == names.database
    assert database["spec"]["bootstrap"]["initdb"]["owner"] == names.owner
    assert {r["name"] for r in database["spec"]["managed"]["roles"]} == {names.writer, names.purger}


def test_production_generates_no_secret():
    # Credentials are the operator's to create (secret.example.yaml shows them), never rendered from the repo.
    assert of_kind("production", "Secret") == []


# -- sandbox ---------------------------------------------------------------------------------------------------


def test_the_sandbox_runs_every_simulator_and_points_the_connectors_at_them():
    overlay = "sandbox"
    settings = named(overlay, "ConfigMap", "iko-settings")["data"]
    for entry in registered_sources():
        name = f"iko-{entry.name}-simulator"
        [container] = pod(named(overlay, "Deployment", name))["containers"]
        port = str(entry.simulator_port)
        assert container["command"] == ["python", "-m", "iko_sandbox", entry.name, "--host", "0.0.0.0", "--port", port]
        service = named(overlay, "Service", name)
        assert service["spec"]["ports"][0]["port"] == entry.simulator_port
        prefix = load_object(entry.settings_class).model_config["env_prefix"]
        assert settings[f"{prefix}BASE_URL"] == f"http://{name}:{entry.simulator_port}"


def test_the_sandbox_brings_its_own_broker_redis_and_database():
    overlay = "sandbox"
    for name in ("rabbitmq", "redis", "postgres"):
        named(overlay, "Deployment", name)
        named(overlay, "Service", name)
    secrets = {s["metadata"]["name"] for s in of_kind(overlay, "Secret")}
    assert {"iko-broker", "iko-rabbitmq-management", "iko-source-secrets", "iko-audit-database"} <= secrets
