"""Every kustomize overlay renders, validates against the Kubernetes schema and meets vodkit's pod policy.

Each service's logins are its own, and what they may do is what its code does: the RabbitMQ
permissions, MinIO policies and MongoDB roles of `deploy/k8s/access` are checked against the queues,
buckets and collections the six services really declare and open (each app started once here, on the
embedded defaults, recording what it asks of its adapters) and against the README's table.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from aiohttp import web

import vodkit_shared.service as service_module
from vodkit_cli.services import SERVICES
from vodkit_gateway.settings import GatewaySettings
from vodkit_shared.analytics.sqlite import SqliteAnalytics
from vodkit_shared.bus.memory import MemoryBus
from vodkit_shared.bus.port import Subscription
from vodkit_shared.events import RenditionReady
from vodkit_shared.metadata.sqlite import SqliteStore
from vodkit_shared.settings import CommonSettings
from vodkit_transcoder.backlog import JOBS_WAITING, OLDEST_WAITING

pytestmark = pytest.mark.unit
ROOT = Path(__file__).parents[2]
K8S = ROOT / "deploy" / "k8s"
ACCESS = K8S / "access"
OVERLAYS = ["dev", "prod", "gpu", "autoscaled"]
KEDA = "keda.sh/v1alpha1"  # custom resources: no Kubernetes schema; checked by test_autoscaling_*
MONITORING = "monitoring.coreos.com/v1"  # the Prometheus Operator's: checked by tests/deploy/test_alerts.py
KUBERNETES_VERSION = "1.32.0"
WORKLOADS = {"Deployment", "StatefulSet", "Job"}
INFRASTRUCTURE = {"rabbitmq", "minio", "mongodb"}
# The stores' root logins. Only each store and its own setup Job may read them.
ADMIN_KEYS = {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD"}
ADMIN_SECRETS = {"minio-root", "mongodb-root"}
SETUP_ROOT = {"minio-setup": "minio-root", "mongodb-setup": "mongodb-root"}
IDENTITY = {"transcoder-gpu": "transcoder"}  # Deployments that log in as another service
STORES = {"bus": "bus", "storage": "storage", "metadata": "db"}  # with_resources part: Secret suffix
SIGNING = "vodkit-auth"  # a key the gateway and upload share by design (one signs, both check tokens)
SEALING = "vodkit-content-key"  # the gateway and the packager share it by design (keys sealed by one, opened by both)
KEDA_SECRET = "vodkit-keda-bus"
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


# ---- what the services' code asks of its adapters ------------------------------------------------


@dataclass
class Usage:
    """What one service's app opened and declared when it started."""

    stores: set[str] = field(default_factory=set)  # parts of with_resources: bus, storage, metadata
    auth: bool = False  # reads VODKIT_AUTH_SECRET
    content_key: bool = False  # reads VODKIT_CONTENT_KEY
    subscriptions: set[tuple[str, str]] = field(default_factory=set)  # (name it consumes as, event type)
    collections: set[str] = field(default_factory=set)  # metadata collections it opens
    reads: set[str] = field(default_factory=set)  # metadata collections it opens only to read (`reader`)
    analytics: bool = False  # opens the playback analytics store (its own collections, same database)


@pytest.fixture(scope="module")
def used(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Usage]:
    """Each service's app started and stopped once on the embedded defaults, its adapters watched."""
    usage = {name: Usage() for name in SERVICES}
    current: list[str] = []

    def watching(part: str, opener: Any) -> Any:
        async def opened(*args: Any, **kwargs: Any) -> Any:
            usage[current[0]].stores.add(part)
            return await opener(*args, **kwargs)

        return opened

    async def subscribe(bus: MemoryBus, subscription: Subscription) -> None:
        name = subscription.service  # its own, or its own with a suffix (the gateway's `gateway-webhooks`)
        assert re.fullmatch(rf"{re.escape(current[0])}(-[a-z]+)?", name), f"{current[0]} subscribes as {name}"
        usage[current[0]].subscriptions.add((name, subscription.event_type))
        await real_subscribe(bus, subscription)

    def collection(store: SqliteStore, name: str) -> Any:
        usage[current[0]].collections.add(name)
        return real_collection(store, name)

    def reader(store: SqliteStore, name: str) -> Any:
        usage[current[0]].reads.add(name)
        return real_collection(store, name)

    async def open_analytics(store: SqliteAnalytics) -> None:
        usage[current[0]].analytics = True
        await real_open_analytics(store)

    def auth_secret(settings: CommonSettings) -> str:
        usage[current[0]].auth = True
        return str(real_auth_secret(settings))

    def content_key(settings: CommonSettings) -> str:
        usage[current[0]].content_key = True
        return str(real_content_key(settings))

    real_subscribe, real_collection = MemoryBus.subscribe, SqliteStore.collection
    real_auth_secret, real_content_key = CommonSettings.resolved_auth_secret, CommonSettings.resolved_content_key
    real_open_analytics = SqliteAnalytics.open

    async def start_each() -> None:
        for name, spec in SERVICES.items():
            current[:] = [name]
            data = tmp_path_factory.mktemp(f"usage-{name}")
            app = spec.create_app(spec.settings(data_dir=data, bus_url=f"memory://manifests-{name}", port=0))
            runner = web.AppRunner(app)
            await runner.setup()
            await runner.cleanup()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service_module, "open_bus", watching("bus", service_module.open_bus))
        patch.setattr(service_module, "open_object_storage", watching("storage", service_module.open_object_storage))
        patch.setattr(service_module, "open_metadata", watching("metadata", service_module.open_metadata))
        patch.setattr(MemoryBus, "subscribe", subscribe)
        patch.setattr(SqliteStore, "collection", collection)
        patch.setattr(SqliteStore, "reader", reader)
        patch.setattr(CommonSettings, "resolved_auth_secret", auth_secret)
        patch.setattr(CommonSettings, "resolved_content_key", content_key)
        patch.setattr(SqliteAnalytics, "open", open_analytics)
        asyncio.run(start_each())
    return usage


