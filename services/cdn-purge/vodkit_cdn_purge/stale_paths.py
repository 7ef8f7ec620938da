"""Which public paths an event makes stale.

The seed's list: the master playlist and the media playlists, whenever a video is (re)packaged.
When its subtitle tracks change, the master alone: each version of a track has its own folder
(`subtitles/{language}/{revision}/`), never replaced under its names. On deletion, everything under the
video's path, segments included. A path ending in '/' stands for everything below it. Moving objects
between storage tiers changes no public answer.
"""

from __future__ import annotations

from vodkit_shared.events import Envelope, PackageDone, SubtitlesPublished, VideoDeleted


def stale_paths(envelope: Envelope) -> list[str]:
    base = f"/videos/{envelope.video_id}/"
    if envelope.type == PackageDone.TYPE:
        done = envelope.payload(PackageDone)
        return [f"{base}master.m3u8", *(f"{base}{rung}/playlist.m3u8" for rung in done.renditions)]
    if envelope.type == SubtitlesPublished.TYPE:  # the master's subtitle group
        return [f"{base}master.m3u8"]
    if envelope.type == VideoDeleted.TYPE:
        return [base]
    return []
