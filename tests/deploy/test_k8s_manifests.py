"""Every kustomize overlay renders, validates against the Kubernetes schema and meets vodkit's pod policy."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from vodkit_shared.events import RenditionReady
from vodkit_transcoder.backlog import JOBS_WAITING, OLDEST_WAITING

pytestmark = pytest.mark.unit
K8S = Path(__file__).parents[2] / "deploy" / "k8s"
OVERLAYS = ["dev", "prod", "gpu", "autoscaled"]
KEDA = "keda.sh/v1alpha1"  # custom resources: no Kubernetes schema; checked by test_autoscaling_*
KUBERNETES_VERSION = "1.32.0"
WORKLOADS = {"Deployment", "StatefulSet"}
INFRASTRUCTURE = {"rabbitmq", "minio", "mongodb"}
ADMIN_KEYS = {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD"}
ADMIN_SECRETS = {"minio-root", "mongodb-root", "rabbitmq", "minio-app", "mongodb-app"}
HARDENING = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        if os.environ.get("VODKIT_REQUIRE_SERVERS"):
            pytest.fail("kubectl is not installed and VODKIT_REQUIRE_SERVERS is set")
        pytest.skip("kubectl is not installed (set VODKIT_REQUIRE_SERVERS to make this a failure)")
    return found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Each overlay rendered from a copy whose secrets/*.env are the committed examples."""
    binary = kubectl()
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("*.env"))
    for example in copy.glob("overlays/*/secrets/*.env.example"):
        shutil.copy(example, example.with_suffix(""))
    out = {}
    for overlay in OVERLAYS:
        result = subprocess.run(
            [binary, "kustomize", str(copy / "overlays" / overlay)], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        out[overlay] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


def workloads(objects: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (o for o in objects if o["kind"] in WORKLOADS)


def is_vodkit(workload: dict[str, Any]) -> bool:
    return workload["metadata"]["name"] not in INFRASTRUCTURE


def policy_violations(workload: dict[str, Any], secrets: dict[str, dict[str, Any]]) -> list[str]:
    """What a vodkit Deployment or StatefulSet breaks of the pod policy (README.md, "Hardening")."""
    name = workload["metadata"]["name"]
    pod = workload["spec"]["template"]["spec"]
    problems = []
    for container in pod.get("containers", []):
        where = f"{name}/{container.get('name')}"
        context = container.get("securityContext", {})
        problems += [f"{where}: securityContext.{k} is not {v}" for k, v in HARDENING.items() if context.get(k) != v]
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            problems += [f"{where}: no {kind}.{r}" for r in ("cpu", "memory") if r not in resources.get(kind, {})]
        problems += [f"{where}: no {p}" for p in ("livenessProbe", "readinessProbe") if p not in container]
        problems += [f"{where}: gets {c}" for c in sorted(admin_credentials(container, secrets))]
    return problems


def admin_credentials(container: dict[str, Any], secrets: dict[str, dict[str, Any]]) -> set[str]:
    """Infrastructure root/admin credentials a container can read, by Secret name or key."""
    names = {e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e}
    refs = [
        e["valueFrom"]["secretKeyRef"] for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})
    ]
    names |= {ref["name"] for ref in refs}
    found = {n for n in names if base_name(n, secrets) in ADMIN_SECRETS}
    found |= {key for n in names for key in secrets.get(n, {}).get("data", {}) if key in ADMIN_KEYS}
    return found | {ref["key"] for ref in refs if ref["key"] in ADMIN_KEYS}


