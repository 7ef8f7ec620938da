"""The metrics the code exports: docs/metrics.md lists exactly them, and they follow Prometheus's naming.

`exported()` imports every module of every vodkit package and reads prometheus_client's registry; the
alert and dashboard test (tests/deploy/test_alerts.py) checks its names against the same figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tests.support import import_every_vodkit_module

pytestmark = pytest.mark.unit
ROOT = Path(__file__).parents[2]
# what each type of metric adds to its name in the exposition (prometheus_client: counters are registered
# without `_total`, and export `_total` and `_created`)
SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count", "_created")}
ROW = re.compile(r"^\| `(?P<name>vodkit_[a-z0-9_]+)` \| (?P<type>\w+) \| (?P<labels>[^|]*) \| (?P<meaning>[^|]+) \|$")


@dataclass(frozen=True)
class Exported:
    name: str  # as docs/metrics.md and PromQL name it: counters with `_total`, histograms without suffix
    type: str
    labels: tuple[str, ...]
    help: str

    @property
    def series_names(self) -> set[str]:
        base = self.name.removesuffix("_total") if self.type == "counter" else self.name
        return {base + suffix for suffix in SUFFIXES[self.type]}


def exported() -> dict[str, Exported]:
    """Every vodkit_* metric registered once every module is imported, by its documented name."""
    import_every_vodkit_module()
    found: dict[str, Exported] = {}
    collectors = set(REGISTRY._names_to_collectors.values())  # the registry has no public list
    for collector in collectors:
        kind = getattr(collector, "_type", None)
        name = getattr(collector, "_name", "")
        if kind not in SUFFIXES or not name.startswith("vodkit_"):
            continue
        documented = name + "_total" if kind == "counter" else name
        labels = tuple(getattr(collector, "_labelnames", ()))
        found[documented] = Exported(documented, kind, labels, getattr(collector, "_documentation", ""))
    return found


def exported_series_names() -> set[str]:
    return {series for metric in exported().values() for series in metric.series_names}


def documented() -> dict[str, tuple[str, tuple[str, ...], str]]:
    rows = {}
    for line in (ROOT / "docs" / "metrics.md").read_text().splitlines():
        if match := ROW.match(line):
            labels = tuple(label.strip(" `") for label in match["labels"].split(",") if label.strip(" `—-"))
            rows[match["name"]] = (match["type"], labels, match["meaning"].strip())
    return rows


def test_docs_list_every_metric_the_code_exports_with_its_type_and_labels() -> None:
    code = {name: (m.type, m.labels) for name, m in exported().items()}
    docs = {name: (kind, labels) for name, (kind, labels, _) in documented().items()}
    assert docs == code, "docs/metrics.md and the code disagree: update the table"
    assert all(meaning for _, _, meaning in documented().values())


def test_names_follow_prometheus_conventions() -> None:
    for name, metric in exported().items():
        assert metric.help, name
        if metric.type == "counter":
            assert name.endswith("_total"), name
        else:
            assert not name.endswith("_total"), name
        assert not re.search(r"_(milliseconds|ms|kb|mb|minutes|hours)(_|$)", name), f"{name}: not a base unit"
        if metric.type == "histogram" and name.endswith("_seconds"):
            assert name.endswith("_duration_seconds"), f"{name}: latency is *_duration_seconds"


def test_the_autoscaler_reads_what_the_transcoder_exports() -> None:
    scaling = (ROOT / "deploy" / "k8s" / "components" / "keda" / "scaling.yaml").read_text()
    queried = set(re.findall(r"query: .*?\b(vodkit_[a-z_]+)", scaling))
    assert queried == {"vodkit_transcode_jobs_waiting", "vodkit_transcode_oldest_waiting_seconds"}
    assert queried <= set(exported())
