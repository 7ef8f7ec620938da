"""The Kubernetes manifests parse, and run every service with probes and the shared settings."""

from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit
K8S = Path(__file__).parents[2] / "deploy" / "k8s"
SERVICES = {"gateway", "upload", "transcoder", "packager", "storage-tiering", "cdn-purge"}


def documents() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_every_listed_resource_file_exists() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert all((K8S / name).is_file() for name in kustomization["resources"])


def test_each_service_is_a_deployment_probed_on_its_health_routes() -> None:
    deployments = {d["metadata"]["name"]: d for d in documents() if d["kind"] == "Deployment"}
    assert set(deployments) == SERVICES | {"transcoder-gpu"}
    for deployment in deployments.values():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert {"configMapRef": {"name": "vodkit-config"}} in container["envFrom"]
        assert {"secretRef": {"name": "vodkit-secrets"}} in container["envFrom"]


def test_the_distributed_adapters_are_configured() -> None:
    secret = next(d for d in documents() if d["kind"] == "Secret")["stringData"]
    assert secret["VODKIT_BUS_URL"].startswith("amqp://")
    assert secret["VODKIT_STORAGE_URL"].startswith("http://")
    assert secret["VODKIT_DB_URL"].startswith("mongodb://")


def test_the_gpu_transcoder_asks_for_a_gpu_and_schedules_on_gpu_nodes() -> None:
    gpu = next(d for d in documents() if d["kind"] == "Deployment" and d["metadata"]["name"] == "transcoder-gpu")
    pod = gpu["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert {"name": "VODKIT_HWACCEL", "value": "nvenc"} in container["env"]
    cpu = next(d for d in documents() if d["kind"] == "Deployment" and d["metadata"]["name"] == "transcoder")
    assert "nvidia.com/gpu" not in cpu["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