def queues(exchange: str, subscriptions: set[tuple[str, str]]) -> set[str]:
    """The queues the RabbitMQ adapter declares for these subscriptions (shared/vodkit_shared/bus/rabbitmq.py)."""
    per_type = {f"{exchange}.{name}.{t}{suffix}" for name, t in subscriptions for suffix in ("", ".retry")}
    return per_type | {f"{exchange}.{name}.dead-letter" for name, _ in subscriptions}


# Storage calls in a service's code: the receiver is the service's storage, or one tier of it (`_tiers[...]`),
# or a local name given one of those in the same file (`store = self._tiers[destination]`).
STORAGE = r"(?:request\.)?app\[STORAGE\]|self\._storage|\bstorage"
TIER = r"self\._tiers\[[^\]]+\]"
ALIAS = re.compile(rf"\b(\w+) = (?:(?P<tier>{TIER})|{STORAGE})\n")
READS = {"get_file", "stream", "get_bytes", "sha256", "size", "readable_location"}
WRITES = {"put_file", "put_bytes", "adopt_file", "compose"}
DELETES = {"delete", "delete_prefix"}
NOT_OBJECTS = {"ping", "close", "flush_accesses", "keys"}  # `keys` lists: ListBucket, which every service has


def storage_calls(service: str) -> set[tuple[str, bool]]:
    """(method, on one tier directly) for each storage call in the service's package."""
    package = Path(sys.modules[SERVICES[service].create_app.__module__].__file__ or "").parent
    calls = set()
    for source in package.glob("*.py"):
        text = source.read_text()
        aliases = [(rf"(?<![\w.]){re.escape(m[1])}", m["tier"] is not None) for m in ALIAS.finditer(text)]
        for receiver, tier in [*aliases, (STORAGE, False), (TIER, True)]:
            calls |= {(method, tier) for method in re.findall(rf"(?:{receiver})\.(\w+)\(", text)}
    unknown = {method for method, _ in calls} - READS - WRITES - DELETES - NOT_OBJECTS
    assert not unknown, f"{service} calls storage methods this test cannot map to S3 actions: {unknown}"
    return calls


def s3_actions_needed(service: str, tiers: dict[str, str]) -> dict[str, set[str]]:
    """Bucket (or `bucket/*`) -> the S3 actions the service's storage calls need there (minio SDK calls).

    Through the tiered storage, writes go to the hot bucket and reads and deletes to whichever tier
    holds an object; a call on one tier directly (storage-tiering's mover) may be on any of them.
    Opening and `ping` ask whether each bucket exists (HeadBucket: s3:ListBucket); deletes of a
    prefix list it. A write may be multipart, which the SDK aborts when it fails.
    """
    buckets = set(tiers.values())
    needed: dict[str, set[str]] = {b: {"s3:ListBucket"} for b in buckets}
    for method, direct in storage_calls(service):
        if method in READS:
            targets, actions = buckets, {"s3:GetObject"}
        elif method in WRITES:
            targets = buckets if direct else {tiers["VODKIT_STORAGE_URL"]}
            actions = {"s3:PutObject", "s3:AbortMultipartUpload"} | ({"s3:GetObject"} if method == "compose" else set())
        elif method in DELETES:
            targets, actions = buckets, {"s3:DeleteObject"}
        else:
            continue
        for bucket in targets:
            needed.setdefault(f"{bucket}/*", set()).update(actions)
    return needed


PYMONGO_ACTIONS = {
    "insert_one": {"insert"},
    "insert_many": {"insert"},
    "find_one": {"find"},
    "find": {"find"},
    "aggregate": {"find"},  # no $out or $merge stage (checked below)
    "distinct": {"find"},
    "update_one": {"update"},
    "bulk_write": {"update", "insert"},  # ReplaceOne with upsert, the only kind of write it is given
    "delete_one": {"remove"},
    "delete_many": {"remove"},
    "find_one_and_update": {"find", "update", "insert"},  # findAndModify with upsert
    "create_index": {"createIndex"},
    "close": set(),
}
MONGO_ADAPTERS = {"documents": "metadata/mongo.py", "analytics": "analytics/mongo.py"}


def mongo_actions_needed() -> dict[str, set[str]]:
    """Each kind of collection -> the MongoDB actions its adapter's pymongo calls need."""
    needed = {}
    for kind, adapter in MONGO_ADAPTERS.items():
        source = (ROOT / "shared/vodkit_shared" / adapter).read_text()
        calls = set(re.findall(r"(?:self\._\w+|collection)\.(\w+)\(", source))
        assert calls <= PYMONGO_ACTIONS.keys(), (
            f"{adapter}: calls this test cannot map: {calls - PYMONGO_ACTIONS.keys()}"
        )
        assert "$out" not in source, adapter
        assert "$merge" not in source, adapter
        assert "bulk_write" not in calls or set(
            re.findall(r"\b(InsertOne|UpdateOne|UpdateMany|DeleteOne|DeleteMany|ReplaceOne)\(", source)
        ) == {"ReplaceOne"}
        # a collection is made by its first insert
        needed[kind] = {"createCollection"}.union(*(PYMONGO_ACTIONS[c] for c in calls))
    return needed


def analytics_collections() -> set[str]:
    return set(re.findall(r'db\["(\w+)"\]', (ROOT / "shared/vodkit_shared" / MONGO_ADAPTERS["analytics"]).read_text()))


# ---- what deploy/k8s/access grants ----------------------------------------------------------------


def rabbitmq_permissions() -> dict[str, tuple[str, str, str]]:
    lines = (ACCESS / "rabbitmq-permissions.txt").read_text().splitlines()
    rows = [line.split() for line in lines if line.strip() and not line.startswith("#")]
    assert all(len(row) == 4 for row in rows), "service configure write read, a line"
    return {service: (configure, write, read) for service, configure, write, read in rows}


def minio_policy(service: str) -> dict[str, set[str]]:
    """Bucket (or `bucket/*`) -> actions the policy allows; only Allow statements on S3 ARNs."""
    granted: dict[str, set[str]] = {}
    for statement in json.loads((ACCESS / "minio" / f"{service}.json").read_text())["Statement"]:
        assert statement["Effect"] == "Allow"
        assert "Condition" not in statement
        for resource in statement["Resource"]:
            assert resource.startswith("arn:aws:s3:::"), resource
            assert "*" not in resource.removesuffix("/*"), resource
            granted.setdefault(resource.removeprefix("arn:aws:s3:::"), set()).update(statement["Action"])
    return granted


