"""The status projection gives the same answer whatever order its events arrive in."""

import itertools

import pytest

from vodkit_gateway.api import plays
from vodkit_gateway.videos import VideoRecord, project
from vodkit_shared.events import (
    Envelope,
    Event,
    PackageDone,
    RenditionMeasured,
    RenditionReady,
    TranscodeProgress,
    VideoAssembled,
    VideoFailed,
    VideoPlayable,
)

pytestmark = pytest.mark.unit
LADDER = ["720p", "480p"]


def env(payload: Event) -> Envelope:
    return Envelope.wrap(payload, video_id="v1")


def fresh() -> VideoRecord:
    return VideoRecord(video_id="v1", owner="alice", filename="a.mp4", size=10)


def fold(*events: Envelope) -> VideoRecord:
    video = fresh()
    for event in events:
        video = project(video, event)
    return video


ASSEMBLED = env(VideoAssembled(source_key="originals/v1/source", size=10))
PROGRESS = env(TranscodeProgress(percent=50, ladder=LADDER))
READY = env(
    RenditionReady(rung="720p", key="k", width=1280, height=720, ladder=LADDER, segment_seconds=6, duration_seconds=8)
)
DONE = env(PackageDone(master_key="hls/v1/master.m3u8", prefix="hls/v1/", renditions=LADDER, duration_seconds=8))
FAILED = env(VideoFailed(stage="transcoder", reason="not a video file"))


def test_a_new_video_is_uploading() -> None:
    assert (fresh().status, fresh().progress, fresh().qualities) == ("uploading", 0, {})


def test_progress_shows_the_ladder_processing() -> None:
    video = fold(ASSEMBLED, PROGRESS)
    assert video.status == "processing"
    assert video.qualities == {"720p": "processing", "480p": "processing"}
    assert 0 < video.progress < 100


@pytest.mark.parametrize("order", list(itertools.permutations([ASSEMBLED, PROGRESS, READY, DONE])))
def test_completion_is_the_same_in_any_order(order: tuple[Envelope, ...]) -> None:
    video = fold(*order)
    assert (video.status, video.progress, video.qualities) == ("completed", 100, {"720p": "ready", "480p": "ready"})
    assert video.duration_s == 8


def test_progress_never_falls() -> None:
    late = env(TranscodeProgress(percent=10, ladder=LADDER))
    assert fold(ASSEMBLED, PROGRESS, late).progress == fold(ASSEMBLED, PROGRESS).progress


def test_failure_is_final_and_says_why() -> None:
    video = fold(ASSEMBLED, PROGRESS, FAILED, PROGRESS)
    assert (video.status, video.error) == ("failed", "not a video file")
    assert video.qualities == {"720p": "failed", "480p": "failed"}


def test_a_completed_video_stays_completed() -> None:
    assert fold(ASSEMBLED, DONE, FAILED).status == "completed"


def test_quality_is_kept_per_rung_whenever_it_arrives() -> None:
    measured = env(RenditionMeasured(rung="720p", ssim=0.981, psnr=41.2))
    for order in ((ASSEMBLED, measured, DONE), (ASSEMBLED, DONE, measured)):
        video = fold(*order)
        assert video.status == "completed"
        assert video.quality["720p"].ssim == 0.981


def test_late_progress_or_renditions_never_change_a_finished_video() -> None:
    """A late transcode.progress for another ladder added a `processing` rung to a completed video."""
    other_ladder = env(TranscodeProgress(percent=99, ladder=["1080p", *LADDER]))
    late_ready = env(
        RenditionReady(
            rung="1080p", key="k", width=1920, height=1080, ladder=["1080p"], segment_seconds=6, duration_seconds=8
        )
    )
    completed = fold(ASSEMBLED, DONE)
    for late in (other_ladder, late_ready):
        after = project(completed, late)
        assert (after.status, after.qualities, after.progress) == ("completed", completed.qualities, 100)
    failed = fold(ASSEMBLED, FAILED)
    assert project(project(failed, other_ladder), late_ready).qualities == failed.qualities


PREVIEW = env(VideoPlayable(stage="preview", master_key="hls/v1/master.m3u8", renditions=["preview"]))


def test_an_early_preview_plays_while_the_video_stays_processing() -> None:
    video = fold(ASSEMBLED, PROGRESS, PREVIEW)
    assert (video.status, video.progress, video.playable, plays(video)) == ("processing", 45, True, True)
    assert not plays(fold(ASSEMBLED, PROGRESS))
    assert plays(fold(ASSEMBLED, PREVIEW, DONE))


def test_a_video_that_failed_after_its_preview_does_not_play() -> None:
    """The packager removes a failed video's HLS, preview included: no playback URL may point at it."""
    for order in itertools.permutations([PREVIEW, FAILED]):
        assert not plays(fold(ASSEMBLED, *order))
