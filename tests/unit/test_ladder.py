import pytest

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