def mongodb_roles() -> dict[str, Any]:
    return dict(json.loads((ACCESS / "mongodb-roles.json").read_text()))


def example(overlay: str, name: str) -> dict[str, str]:
    path = K8S / "overlays" / overlay / "secrets" / f"{name}.env.example"
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return dict(pairs)


def bucket(url: str) -> str:
    return urlsplit(url).path.strip("/").split("/")[0]


# ---- manifests ------------------------------------------------------------------------------------


def workloads(objects: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (o for o in objects if o["kind"] in WORKLOADS)


def is_vodkit(workload: dict[str, Any]) -> bool:
    return workload["kind"] == "Deployment" and workload["metadata"]["name"] not in INFRASTRUCTURE


def checked(workload: dict[str, Any]) -> bool:
    """What the pod policy covers: vodkit's services and every Job (the stores' setup)."""
    return is_vodkit(workload) or workload["kind"] == "Job"


def policy_violations(workload: dict[str, Any], secrets: dict[str, dict[str, Any]]) -> list[str]:
    """What a vodkit Deployment or a Job breaks of the pod policy (README.md, "Hardening")."""
    name = workload["metadata"]["name"]
    job = workload["kind"] == "Job"
    pod = workload["spec"]["template"]["spec"]
    problems = [f"{name}: the service-account token is mounted" for _ in [1] if pod.get("automountServiceAccountToken")]
    problems += [
        f"{name}: automountServiceAccountToken is not false" for _ in [1] if "automountServiceAccountToken" not in pod
    ]
    if job:  # a setup that hangs or fails for good ends, and says so
        problems += [f"{name}: no {k}" for k in ("activeDeadlineSeconds", "backoffLimit") if k not in workload["spec"]]
    allowed = {SETUP_ROOT[name]} if name in SETUP_ROOT else set()
    for container in pod.get("containers", []):
        where = f"{name}/{container.get('name')}"
        context = container.get("securityContext", {})
        problems += [f"{where}: securityContext.{k} is not {v}" for k, v in HARDENING.items() if context.get(k) != v]
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            problems += [f"{where}: no {kind}.{r}" for r in ("cpu", "memory") if r not in resources.get(kind, {})]
        if not job:
            problems += [f"{where}: no {p}" for p in ("livenessProbe", "readinessProbe") if p not in container]
        problems += [f"{where}: gets {c}" for c in sorted(admin_credentials(pod, container, secrets, allowed))]
    return problems


def secrets_read(pod: dict[str, Any], container: dict[str, Any]) -> tuple[set[str], set[tuple[str, str]]]:
    """Names of the Secrets a container reads whole (envFrom, volumes), and (Secret, key) it reads one by one."""
    names = {e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e}
    refs = {
        (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    mounted = {m["name"] for m in container.get("volumeMounts", [])}
    for volume in pod.get("volumes", []):
        if volume["name"] not in mounted:
            continue
        if "secret" in volume:
            names.add(volume["secret"]["secretName"])
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                names.add(source["secret"]["name"])
    return names, refs


def admin_credentials(
    pod: dict[str, Any], container: dict[str, Any], secrets: dict[str, dict[str, Any]], allowed: set[str]
) -> set[str]:
    """Infrastructure root credentials a container can read, by Secret name or key, beyond `allowed`."""
    names, refs = secrets_read(pod, container)
    names = {n for n in names | {name for name, _ in refs} if base_name(n) not in allowed}
    found = {n for n in names if base_name(n) in ADMIN_SECRETS}
    found |= {key for n in names for key in secrets.get(n, {}).get("data", {}) if key in ADMIN_KEYS}
    return found | {key for name, key in refs if key in ADMIN_KEYS and base_name(name) not in allowed}


def base_name(name: str) -> str:
    """A generated Secret's name without kustomize's hash suffix (ten characters after the last dash)."""
    stem, _, suffix = name.rpartition("-")
    return stem if stem and len(suffix) == 10 else name


def credentials_of(objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each vodkit Deployment -> the Secrets (names without hash) its containers read."""
    out: dict[str, set[str]] = {}
    for workload in (w for w in workloads(objects) if is_vodkit(w)):
        pod = workload["spec"]["template"]["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            names, refs = secrets_read(pod, container)
            out.setdefault(workload["metadata"]["name"], set()).update(
                base_name(n) for n in names | {n for n, _ in refs}
            )
    return out


def expected_credentials(service: str, usage: Usage) -> set[str]:
    own = {f"vodkit-{service}-{STORES[part]}" for part in usage.stores}
    return own | ({SIGNING} if usage.auth else set()) | ({SEALING} if usage.content_key else set())


def config(objects: list[dict[str, Any]]) -> dict[str, str]:
    return dict(next(o["data"] for o in objects if o["kind"] == "ConfigMap" and "VODKIT_BUS_EXCHANGE" in o["data"]))


def workload(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(w for w in workloads(objects) if w["metadata"]["name"] == name)


# ---- tests: rendering and the pod policy ----------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_kubernetes(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    for obj in rendered[overlay]:
        if obj["apiVersion"] not in (KEDA, MONITORING):
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
    (queue,) = [t["metadata"]["queueName"] for t in scaled["packager"]["triggers"]]
    assert queue == f"{config(objects)['VODKIT_BUS_EXCHANGE']}.packager.{RenditionReady.TYPE}"
    auth = next(o for o in objects if o["kind"] == "TriggerAuthentication")
    (target,) = auth["spec"]["secretTargetRef"]
    keda_secret = next(o for o in objects if o["kind"] == "Secret" and base_name(o["metadata"]["name"]) == KEDA_SECRET)
    assert target["name"] == keda_secret["metadata"]["name"]  # the generated name, hash and all
    assert target["key"] in keda_secret["data"]
    assert not any(KEDA_SECRET in names for names in credentials_of(objects).values())  # KEDA's login, no service's
    assert rabbitmq_permissions()["keda"] == ("^$", "^$", "^$")
    assert not any(o["apiVersion"] == KEDA for overlay in ("dev", "prod", "gpu") for o in rendered[overlay])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_vodkit_workload_and_job_meets_the_pod_policy(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    objects = rendered[overlay]
    secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    covered = [w for w in workloads(objects) if checked(w)]
    assert len([w for w in covered if is_vodkit(w)]) >= 6
    assert {w["metadata"]["name"] for w in covered if w["kind"] == "Job"} == (
        set(SETUP_ROOT) if overlay == "dev" else set()
    )
    assert [p for w in covered for p in policy_violations(w, secrets)] == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_comes_from_a_generator(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    committed = [
        p for p in K8S.rglob("*.yaml") for d in yaml.safe_load_all(p.read_text()) if d and d.get("kind") == "Secret"
    ]
    assert committed == []
    services = "|".join(SERVICES)
    known = re.compile(
        rf"(vodkit-({services})-(bus|storage|db)|{SIGNING}|{SEALING}|{KEDA_SECRET}|{'|'.join(ADMIN_SECRETS)})"
    )
    for secret in (o for o in rendered[overlay] if o["kind"] == "Secret"):
        name = secret["metadata"]["name"]
        assert known.fullmatch(base_name(name)), name
        assert base_name(name) != name, f"{name} has no generator hash"


def test_the_operators_secret_files_are_ignored() -> None:
    assert "overlays/*/secrets/*.env" in (K8S / ".gitignore").read_text().splitlines()


def test_generate_secrets_writes_every_file_with_its_own_random_values(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    shutil.copytree(K8S / "overlays" / "dev", dev, ignore=shutil.ignore_patterns("*.env"))
    for _ in range(2):  # the second run keeps what the first wrote
        done = subprocess.run(["sh", str(dev / "generate-secrets.sh")], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
    examples = sorted((dev / "secrets").glob("*.env.example"))
    assert done.stdout.count("kept ") == len(examples) >= 17
    values = []
    for path in examples:
        written = path.with_suffix("")
        assert written.stat().st_mode & 0o077 == 0, f"{written.name} is readable by others"
        text = written.read_text()
        assert "GENERATE" not in text
        found = set(re.findall(r"[0-9a-f]{48}", text))
        assert len(found) == 1, written.name  # one value a file: a service's tier URLs share its key
        values += found
    assert len(set(values)) == len(values)


def test_only_dev_runs_infrastructure(rendered: dict[str, list[dict[str, Any]]]) -> None:
    names = {o: {w["metadata"]["name"] for w in workloads(rendered[o])} for o in OVERLAYS}
    assert names["dev"] >= INFRASTRUCTURE
    assert not names["prod"] & INFRASTRUCTURE
    assert not names["gpu"] & INFRASTRUCTURE


def test_mongodb_needs_a_login_in_dev(rendered: dict[str, list[dict[str, Any]]]) -> None:
    mongo = workload(rendered["dev"], "mongodb")
    secret_names = [e["secretRef"]["name"] for e in mongo["spec"]["template"]["spec"]["containers"][0]["envFrom"]]
    secrets = {o["metadata"]["name"]: o for o in rendered["dev"] if o["kind"] == "Secret"}
    keys = {k for n in secret_names for k in secrets[n]["data"]}
    assert {"MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD"} <= keys


# ---- tests: each service its own logins, with only the rights its code uses -----------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_deployment_reads_only_its_own_credentials(
    rendered: dict[str, list[dict[str, Any]]], used: dict[str, Usage], overlay: str
) -> None:
    """Its Secret for each store its code opens (with_resources), the signing key if it reads it; no other."""
    read = credentials_of(rendered[overlay])
    assert set(SERVICES) <= read.keys()
    for deployment, names in read.items():
        service = IDENTITY.get(deployment, deployment)
        assert names == expected_credentials(service, used[service]), deployment
    assert used["cdn-purge"].stores == {"bus"}  # the README's claim


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_two_services_share_a_credential_secret(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    readers: dict[str, set[str]] = {}
    for deployment, names in credentials_of(rendered[overlay]).items():
        for name in names:
            readers.setdefault(name, set()).add(IDENTITY.get(deployment, deployment))
    assert readers.pop(SIGNING) == {"gateway", "upload"}
    assert readers.pop(SEALING) == {"gateway", "packager"}
    assert {name: who for name, who in readers.items() if len(who) != 1} == {}


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_no_two_services_share_a_login(overlay: str) -> None:
    """In the example files each service's URLs carry its own user or access key, store by store."""
    for suffix, key in (("bus", "VODKIT_BUS_URL"), ("storage", "VODKIT_STORAGE_URL"), ("db", "VODKIT_DB_URL")):
        files = sorted((K8S / "overlays" / overlay / "secrets").glob(f"*-{suffix}.env.example"))
        users = [urlsplit(example(overlay, f.name.removesuffix(".env.example"))[key]).username for f in files]
        assert len(files) >= 5
        assert len(set(users)) == len(users), (suffix, users)


def queue_problems(
    permissions: dict[str, tuple[str, str, str]],
    declared: dict[str, set[str]],
    exchange: str,
    inspected: dict[str, set[str]] | None = None,
) -> list[str]:
    """What the permission regexes get wrong about the queues each service declares (RabbitMQ searches
    a regex in the name, so each must be anchored).

    Every service declares and publishes to the exchange and declares, binds and consumes its own
    queues; its retry and dead-letter copies go through the default exchange (`amq.default`, also the
    retry queues' dead-letter exchange). No regex of one service may match a queue of another, but for
    those it `inspected` (declares and reads: the gateway's job console, other consumers' dead letters).
    """
    problems = []
    inspected = inspected or {}
    for service, regexes in permissions.items():
        configure, write, read = regexes
        problems += [f"{service}: {r} is not anchored" for r in regexes if not (r.startswith("^") and r.endswith("$"))]
        own = declared.get(service, set())
        needed = own | {exchange} if own else set()  # a login that consumes nothing (keda) needs nothing
        problems += [f"{service}: {r} misses {q}" for q in sorted(needed) for r in regexes if not re.search(r, q)]
        if own and not re.search(write, "amq.default"):
            problems.append(f"{service}: cannot write to amq.default (retries, dead letters)")
        if re.search(configure, "amq.default"):
            problems.append(f"{service}: may configure amq.default")
        looks = inspected.get(service, set())
        problems += [
            f"{service}: {r} misses {q}" for q in sorted(looks) for r in (configure, read) if not re.search(r, q)
        ]
        problems += [f"{service}: {write} matches {q}" for q in sorted(looks) if re.search(write, q)]
        others = {q for s, qs in declared.items() if s != service for q in qs} - looks
        others |= {f"{exchange}.intruder.video.deleted", f"{exchange}x", "amq.topic", f"other.{service}.video.deleted"}
        problems += [f"{service}: {r} matches {q}" for r in regexes for q in sorted(others) if re.search(r, q)]
    return problems


def declared_queues(exchange: str, used: dict[str, Usage]) -> dict[str, set[str]]:
    """Each service's queues; the gateway's also under any other name `gateway-<word>` it may take."""
    declared = {s: queues(exchange, used[s].subscriptions) for s in SERVICES}
    declared["gateway"] |= queues(exchange, {("gateway-more", t) for _, t in used["gateway"].subscriptions})
    return declared


def console_queues(exchange: str) -> dict[str, set[str]]:
    """The dead-letter queues of other consumers that the gateway's job console declares and reads."""
    consumers = set(GatewaySettings().dead_letter_services)
    assert "upload" in consumers
    return {"gateway": {f"{exchange}.{s}.dead-letter" for s in consumers if not re.fullmatch(r"gateway(-[a-z]+)?", s)}}


def test_each_service_may_use_only_its_own_queues(
    rendered: dict[str, list[dict[str, Any]]], used: dict[str, Usage]
) -> None:
    exchange = config(rendered["prod"])["VODKIT_BUS_EXCHANGE"]
    permissions = rabbitmq_permissions()
    assert permissions.keys() == set(SERVICES) | {"keda"}
    declared = declared_queues(exchange, used)
    assert all(declared.values()), "every service consumes something"
    assert queue_problems(permissions, declared, exchange, console_queues(exchange)) == []


def test_the_queue_check_catches_a_regex_too_wide_or_too_narrow(used: dict[str, Usage]) -> None:
    permissions = rabbitmq_permissions()
    declared = declared_queues("vodkit", used)
    consoles = console_queues("vodkit")
    configure, write, read = permissions["upload"]
    for bad in (
        (configure.strip("^$"), write, read),  # unanchored
        (configure, r"^(vodkit|vodkit\..+|amq\.default)$", read),  # every service's queues
        (configure, r"^(vodkit|vodkit\.upload\..+)$", read),  # no retries
        (configure, write, r"^vodkit$"),  # cannot consume
    ):
        assert queue_problems({**permissions, "upload": bad}, declared, "vodkit", consoles) != [], bad
    assert queue_problems({**permissions, "gateway": permissions["upload"]}, declared, "vodkit", consoles) != []
    assert queue_problems(permissions, declared, "vodkit", consoles) == []
    assert queue_problems(permissions, declared, "vodkit") != []  # the console's rights are found, and allowed only so


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_each_minio_policy_allows_only_its_service_s_buckets_and_calls(overlay: str, used: dict[str, Usage]) -> None:
    """A policy for each service that opens storage, naming exactly the buckets of its URLs, with the
    actions its storage calls need there; cdn-purge has no storage login at all."""
    with_storage = {s for s in SERVICES if "storage" in used[s].stores}
    assert {p.stem for p in (ACCESS / "minio").glob("*.json")} == with_storage
    assert with_storage == {
        f.name.removesuffix("-storage.env.example")
        for f in (K8S / "overlays" / overlay / "secrets").glob("*-storage.env.example")
    }
    for service in with_storage:
        tiers = {k: bucket(v) for k, v in example(overlay, f"{service}-storage").items()}
        assert set(tiers) == {"VODKIT_STORAGE_URL", "VODKIT_TIER_WARM_URL", "VODKIT_TIER_COLD_URL"}
        granted = minio_policy(service)
        assert {r.removesuffix("/*") for r in granted} == set(tiers.values()), service
        assert granted == s3_actions_needed(service, tiers), service


def test_the_s3_check_tells_a_writer_from_a_reader() -> None:
    tiers = {k: bucket(v) for k, v in example("dev", "gateway-storage").items()}
    hot, cold = tiers["VODKIT_STORAGE_URL"], tiers["VODKIT_TIER_COLD_URL"]
    assert "s3:PutObject" not in set().union(*s3_actions_needed("gateway", tiers).values())
    assert "s3:PutObject" in s3_actions_needed("upload", tiers)[f"{hot}/*"]
    assert "s3:PutObject" not in s3_actions_needed("upload", tiers)[f"{cold}/*"]
    assert "s3:PutObject" in s3_actions_needed("storage-tiering", tiers)[f"{cold}/*"]
    assert minio_policy("upload") != s3_actions_needed("gateway", tiers)


def test_each_mongodb_role_covers_only_its_service_s_collections(used: dict[str, Usage]) -> None:
    roles = mongodb_roles()
    with_db = {s for s in SERVICES if "metadata" in used[s].stores}
    granted = {s: {kind: set(c) for kind, c in kinds.items()} for s, kinds in roles["collections"].items()}
    needed = {
        s: {"documents": used[s].collections}
        | ({"reads": used[s].reads - used[s].collections} if used[s].reads - used[s].collections else {})
        | ({"analytics": analytics_collections()} if used[s].analytics else {})
        for s in with_db
    }
    assert granted == needed
    # `reader` collections: the port's get and find, which the adapter answers with find_one and find
    assert {kind: set(actions) for kind, actions in roles["actions"].items()} == mongo_actions_needed() | {
        "reads": {"find"}
    }
    assert used["transcoder"].reads == {"content_keys", "watermarks"}  # it runs ffmpeg on uploads: it may not
    # change a video's encryption or watermark
    for service in with_db:
        assert urlsplit(example("dev", f"{service}-db")["VODKIT_DB_URL"]).path == f"/{roles['database']}"


def test_the_dev_setup_reads_only_the_logins_it_makes(
    rendered: dict[str, list[dict[str, Any]]], used: dict[str, Usage]
) -> None:
    """The broker mounts the services' bus Secrets (its postStart hook), each Job its store's and its root."""
    objects = rendered["dev"]

    def reads(name: str) -> set[str]:
        pod = workload(objects, name)["spec"]["template"]["spec"]
        return {base_name(n) for c in pod["containers"] for n in secrets_read(pod, c)[0]}

    def logins(part: str) -> set[str]:
        return {f"vodkit-{s}-{STORES[part]}" for s in SERVICES if part in used[s].stores}

    assert reads("rabbitmq") == logins("bus")
    assert reads("minio-setup") == logins("storage") | {"minio-root"}
    assert reads("mongodb-setup") == logins("metadata") | {"mongodb-root"}
    assert reads("minio") == {"minio-root"}
    assert reads("mongodb") == {"mongodb-root"}


# ---- the README's table ---------------------------------------------------------------------------


def permissions_table() -> str:
    """The README's "Credentials" tables, made from deploy/k8s/access."""
    rabbit, roles = rabbitmq_permissions(), mongodb_roles()

    def cell(regex: str) -> str:
        return "`" + regex.replace("|", "\\|") + "`"  # a pipe in a table cell is escaped, code span or not

    lines = ["| identity | configure | write | read |", "|---|---|---|---|"]
    lines += [f"| {s} | {' | '.join(cell(r) for r in rabbit[s])} |" for s in [*SERVICES, "keda"]]
    lines += ["", "| identity | S3 actions: on buckets and objects |", "|---|---|"]
    for service in SERVICES:
        policy = minio_policy(service) if (ACCESS / "minio" / f"{service}.json").exists() else {}
        grouped: dict[tuple[str, ...], list[str]] = {}
        for resource, actions in policy.items():
            grouped.setdefault(tuple(sorted(a.removeprefix("s3:") for a in actions)), []).append(f"`{resource}`")
        granted = "; ".join(f"{', '.join(a)}: {', '.join(r)}" for a, r in grouped.items())
        lines.append(f"| {service} | {granted or 'none (no S3 login)'} |")
    kinds = "; ".join(f"{kind}: {', '.join(actions)}" for kind, actions in roles["actions"].items())
    lines += [
        "",
        f"| identity | collections of db `{roles['database']}` (role `vodkit-SERVICE`; actions on {kinds}) |",
        "|---|---|",
    ]
    for service in SERVICES:
        kinds_of = roles["collections"].get(service, {})
        granted = "; ".join(f"{kind}: {', '.join(f'`{c}`' for c in cs)}" for kind, cs in kinds_of.items())
        lines.append(f"| {service} | {granted or 'none (no MongoDB login)'} |")
    return "\n".join(lines)


def test_the_readme_lists_the_permissions_of_deploy_k8s_access() -> None:
    readme = (K8S / "README.md").read_text()
    begin, end = "<!-- permissions: made from deploy/k8s/access by tests/deploy -->\n", "\n<!-- end of permissions -->"
    assert begin in readme
    assert end in readme
    table = readme.split(begin, 1)[1].split(end, 1)[0]
    assert table == permissions_table(), "README.md out of date; the table should read:\n" + permissions_table()


# ---- the policy check itself ----------------------------------------------------------------------


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
                            "volumeMounts": [{"name": "root", "mountPath": "/root"}],
                        }
                    ],
                    "volumes": [{"name": "root", "secret": {"secretName": "mongodb-root-abc123defg"}}],
                }
            }
        },
    }
    secrets = {"minio-root-abc123defg": {"data": {"MINIO_ROOT_USER": "eA=="}}}
    problems = policy_violations(bad, secrets)
    assert "gateway: automountServiceAccountToken is not false" in problems
    assert "gateway/gateway: securityContext.readOnlyRootFilesystem is not True" in problems
    assert "gateway/gateway: no limits.memory" in problems
    assert "gateway/gateway: no livenessProbe" in problems
    assert "gateway/gateway: gets MINIO_ROOT_PASSWORD" in problems
    assert "gateway/gateway: gets MINIO_ROOT_USER" in problems
    assert "gateway/gateway: gets minio-root-abc123defg" in problems
    assert "gateway/gateway: gets mongodb-root-abc123defg" in problems  # a mounted Secret counts too


