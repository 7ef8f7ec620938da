"""One tiering pass: finish what a killed pass left, remove objects of deleted videos, then move every
video whose tier is no longer right.

`now` is a parameter, so a test (or `vodkit tier run --now 2027-03-01T00:00:00Z`) can see what the
policy does 100 days from now without waiting for them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram

from vodkit_shared.bus import MessageBus
from vodkit_shared.events import Envelope, ObjectTiered
from vodkit_shared.tiers import TIERS, Catalogue, CatalogueEntry, Tier
from vodkit_tiering.mover import Moved, MoveFailed, Mover
from vodkit_tiering.orphans import OrphanSweep
from vodkit_tiering.policy import TierPolicy

log = logging.getLogger(__name__)
ROUTE = ["source", "destination"]
MOVED_OBJECTS = Counter("vodkit_tier_moved_objects_total", "Objects moved between tiers", ROUTE)
MOVED_BYTES = Counter("vodkit_tier_moved_bytes_total", "Bytes moved between tiers", ROUTE)
MOVES_FAILED = Counter("vodkit_tier_move_failures_total", "Moves whose copy did not verify", ROUTE)
MOVE_SECONDS = Histogram(
    "vodkit_tier_move_duration_seconds",
    "One object's move: copy, verify, switch, delete",
    ROUTE,
    buckets=(0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600),
)
TIER_BYTES = Gauge("vodkit_tier_stored_bytes", "Bytes the catalogue holds in each tier, after the last pass", ["tier"])
TIER_OBJECTS = Gauge(
    "vodkit_tier_stored_objects", "Objects the catalogue holds in each tier, after the last pass", ["tier"]
)


@dataclass
class PassReport:
    moved: list[Moved] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    leftovers_finished: int = 0
    orphans: list[CatalogueEntry] = field(default_factory=list)  # objects of deleted videos, removed
    seconds: float = 0.0

    @property
    def bytes_moved(self) -> int:
        return sum(m.size for m in self.moved)


class Tiering:
    def __init__(
        self,
        catalogue: Catalogue,
        mover: Mover,
        policy: TierPolicy,
        bus: MessageBus | None,
        concurrency: int = 4,
        orphans: OrphanSweep | None = None,
    ) -> None:
        self._catalogue = catalogue
        self._mover = mover
        self._orphans = orphans
        self._policy = policy
        self._bus = bus
        self._slots = asyncio.Semaphore(concurrency)

    async def run_pass(self, now: float | None = None) -> PassReport:
        """One pass, as if the clock said `now` (default: it says what it says)."""
        now = time.time() if now is None else now
        started, report = time.monotonic(), PassReport()
        entries = await self._catalogue.entries()
        if self._orphans is not None:
            report.orphans = await self._orphans.sweep(entries)
            entries = [entry for entry in entries if entry not in report.orphans]
        by_video: dict[str, list[CatalogueEntry]] = defaultdict(list)
        for entry in entries:
            if entry.stale_in is not None:
                await self._mover.drop_stale_copy(entry.key, entry.stale_in)
                report.leftovers_finished += 1
            by_video[entry.video_id].append(entry)
        for video, entries in sorted(by_video.items()):
            moved = await self._tier_video(video, entries, now, report)
            if moved and self._bus is not None:
                await self._announce(video, moved)
        report.seconds = time.monotonic() - started
        _export_tiers([entry for group in by_video.values() for entry in group], report.moved)
        return report

    async def _tier_video(
        self, video: str, entries: list[CatalogueEntry], now: float, report: PassReport
    ) -> list[Moved]:
        last_activity = max([e.created for e in entries] + [await self._catalogue.last_access(video) or 0.0])
        plans = [(e, self._policy.target(e.tier, last_activity, now)) for e in entries]
        plans = [(e, target) for e, target in plans if target != e.tier]
        results = await asyncio.gather(*(self._move(entry, target, report) for entry, target in plans))
        return [moved for moved in results if moved is not None]

    async def _move(self, entry: CatalogueEntry, target: Tier, report: PassReport) -> Moved | None:
        async with self._slots:
            started = time.monotonic()
            try:
                moved = await self._mover.move(entry, target)
            except MoveFailed as error:
                log.error("move failed; the object stays where it is", extra={"error": str(error)})
                report.failed.append(entry.key)
                MOVES_FAILED.labels(entry.tier, target).inc()
                return None
        if moved is not None:
            report.moved.append(moved)
            MOVE_SECONDS.labels(moved.source, moved.destination).observe(time.monotonic() - started)
            MOVED_OBJECTS.labels(moved.source, moved.destination).inc()
            MOVED_BYTES.labels(moved.source, moved.destination).inc(moved.size)
        return moved

    async def _announce(self, video: str, moved: list[Moved]) -> None:
        for (source, destination), group in _by_route(moved).items():
            event = ObjectTiered(
                source_tier=source,
                destination_tier=destination,
                keys=sorted(m.key for m in group),
                bytes=sum(m.size for m in group),
            )
            await self._bus.publish(Envelope.wrap(event, video_id=video))  # type: ignore[union-attr]


def _export_tiers(entries: list[CatalogueEntry], moved: list[Moved]) -> None:
    """The tier gauges: what the pass found (objects of deleted videos left out), moves applied."""
    tier_of = {entry.key: entry.tier for entry in entries} | {m.key: m.destination for m in moved}
    size_of = {entry.key: entry.size for entry in entries}
    for tier in TIERS:
        in_tier = [key for key, where in tier_of.items() if where == tier]
        TIER_OBJECTS.labels(tier).set(len(in_tier))
        TIER_BYTES.labels(tier).set(sum(size_of[key] for key in in_tier))


def _by_route(moved: list[Moved]) -> dict[tuple[Tier, Tier], list[Moved]]:
    routes: dict[tuple[Tier, Tier], list[Moved]] = defaultdict(list)
    for m in moved:
        routes[(m.source, m.destination)].append(m)
    return routes
