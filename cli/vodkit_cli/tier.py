"""`vodkit tier run [--now ISO-8601]`: one tiering pass, as if the clock said `--now`, printing what moved."""

from __future__ import annotations

import sys
from collections import defaultdict
from datetime import UTC, datetime

from vodkit_shared.bus import open_bus
from vodkit_shared.metadata import open_metadata
from vodkit_shared.tiers import TieredStorage, open_object_storage
from vodkit_shared.tiers.catalogue import video_of
from vodkit_tiering.app import build_tiering
from vodkit_tiering.settings import TieringSettings
from vodkit_tiering.tiering import PassReport


def parse_now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def run_pass(now: datetime) -> PassReport:
    settings = TieringSettings()
    metadata = await open_metadata(settings.resolved_db_url())
    storage = await open_object_storage(settings, metadata)
    bus = await open_bus(settings.bus_url, settings.bus_exchange)
    try:
        if not isinstance(storage, TieredStorage):
            raise SystemExit("vodkit tier: no tiers configured (set VODKIT_TIER_WARM_URL and VODKIT_TIER_COLD_URL)")
        return await build_tiering(settings, storage, metadata, bus).run_pass(now.timestamp())
    finally:
        await bus.close()
        await storage.close()
        await metadata.close()


def print_report(report: PassReport, now: datetime) -> None:
    routes: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for moved in report.moved:
        routes[(video_of(moved.key), moved.source, moved.destination)].append(moved.size)
    print(f"tiering pass as of {now.isoformat()}")
    for (video, source, destination), sizes in sorted(routes.items()):
        print(f"  {video}: {source} → {destination}, {len(sizes)} objects, {sum(sizes)} bytes")
    for orphan in report.orphans:
        print(f"  removed {orphan.key} ({orphan.size} bytes, {orphan.tier}): its video was deleted")
    for key in report.failed:
        print(f"  FAILED {key} (it stays where it was)", file=sys.stderr)
    print(
        f"moved {len(report.moved)} objects, {report.bytes_moved} bytes in {report.seconds:.3f} s; "
        f"{report.leftovers_finished} interrupted moves finished; {len(report.failed)} failed; "
        f"{len(report.orphans)} objects of deleted videos removed"
    )