def base_name(name: str, secrets: dict[str, dict[str, Any]]) -> str:
    """A generated Secret's name without kustomize's hash suffix."""
    generated = secrets.get(name)
    return name.rsplit("-", 1)[0] if generated is not None and name not in ADMIN_SECRETS else name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_kubernetes(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    for obj in rendered[overlay]:
        if obj["apiVersion"] != KEDA:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_autoscaling_scales_on_what_the_services_export(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The transcoder's trigger names the backlog metrics its code exports; the packager's, its real queue."""
    objects = rendered["autoscaled"]
    scaled = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "ScaledObject"}
    deployments = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    assert {spec["scaleTargetRef"]["name"] for spec in scaled.values()} == {"transcoder", "packager"} <= deployments
    exported = {metric.describe()[0].name for metric in (JOBS_WAITING, OLDEST_WAITING)}
    queries = " ".join(t["metadata"]["query"] for t in scaled["transcoder"]["triggers"])
    assert all(name in queries for name in exported)
    config = next(o["data"] for o in objects if o["kind"] == "ConfigMap" and "VODKIT_BUS_EXCHANGE" in o["data"])
    (queue,) = [t["metadata"]["queueName"] for t in scaled["packager"]["triggers"]]
    assert queue == f"{config['VODKIT_BUS_EXCHANGE']}.packager.{RenditionReady.TYPE}"
    auth = next(o for o in objects if o["kind"] == "TriggerAuthentication")
    bus_secret = next(
        o["metadata"]["name"] for o in objects if o["kind"] == "Secret" and "VODKIT_BUS_URL" in o.get("data", {})
    )
    assert auth["spec"]["secretTargetRef"][0]["name"] == bus_secret  # the generated name, hash and all
    assert not any(o["apiVersion"] == KEDA for overlay in ("dev", "prod", "gpu") for o in rendered[overlay])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_vodkit_workload_meets_the_pod_policy(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    objects = rendered[overlay]
    secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    vodkit = [w for w in workloads(objects) if is_vodkit(w)]
    assert len(vodkit) >= 6
    assert [p for w in vodkit for p in policy_violations(w, secrets)] == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_comes_from_a_generator(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    committed = [
        p for p in K8S.rglob("*.yaml") for d in yaml.safe_load_all(p.read_text()) if d and d.get("kind") == "Secret"
    ]
    assert committed == []
    for secret in (o for o in rendered[overlay] if o["kind"] == "Secret"):
        name = secret["metadata"]["name"]
        assert name.rsplit("-", 1)[0] in ADMIN_SECRETS | {"vodkit-auth", "vodkit-bus", "vodkit-storage", "vodkit-db"}
        assert len(name.rsplit("-", 1)[1]) == 10, f"{name} has no generator hash"


def test_the_operators_secret_files_are_ignored() -> None:
    assert "overlays/*/secrets/*.env" in (K8S / ".gitignore").read_text().splitlines()


def test_only_dev_runs_infrastructure(rendered: dict[str, list[dict[str, Any]]]) -> None:
    names = {o: {w["metadata"]["name"] for w in workloads(rendered[o])} for o in OVERLAYS}
    assert names["dev"] >= INFRASTRUCTURE
    assert not names["prod"] & INFRASTRUCTURE
    assert not names["gpu"] & INFRASTRUCTURE


def test_mongodb_needs_a_login_in_dev(rendered: dict[str, list[dict[str, Any]]]) -> None:
    mongo = next(w for w in workloads(rendered["dev"]) if w["metadata"]["name"] == "mongodb")
    secret_names = [e["secretRef"]["name"] for e in mongo["spec"]["template"]["spec"]["containers"][0]["envFrom"]]
    secrets = {o["metadata"]["name"]: o for o in rendered["dev"] if o["kind"] == "Secret"}
    keys = {k for n in secret_names for k in secrets[n]["data"]}
    assert {"MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD"} <= keys


def test_cdn_purge_gets_only_the_bus(rendered: dict[str, list[dict[str, Any]]]) -> None:
    purge = next(w for w in workloads(rendered["prod"]) if w["metadata"]["name"] == "cdn-purge")
    refs = [
        e["secretRef"]["name"]
        for e in purge["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        if "secretRef" in e
    ]
    assert [r.rsplit("-", 1)[0] for r in refs] == ["vodkit-bus"]


def test_the_gpu_transcoder_runs_only_on_nvenc_gpus(rendered: dict[str, list[dict[str, Any]]]) -> None:
    gpu = next(w for w in workloads(rendered["gpu"]) if w["metadata"]["name"] == "transcoder-gpu")
    pod = gpu["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    (rule,) = term["matchExpressions"]
    assert (rule["key"], rule["operator"]) == ("nvidia.com/gpu.product", "In")
    assert {"Tesla-T4", "NVIDIA-L4"} <= set(rule["values"])
    assert not [v for v in rule["values"] if any(bad in v for bad in ("A100", "H100", "H200"))]
    assert pod["runtimeClassName"] == "nvidia"
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"name": "VODKIT_HWACCEL", "value": "nvenc"} in container["env"]
    assert any(w["metadata"]["name"] == "transcoder" for w in workloads(rendered["gpu"]))


def test_the_policy_catches_a_bad_workload() -> None:
    bad = {
        "kind": "Deployment",
        "metadata": {"name": "gateway"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "gateway",
                            "securityContext": {"runAsNonRoot": True},
                            "resources": {"requests": {"cpu": "1"}},
                            "envFrom": [{"secretRef": {"name": "minio-root-abc123defg"}}],
                            "env": [
                                {
                                    "name": "X",
                                    "valueFrom": {"secretKeyRef": {"name": "other", "key": "MINIO_ROOT_PASSWORD"}},
                                }
                            ],
                        }
                    ]
                }
            }
        },
    }
    secrets = {"minio-root-abc123defg": {"data": {"MINIO_ROOT_USER": "eA=="}}}
    problems = policy_violations(bad, secrets)
    assert "gateway/gateway: securityContext.readOnlyRootFilesystem is not True" in problems
    assert "gateway/gateway: no limits.memory" in problems
    assert "gateway/gateway: no livenessProbe" in problems
    assert "gateway/gateway: gets MINIO_ROOT_PASSWORD" in problems
    assert "gateway/gateway: gets MINIO_ROOT_USER" in problems
    assert "gateway/gateway: gets minio-root-abc123defg" in problems


def test_the_validator_rejects_an_invalid_object() -> None:
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
