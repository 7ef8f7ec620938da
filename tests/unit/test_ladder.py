import re

import pytest

from vodkit_shared.rungs import MAX_RUNG_HEIGHT, MIN_RUNG_HEIGHT, RUNG_PATTERN, is_rung_name, rung_name
from vodkit_transcoder.ladder import plan_ladder, segment_seconds

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("height", "rungs"),
    [
        (2160, ["1080p", "720p", "480p"]),
        (1080, ["1080p", "720p", "480p"]),
        (1079, ["720p", "480p"]),
        (720, ["720p", "480p"]),
        (480, ["480p"]),
        (361, ["360p"]),
        (240, ["240p"]),
    ],
)
def test_the_ladder_never_goes_above_the_source(height: int, rungs: list[str]) -> None:
    assert [r.name for r in plan_ladder(height)] == rungs


def test_a_tiny_source_keeps_an_even_height() -> None:
    assert plan_ladder(361)[0].height == 360


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [(8, 6), (29 * 60 + 59, 6), (30 * 60, 10), (2 * 3600, 10), (2 * 3600 + 1, 15), (5 * 3600, 15)],
)
def test_segment_length_follows_the_seed(duration: float, seconds: int) -> None:
    assert segment_seconds(duration) == seconds


def test_every_rung_any_servable_source_gets_is_one_the_gateway_routes() -> None:
    names = {rung.name for height in range(MIN_RUNG_HEIGHT, MAX_RUNG_HEIGHT + 1) for rung in plan_ladder(height)}
    assert "64p" in names
    assert "16p" in names
    assert all(re.fullmatch(RUNG_PATTERN, name) and is_rung_name(name) for name in names)


@pytest.mark.parametrize("height", [0, 8, 15, 8193])
def test_no_rung_is_named_outside_what_is_served(height: int) -> None:
    with pytest.raises(ValueError, match="no rung is"):
        rung_name(height)
    assert not is_rung_name(f"{height}p")