def test_the_policy_catches_a_bad_job() -> None:
    """A Job needs the same hardening (not probes), a deadline, and reads only its own store's root."""
    container = {
        "name": "mc",
        "securityContext": dict(HARDENING),
        "resources": {"requests": {"cpu": "1", "memory": "1Mi"}, "limits": {"cpu": "1", "memory": "1Mi"}},
    }
    job: dict[str, Any] = {
        "kind": "Job",
        "metadata": {"name": "minio-setup"},
        "spec": {
            "backoffLimit": 1,
            "template": {
                "spec": {
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            **container,
                            "envFrom": [
                                {"secretRef": {"name": "minio-root-abc123defg"}},
                                {"secretRef": {"name": "mongodb-root-abc123defg"}},
                            ],
                        }
                    ],
                }
            },
        },
    }
    assert policy_violations(job, {}) == [
        "minio-setup: no activeDeadlineSeconds",
        "minio-setup/mc: gets mongodb-root-abc123defg",
    ]
    job["spec"]["activeDeadlineSeconds"] = 60
    job["spec"]["template"]["spec"]["containers"][0]["envFrom"].pop()
    assert policy_violations(job, {}) == []
    job["metadata"]["name"] = "other-setup"  # another Job may not read MinIO's root
    assert policy_violations(job, {}) == ["other-setup/mc: gets minio-root-abc123defg"]
    job["spec"]["template"]["spec"]["containers"][0]["securityContext"].pop("readOnlyRootFilesystem")
    assert "other-setup/mc: securityContext.readOnlyRootFilesystem is not True" in policy_violations(job, {})


