"""The monitoring component: promtool checks and unit-tests the alerts, the PrometheusRule carries the same
rules, every alert has a runbook section, and alerts and dashboard use only metrics the code exports.

`.venv/bin/python tests/deploy/test_alerts.py --write-prometheusrule` rewrites prometheusrule.yaml from
alerts.rules.yaml.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]
if __name__ == "__main__":  # run as a script: make `tests` importable
    sys.path.insert(0, str(ROOT))

from tests.unit.test_metrics_catalogue import exported_series_names  # noqa: E402

pytestmark = pytest.mark.unit
K8S = ROOT / "deploy" / "k8s"
MONITORING = K8S / "components" / "monitoring"
RULES = MONITORING / "alerts.rules.yaml"
RULE_TESTS = MONITORING / "alerts.test.yaml"
PROMETHEUS_RULE = MONITORING / "prometheusrule.yaml"
DASHBOARD = MONITORING / "dashboard.json"
RUNBOOK = ROOT / "docs" / "runbook.md"
REQUIRED = os.environ.get("VODKIT_REQUIRE_SERVERS") == "1"
# series Prometheus makes itself, not the code
PROMETHEUS_OWN = {"up"}
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}
HEADER = """# The groups of alerts.rules.yaml for the Prometheus Operator, copied exactly (tests/deploy/test_alerts.py
# compares them): edit alerts.rules.yaml, then regenerate this file with
#   .venv/bin/python tests/deploy/test_alerts.py --write-prometheusrule
# Your Prometheus's ruleSelector may want a label of its own (kube-prometheus-stack: `release: <name>`).
"""


def tool(name: str, package: str, how: str) -> str:
    found = shutil.which(name)
    if found is None:
        if REQUIRED:
            pytest.fail(f"{name} is not installed and VODKIT_REQUIRE_SERVERS=1 ({how})")
        pytest.skip(f"{name} is not installed ({how}); Debian's package: {package}")
    return found


def promtool() -> str:
    return tool("promtool", "prometheus", "scripts/ensure-promtool installs it")


def rules() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(RULES.read_text())
    return loaded


def alerts() -> list[dict[str, Any]]:
    return [rule for group in rules()["groups"] for rule in group["rules"] if "alert" in rule]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not its functions, keywords, labels or durations)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings, in label matchers and functions
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges and subqueries
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if expr[match.end() :].lstrip().startswith("(") or match.group().lower() in KEYWORDS:
            continue  # a function or aggregation, or a keyword
        names.add(match.group())
    return names


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def write_prometheus_rule() -> None:
    doc = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "vodkit-alerts", "labels": {"app.kubernetes.io/part-of": "vodkit"}},
        "spec": rules(),
    }
    PROMETHEUS_RULE.write_text(HEADER + yaml.safe_dump(doc, sort_keys=False, width=200, allow_unicode=True))


def test_promtool_checks_the_rules() -> None:
    result = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_the_alerts_unit_tests_pass() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name], cwd=MONITORING, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    cases = [case for test in yaml.safe_load(RULE_TESTS.read_text())["tests"] for case in test["alert_rule_test"]]
    for alert in alerts():
        name = alert["alert"]
        of_it = [case for case in cases if case["alertname"] == name]
        assert any(case.get("exp_alerts") for case in of_it), f"{name}: no test sees it fire"
        assert any(not case.get("exp_alerts") for case in of_it), f"{name}: no test sees it stay quiet"


def test_the_prometheus_rule_carries_exactly_the_rules_file() -> None:
    rule = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["spec"] == rules(), (
        "prometheusrule.yaml is stale: run tests/deploy/test_alerts.py --write-prometheusrule"
    )


def test_every_alert_has_a_runbook_section_saying_what_how_and_what_to_do() -> None:
    sections = re.split(r"^## ", RUNBOOK.read_text(), flags=re.MULTILINE)[1:]
    by_anchor = {section.splitlines()[0].strip().lower(): section for section in sections}
    for alert in alerts():
        url = alert["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "docs/runbook.md", url
        assert anchor == alert["alert"].lower(), url
        assert anchor in by_anchor, f"docs/runbook.md has no section {alert['alert']}"
        for part in ("**What it means.**", "**How to check.**", "**What to do.**"):
            assert part in by_anchor[anchor], f"{alert['alert']}: the runbook lacks {part}"
        assert {"severity", "summary", "description"} <= {*alert["labels"], *alert["annotations"]}


def test_alerts_and_dashboard_use_only_metrics_the_code_exports() -> None:
    exported = exported_series_names() | PROMETHEUS_OWN
    used = {name: expr for expr in [a["expr"] for a in alerts()] + dashboard_exprs() for name in metric_names(expr)}
    unknown = {name: expr for name, expr in used.items() if name not in exported}
    assert not unknown, f"not exported by the code: {unknown}"
    assert len(used) > 25  # the dashboard covers the catalogue, not a handful of figures


def test_the_expression_parser_finds_metric_names_and_only_them() -> None:
    expr = (
        'sum by (service, type) (increase(vodkit_a_total{outcome="dead-letter", x=~"a|b"}[15m])) > 0 '
        "or on () absent(vodkit_b) and histogram_quantile(0.95, sum by (le) (rate(vodkit_c_bucket[1h]))) "
        "> 0.9 * 1e9 unless vodkit_d offset 30m"
    )
    assert metric_names(expr) == {"vodkit_a_total", "vodkit_b", "vodkit_c_bucket", "vodkit_d"}


def test_the_scratch_alert_knows_the_transcoders_emptydir_limit() -> None:
    services = [doc for doc in yaml.safe_load_all((K8S / "base" / "services.yaml").read_text()) if doc]
    transcoder = next(d for d in services if d["kind"] == "Deployment" and d["metadata"]["name"] == "transcoder")
    volumes = {v["name"]: v for v in transcoder["spec"]["template"]["spec"]["volumes"]}
    limit = volumes["scratch"]["emptyDir"]["sizeLimit"]
    gibibytes = re.fullmatch(r"(\d+)Gi", limit)
    assert gibibytes, limit
    scratch = next(a for a in alerts() if a["alert"] == "VodkitScratchSpaceLow")
    assert f"> 0.9 * {gibibytes[1]} * 1024 * 1024 * 1024" in scratch["expr"]


def test_the_component_renders_the_scrape_config_the_rules_and_the_dashboard(tmp_path: Path) -> None:
    kubectl = tool("kubectl", "kubectl", "the Kubernetes tests need it too")
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("*.env"))
    for example in copy.glob("overlays/*/secrets/*.env.example"):
        shutil.copy(example, example.with_suffix(""))
    overlay = copy / "overlays" / "monitored"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: vodkit\nresources: [../prod]\n"
        "components: [../../components/monitoring]\n"
    )
    result = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    by_kind = {o["kind"]: o for o in objects if o["apiVersion"] == "monitoring.coreos.com/v1"}
    assert by_kind["PrometheusRule"]["spec"] == rules()
    monitor = by_kind["PodMonitor"]
    assert monitor["metadata"]["namespace"] == "vodkit"
    assert monitor["spec"]["podMetricsEndpoints"] == [{"interval": "15s", "path": "/metrics", "port": "http"}]
    selected = set(monitor["spec"]["selector"]["matchExpressions"][0]["values"])
    workloads = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    assert selected == workloads
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
        assert any(port["name"] == "http" for port in ports), deployment["metadata"]["name"]
    dashboards = [
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("vodkit-dashboard")
    ]
    assert len(dashboards) == 1
    assert dashboards[0]["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboards[0]["data"]["vodkit.json"]) == json.loads(DASHBOARD.read_text())


if __name__ == "__main__" and sys.argv[1:] == ["--write-prometheusrule"]:
    write_prometheus_rule()
