"""Which tier a video's objects belong in, from how long ago the video was last written or watched.

The seed's tiers: hot for content accessed in the last 30 days, warm for 30–90 days, cold beyond.
A video moves as a whole (its playlists and segments together), so playback never mixes tiers.
"""

from __future__ import annotations

from dataclasses import dataclass

from vodkit_shared.tiers import TIERS, Tier

DAY_S = 86400.0


@dataclass(frozen=True)
class TierPolicy:
    warm_after_days: float = 30
    cold_after_days: float = 90
    promote_on_access: bool = True  # a watched video comes back to hot; if False, tiers only cool

    def target(self, current: Tier, last_activity: float, now: float) -> Tier:
        idle_days = (now - last_activity) / DAY_S
        wanted: Tier = (
            "hot" if idle_days < self.warm_after_days else "warm" if idle_days < self.cold_after_days else "cold"
        )
        if not self.promote_on_access and TIERS.index(wanted) < TIERS.index(current):
            return current
        return wanted
