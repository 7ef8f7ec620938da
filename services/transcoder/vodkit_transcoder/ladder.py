"""The seed's ladder and segment rule.

A rung is a height; the width follows the source's aspect ratio. No rung is above the source:
a source smaller than the lowest rung gets one rendition at its own height (rounded down to even;
the transcoder refuses sources below `MIN_RUNG_HEIGHT`, so the rung's name is always one served).
"""

from __future__ import annotations

from dataclasses import dataclass

from vodkit_shared.rungs import rung_name


@dataclass(frozen=True)
class Rung:
    name: str
    height: int
    maxrate_kbps: int  # VBV cap on top of CRF, so peaks stay bounded
    bufsize_kbps: int


LADDER = (
    Rung(rung_name(1080), 1080, 8000, 16000),
    Rung(rung_name(720), 720, 5000, 10000),
    Rung(rung_name(480), 480, 2500, 5000),
)


def plan_ladder(source_height: int) -> list[Rung]:
    rungs = [rung for rung in LADDER if rung.height <= source_height]
    if rungs:
        return rungs
    lowest = LADDER[-1]
    height = max(2, source_height - source_height % 2)
    return [Rung(rung_name(height), height, lowest.maxrate_kbps, lowest.bufsize_kbps)]


def segment_seconds(duration_s: float) -> int:
    """Under 30 minutes 6 s, up to 2 hours 10 s, beyond that 15 s."""
    if duration_s < 30 * 60:
        return 6
    if duration_s <= 2 * 3600:
        return 10
    return 15