def test_the_validator_rejects_an_invalid_object() -> None:
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


# ---- the broker's hook and the permissions, on a real RabbitMQ ------------------------------------


def rabbitmqctl_reaches_a_broker() -> bool:
    """rabbitmqctl is here and may administer the local broker (the machine's own RabbitMQ)."""
    if shutil.which("rabbitmqctl") is None:
        return False
    try:
        done = subprocess.run(["rabbitmqctl", "-s", "list_vhosts"], capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def broker_logins(
    rendered: dict[str, list[dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The dev broker's postStart hook, run twice against this machine's RabbitMQ in a vhost of its own:
    service (and keda) -> its AMQP URL there. Removes the vhost and users afterwards."""
    if not rabbitmqctl_reaches_a_broker():
        pytest.skip("needs rabbitmqctl administering a RabbitMQ broker on this machine")
    token = os.urandom(4).hex()
    vhost = f"vodkit-k8s-test-{token}"
    setup, users = tmp_path_factory.mktemp("setup"), tmp_path_factory.mktemp("users")
    hook = next(
        o for o in rendered["dev"] if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("rabbitmq-setup")
    )
    (setup / "users.sh").write_text(hook["data"]["users.sh"])
    shutil.copy(ACCESS / "rabbitmq-permissions.txt", setup)
    urls = {}
    for identity in [*SERVICES, "keda"]:
        urls[identity] = f"amqp://k8s-test-{token}-{identity}:{os.urandom(12).hex()}@127.0.0.1:5672/{vhost}"
        (users / identity).mkdir()
        (users / identity / "VODKIT_BUS_URL").write_text(urls[identity])
    env = {
        **os.environ,
        "SETUP_DIR": str(setup),
        "USERS_DIR": str(users),
        "SETUP_VHOST": vhost,
        "SETUP_REMOVE_USERS": "",
    }
    ctl("add_vhost", vhost)
    try:
        for _ in range(2):  # the second run finds every user there: it must leave them as the first made them
            done = subprocess.run(["sh", str(setup / "users.sh")], env=env, capture_output=True, text=True, timeout=180)
            assert done.returncode == 0, done.stdout + done.stderr
            assert done.stdout.count("rabbitmq-setup: ") == len(urls), done.stdout
        yield urls
    finally:
        ctl("delete_vhost", vhost)
        for url in urls.values():
            subprocess.run(
                ["rabbitmqctl", "-q", "delete_user", urlsplit(url).username or ""], capture_output=True, timeout=60
            )


@pytest.mark.rabbitmq
@pytest.mark.slow  # about 25 s: rabbitmqctl starts an Erlang VM per call
def test_the_permissions_let_each_service_do_on_a_broker_what_its_code_does(
    broker_logins: dict[str, str], used: dict[str, Usage]
) -> None:
    """Each service, logged in as itself, declares and consumes its queues, publishes, retries and
    dead-letters (through the default exchange); the gateway reads and replays another consumer's dead
    letters; another service's queues are refused; KEDA reads a queue's length and nothing else."""
    import aio_pika
    from aiormq.exceptions import ChannelAccessRefused

    from vodkit_shared.bus.port import RetryPolicy
    from vodkit_shared.bus.rabbitmq import RabbitBus
    from vodkit_shared.events import Envelope, VideoDeleted

    async def check() -> None:
        failed: dict[str, asyncio.Event] = {}
        buses = {}
        for service in SERVICES:
            bus = buses[service] = RabbitBus(broker_logins[service], "vodkit", RetryPolicy(2, 0.05))
            await bus.connect()
            failed[service] = asyncio.Event()

            async def fail(_: Envelope, service: str = service) -> None:
                failed[service].set()
                raise RuntimeError("a transient failure, for the retry queue")

            for name, event_type in sorted(used[service].subscriptions):
                await bus.subscribe(Subscription(name, event_type, fail))
        deleted = VideoDeleted(owner="u", prefixes=["hls/v/"])
        await buses["upload"].publish(Envelope.wrap(deleted, video_id="v"))
        await asyncio.wait_for(asyncio.gather(*(failed[s].wait() for s in ("upload", "packager"))), 20)
        for _ in range(100):  # two attempts, then the dead-letter queue
            if await buses["gateway"].peek_dead_letters("upload"):
                break
            await asyncio.sleep(0.1)
        assert [letter.envelope.type for letter in await buses["gateway"].peek_dead_letters("upload")] == [deleted.TYPE]
        assert await buses["gateway"].replay_dead_letters("upload") == 1

        with pytest.raises(ChannelAccessRefused):
            await buses["upload"].subscribe(Subscription("packager", deleted.TYPE, fail))
        with pytest.raises(ChannelAccessRefused):
            await buses["upload"].peek_dead_letters("packager")

        keda = await aio_pika.connect(broker_logins["keda"])
        try:
            channel = await keda.channel()
            queue = await channel.declare_queue(f"vodkit.packager.{RenditionReady.TYPE}", passive=True)
            assert queue.declaration_result.message_count is not None
            with pytest.raises(ChannelAccessRefused):
                await (await keda.channel()).declare_queue("vodkit.keda.anything", durable=True)
        finally:
            await keda.close()
        for bus in buses.values():
            await bus.close()

    asyncio.run(check())


# ---- the MinIO and MongoDB setup scripts, with stand-ins for mc and mongosh -----------------------


def setup_script(rendered: dict[str, list[dict[str, Any]]], config_map: str, key: str) -> str:
    found = (o for o in rendered["dev"] if o["kind"] == "ConfigMap" and base_name(o["metadata"]["name"]) == config_map)
    return str(next(found)["data"][key])


def service_logins(root: Path, part: str, used: dict[str, Usage]) -> dict[str, str]:
    """USERS_DIR as the Jobs mount it: each service's dev example with its own value for GENERATE."""
    values = {}
    for service in (s for s in SERVICES if part in used[s].stores):
        values[service] = os.urandom(12).hex()
        (root / service).mkdir(parents=True)
        for key, value in example("dev", f"{service}-{STORES[part]}").items():
            (root / service / key).write_text(value.replace("GENERATE", values[service]))
    return values


FAKE_MC = """#!/bin/sh
# mc, as far as minio-setup uses it: records each call; a second attach says what mc says then.
echo "$*" >> "$MC_LOG"
case "$1 $2 $3" in
  "admin policy attach")
    mark="$MC_STATE/$5-$7"
    if [ -e "$mark" ]; then echo "mc: <ERROR> The specified policy change is already in effect." >&2; exit 1; fi
    : > "$mark" ;;
  "admin user remove" | "admin policy remove") echo "mc: <ERROR> not found" >&2; exit 1 ;;
esac
"""


def test_the_minio_setup_makes_each_service_s_login(
    rendered: dict[str, list[dict[str, Any]]], used: dict[str, Usage], tmp_path: Path
) -> None:
    """Job minio-setup's script, run twice with a stand-in for mc: the buckets of the URLs, and for each
    service its policy and its user (the URL's key and secret) attached to it; the second run passes."""
    (tmp_path / "setup.sh").write_text(setup_script(rendered, "minio-setup", "setup.sh"))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "mc").write_text(FAKE_MC)
    (tmp_path / "bin" / "mc").chmod(0o755)
    (tmp_path / "state").mkdir()
    secrets = service_logins(tmp_path / "users", "storage", used)
    env = {
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "MINIO_ROOT_USER": "root",
        "MINIO_ROOT_PASSWORD": "rootpassword",
        "POLICIES_DIR": str(ACCESS / "minio"),
        "USERS_DIR": str(tmp_path / "users"),
        "MC_LOG": str(tmp_path / "mc.log"),
        "MC_STATE": str(tmp_path / "state"),
    }
    for _ in range(2):
        done = subprocess.run(["sh", str(tmp_path / "setup.sh")], env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr
    calls = (tmp_path / "mc.log").read_text().splitlines()
    buckets = {bucket(url) for s in secrets for url in example("dev", f"{s}-storage").values()}
    assert {c for c in calls if c.startswith("mb ")} == {f"mb --ignore-existing local/{b}" for b in buckets}
    for service, secret in secrets.items():
        assert calls.count(f"admin policy create local vodkit-{service} {ACCESS / 'minio'}/{service}.json") == 2
        assert calls.count(f"admin user add local vodkit-{service} {secret}") == 2
        assert calls.count(f"admin policy attach local vodkit-{service} --user vodkit-{service}") == 2
    assert len([c for c in calls if c.startswith("admin user add")]) == 2 * len(secrets)

    (tmp_path / "users" / "upload" / "VODKIT_TIER_COLD_URL").write_text("http://other:key12345@minio:9000/vodkit-cold")
    done = subprocess.run(["sh", str(tmp_path / "setup.sh")], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0, "one key for a service's three tiers"
    assert "upload: one key for all its tiers" in done.stdout


FAKE_MONGOSH = """
// mongosh's globals, as far as users.js uses them: `db` records what is made, in a state kept between runs.
const fs = require("fs");
const state = JSON.parse(fs.readFileSync(process.env.STATE, "utf8"));
const calls = [];
globalThis.print = (line) => console.log(line);
globalThis.db = {getSiblingDB: (name) => ({
  getRole: (role) => state.roles[`${name}.${role}`] || null,
  createRole: (doc) => { calls.push(["createRole", name, doc]); state.roles[`${name}.${doc.role}`] = doc; },
  updateRole: (role, doc) => {
    calls.push(["updateRole", name, role, doc]);
    state.roles[`${name}.${role}`] = {...state.roles[`${name}.${role}`], ...doc};
  },
  getUser: (user) => state.users[`${name}.${user}`] || null,
  createUser: (doc) => { calls.push(["createUser", name, doc]); state.users[`${name}.${doc.user}`] = doc; },
  updateUser: (user, doc) => {
    calls.push(["updateUser", name, user, doc]);
    state.users[`${name}.${user}`] = {...state.users[`${name}.${user}`], ...doc};
  },
  dropUser: (user) => { calls.push(["dropUser", name, user]); delete state.users[`${name}.${user}`]; },
})};
process.on("exit", () => fs.writeFileSync(process.env.STATE, JSON.stringify({...state, calls})));
require(process.env.SCRIPT);
"""


def test_the_mongodb_setup_makes_each_service_s_role_and_user(
    rendered: dict[str, list[dict[str, Any]]], used: dict[str, Usage], tmp_path: Path
) -> None:
    """Job mongodb-setup's users.js, run twice in node with a stand-in for mongosh's `db`: a role per
    service on its collections only and its URL's user with that role alone; the shared user of earlier
    versions dropped; the second run updates, makes nothing new."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    roles = mongodb_roles()
    (tmp_path / "setup").mkdir()
    shutil.copy(ACCESS / "mongodb-roles.json", tmp_path / "setup")
    (tmp_path / "users.js").write_text(setup_script(rendered, "mongodb-setup", "users.js"))
    (tmp_path / "mongosh.js").write_text(FAKE_MONGOSH)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"roles": {}, "users": {f"{roles['database']}.vodkit": {"user": "vodkit"}}}))
    passwords = service_logins(tmp_path / "users", "metadata", used)
    env = {
        **os.environ,
        "SETUP_DIR": str(tmp_path / "setup"),
        "USERS_DIR": str(tmp_path / "users"),
        "SCRIPT": str(tmp_path / "users.js"),
        "STATE": str(state),
    }
    runs = []
    for _ in range(2):
        done = subprocess.run([node, str(tmp_path / "mongosh.js")], env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr
        runs.append(json.loads(state.read_text()))
    database = roles["database"]
    made = {(c[0], c[2].get("role") or c[2].get("user")): c[2] for c in runs[0]["calls"] if c[0].startswith("create")}
    for service, password in passwords.items():
        privileges = made[("createRole", f"vodkit-{service}")]["privileges"]
        expected = {
            (database, c, tuple(roles["actions"][kind]))
            for kind, cs in roles["collections"][service].items()
            for c in cs
        }
        assert {(p["resource"]["db"], p["resource"]["collection"], tuple(p["actions"])) for p in privileges} == expected
        assert used[service].collections <= {c for _, c, _ in expected}
        user = made[("createUser", f"vodkit-{service}")]
        assert user["pwd"] == password
        assert user["roles"] == [{"role": f"vodkit-{service}", "db": database}]
    assert ["dropUser", database, "vodkit"] in runs[0]["calls"]
    assert {c[0] for c in runs[1]["calls"]} == {"updateRole", "updateUser"}
    assert runs[1]["users"] == runs[0]["users"]
    assert runs[1]["roles"] == runs[0]["roles"]
