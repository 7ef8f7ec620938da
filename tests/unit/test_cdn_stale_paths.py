"""What cdn-purge purges for an event (stale_paths.py)."""

from __future__ import annotations

import pytest

from vodkit_cdn_purge.stale_paths import stale_paths
from vodkit_shared.events import Envelope, PublishedSubtitles, SubtitlesPublished

pytestmark = pytest.mark.unit


def test_changed_subtitles_purge_the_master_and_every_subtitle_object() -> None:
    track = PublishedSubtitles(language="en", label="English", default=True, revision=3)
    event = SubtitlesPublished(master_key="hls/v1/master.m3u8", tracks=[track])
    assert stale_paths(Envelope.wrap(event, video_id="v1")) == ["/videos/v1/master.m3u8"]
