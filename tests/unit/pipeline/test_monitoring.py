"""The monitoring artifacts use only series that exist: the dashboard and the alert rules against series.txt.

``deploy/monitoring/series.txt`` is the one list of what IKO's services and RabbitMQ's Prometheus plugin export
(name and labels). Every series, and every label matched or grouped by, in ``alerts.yaml`` and
``dashboard.json`` must be in it; promtool checks the rules, runs their unit tests (``alerts.test.yaml``) and
parses every dashboard query. Without promtool (Debian's ``prometheus`` package) those checks skip.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from iko_shared.sources import registered_sources
from iko_shared.topology import Topology

MONITORING = Path(__file__).resolve().parents[3] / "deploy" / "monitoring"
ALERTS = MONITORING / "alerts.yaml"
DASHBOARD = MONITORING / "dashboard.json"
SERIES = MONITORING / "series.txt"
REQUIRED_ALERTS = {
    "IkoSourceErrorRatioHigh",
    "IkoDeadLetters",
    "IkoConnectorQueueWithoutConsumers",
    "IkoAuditQueueGrowing",
}
# What Grafana substitutes before a query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$namespace": "iko", "$profile": ".*", "$source": ".*"}

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless"}
PROMQL_WORDS |= {"offset", "inf", "nan"}
STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


@functools.cache
def exported() -> dict[str, frozenset[str]]:
    """series.txt: name -> its labels."""
    series = {}
    for line in SERIES.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, labels = line.partition(" ")
        assert name not in series, f"{name} is listed twice"
        series[name] = frozenset(label for label in labels.strip().split(",") if label)
    return series


def metric_names(expr: str) -> set[str]:
    """The series an expression selects (functions, keywords, label names and strings left out)."""
    text = STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = GROUPING.sub(" ", text)
    text = re.sub(r"\b(?:on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    names = set()
    for match in IDENTIFIER.finditer(text):
        word = match.group(0)
        following = text[match.end() :].lstrip()
        if word.lower() in PROMQL_WORDS or following.startswith("("):
            continue  # a keyword or a function
        if re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names


def label_uses(expr: str) -> tuple[dict[str, set[str]], set[str]]:
    """Labels matched per series, and labels grouped by (in by/without clauses)."""
    matched: dict[str, set[str]] = {}
    for name, body in SELECTOR.findall(expr):
        matched.setdefault(name, set()).update(MATCHER.findall(body))
    grouped = {label.strip() for clause in GROUPING.findall(expr) for label in clause.split(",") if label.strip()}
    return matched, grouped


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def rule_expressions() -> list[tuple[str, str]]:
    return [(rule.get("alert") or rule["record"], rule["expr"]) for rule in rules()]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels() -> list[dict[str, Any]]:
    found = []
    for panel in dashboard()["panels"]:
        found.append(panel)
        found += panel.get("panels", [])
    return found


def dashboard_expressions() -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in panels() for target in panel.get("targets", [])]


def substituted(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def check_series(where: str, expressions: list[tuple[str, str]]) -> None:
    series = exported()
    assert expressions, f"{where} has no queries"
    for title, expr in expressions:
        names = metric_names(expr)
        assert names, f"{where} {title!r}: no series found in {expr!r}"
        unknown = names - set(series)
        assert unknown == set(), f"{where} {title!r} uses series no service or the broker exports: {unknown}"
        matched, grouped = label_uses(expr)
        for name, labels in matched.items():
            assert labels <= series[name], f"{where} {title!r}: {name} has no label {labels - series[name]}"
        available = set().union(*(series[name] for name in names))
        assert grouped <= available, f"{where} {title!r} groups by labels none of its series has: {grouped - available}"


def test_the_series_list_parses():
    series = exported()
    assert "iko_lookups_total" in series
    assert series["iko_lookups_total"] == {"profile", "outcome"}
    assert series["rabbitmq_queue_messages_ready"] >= {"queue"}


def test_the_series_extraction_tells_series_from_functions_and_labels():
    expr = (
        "histogram_quantile(0.95, sum by (source, le)"
        ' (rate(iko_source_fetch_duration_seconds_bucket{source=~"a|b"}[5m])))'
    )
    assert metric_names(expr) == {"iko_source_fetch_duration_seconds_bucket"}
    assert label_uses(expr) == ({"iko_source_fetch_duration_seconds_bucket": {"source"}}, {"source", "le"})


def test_every_series_the_alert_rules_use_is_exported():
    check_series("alerts.yaml", rule_expressions())


def test_every_series_the_dashboard_uses_is_exported():
    check_series("dashboard.json", [(title, substituted(expr)) for title, expr in dashboard_expressions()])


def test_the_alerts_issue_13_asks_for_are_there_with_severity_and_summary():
    alerts = {rule["alert"]: rule for rule in rules() if "alert" in rule}
    assert set(alerts) >= REQUIRED_ALERTS
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name
    assert alerts["IkoSourceErrorRatioHigh"]["for"] == "5m"
    assert alerts["IkoAuditQueueGrowing"]["for"] == "10m"


def queue_regex(alert: str) -> re.Pattern[str]:
    [rule] = [r for r in rules() if r.get("alert") == alert]
    [pattern] = set(re.findall(r'queue=~"((?:[^"\\]|\\.)*)"', rule["expr"]))
    # PromQL string escapes (\\ -> \), then RE2, anchored as PromQL anchors it.
    return re.compile(pattern.encode().decode("unicode_escape"))


def test_the_alerts_queue_patterns_match_the_topologys_queues():
    topology = Topology(namespace="iko")
    connector_queues = [topology.connector_queue(entry.name) for entry in registered_sources()]
    work_queues = [*connector_queues, topology.assembler_requests, topology.assembler_fragments]
    dead = [topology.dead_letter_queue(queue).name for queue in work_queues]

    dead_letters = queue_regex("IkoDeadLetters")
    assert all(dead_letters.fullmatch(name) for name in dead)
    assert not any(dead_letters.fullmatch(queue.name) for queue in work_queues)

    no_consumers = queue_regex("IkoConnectorQueueWithoutConsumers")
    assert all(no_consumers.fullmatch(queue.name) for queue in connector_queues)
    assert not any(no_consumers.fullmatch(name) for name in dead)

    assembler = queue_regex("IkoAssemblerQueueWithoutConsumers")
    assert assembler.fullmatch(topology.assembler_requests.name)
    assert assembler.fullmatch(topology.assembler_fragments.name)

    audit = queue_regex("IkoAuditQueueGrowing")
    assert audit.fullmatch(topology.audit_queue.name)
    assert not audit.fullmatch(topology.audit_inzage.name)


def test_the_dashboard_is_importable():
    board = dashboard()
    assert board["uid"]
    assert board["title"]
    ids = [panel["id"] for panel in panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels():
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]
    variables = {v["name"] for v in board["templating"]["list"]}
    used = {v.lstrip("$") for _, expr in dashboard_expressions() for v in re.findall(r"\$\w+", expr)}
    assert used - {"__rate_interval"} <= variables


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120, check=False)


def test_promtool_checks_the_alert_rules():
    result = run_promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rules_pass_their_promtool_unit_tests():
    result = run_promtool("test", "rules", str(MONITORING / "alerts.test.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_dashboard_query_is_valid_promql(tmp_path):
    # promtool parses PromQL only in rule files: each query becomes a recording rule.
    recorded = [
        {"record": f"dashboard:query_{index}", "expr": substituted(expr)}
        for index, (_, expr) in enumerate(dashboard_expressions())
    ]
    rule_file = tmp_path / "dashboard-queries.yaml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}), encoding="utf-8")
    result = run_promtool("check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr


SAMPLE_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def test_every_iko_series_in_the_list_is_one_the_services_registry_exports():
    # The services' metric objects live in one registry; the broker's series are RabbitMQ's, not checked here.
    metrics = pytest.importorskip("iko_shared.ops.metrics", reason="the services' metrics module is not installed")
    registered = {
        family.name + suffix
        for family in metrics.REGISTRY.collect()
        for suffix in SAMPLE_SUFFIXES.get(family.type, ("",))
    }
    listed = {name for name in exported() if name.startswith("iko_")}
    assert listed <= registered, f"series.txt lists series no service exports: {listed - registered}"
