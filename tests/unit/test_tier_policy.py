"""The seed's tiers by idle days, and whether watching a video brings it back."""

from __future__ import annotations

import pytest

from vodkit_tiering.policy import DAY_S, TierPolicy
from vodkit_tiering.throttle import Throttle

pytestmark = pytest.mark.unit
NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("idle_days", "tier"), [(0, "hot"), (29.9, "hot"), (30, "warm"), (89.9, "warm"), (90, "cold"), (400, "cold")]
)
def test_tier_by_idle_days(idle_days: float, tier: str) -> None:
    assert TierPolicy().target("hot", NOW - idle_days * DAY_S, NOW) == tier


def test_a_watched_video_is_promoted_unless_promotion_is_off() -> None:
    assert TierPolicy().target("cold", NOW - 1 * DAY_S, NOW) == "hot"
    assert TierPolicy(promote_on_access=False).target("cold", NOW - 1 * DAY_S, NOW) == "cold"
    assert TierPolicy(promote_on_access=False).target("warm", NOW - 100 * DAY_S, NOW) == "cold"


async def test_the_throttle_holds_copies_to_its_rate() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    throttle = Throttle(bytes_per_s=4 * 1024**2, clock=lambda: 100.0, sleep=sleep)  # time stands still
    for _ in range(4):  # 4 MiB at 4 MiB/s: the first goes at once, each next waits a quarter second more
        await throttle.take(1024**2)
    assert waits == [0.25, 0.5, 0.75]
    unlimited = Throttle(bytes_per_s=0, clock=lambda: 100.0, sleep=sleep)
    await unlimited.take(10 * 1024**3)
    assert waits == [0.25, 0.5, 0.75]  # no rate, no wait
