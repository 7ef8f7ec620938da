"""A file with audio and no picture (a podcast) becomes an audio-only HLS rendition, whatever its container."""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client, fetch, get

pytestmark = pytest.mark.e2e
SECONDS = 60
FORMATS = {  # name → encoder options; each file is over two upload chunks (256 KiB)
    "mp3": ["-c:a", "libmp3lame", "-b:a", "320k"],
    "m4a": ["-c:a", "aac", "-b:a", "192k"],
    "wav": ["-c:a", "pcm_s16le", "-ar", "22050", "-ac", "1"],
    "flac": ["-c:a", "flac"],
    "ogg": ["-c:a", "libvorbis", "-q:a", "10"],
}


def podcast(path: Path, seconds: int = SECONDS) -> Path:
    """A beeping tone over noise (something a waveform shows, and an encoder spends bits on), with the
    format's encoder."""
    tone = f"sine=frequency=220:beep_factor=4:duration={seconds}:sample_rate=44100"
    noise = f"anoisesrc=duration={seconds}:amplitude=0.3:sample_rate=44100"
    inputs = ["-f", "lavfi", "-i", tone, "-f", "lavfi", "-i", noise, "-filter_complex", "amix=inputs=2"]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, *FORMATS[path.suffix[1:]], str(path)], check=True)
    return path


async def published(deployment: Deployment, source: Path) -> dict[str, object]:
    client = Client(deployment.base_url, deployment.token("alice"))
    video_id = await client.upload(source)
    status = await client.wait_until_settled(video_id)
    assert status["status"] == "completed", status
    assert status["qualities"] == {"audio": "ready"}
    details = (await client.call("GET", f"/api/videos/{video_id}", client.user_token)).body
    return dict(details)


@pytest.mark.parametrize("container", sorted(FORMATS))
async def test_a_podcast_becomes_an_audio_only_rendition(embedded: Deployment, tmp_path: Path, container: str) -> None:
    details = await published(embedded, podcast(tmp_path / f"episode.{container}"))

    _, master, _ = await fetch(str(details["playbackUrl"]))
    variants = re.findall(r"#EXT-X-STREAM-INF:(.*)\n(.*)", master.decode())
    assert len(variants) == 1
    attributes, uri = variants[0]
    assert 'CODECS="mp4a.40.2"' in attributes
    assert "RESOLUTION" not in attributes  # no picture to describe
    assert uri.startswith("audio/playlist.m3u8")
    assert details["durationSeconds"] == pytest.approx(SECONDS, abs=0.2)
    status, poster, headers = await get(str(details["posterUrl"]))  # the waveform
    assert (status, headers["Content-Type"]) == (200, "image/jpeg")
    assert len(poster) > 1000
    status, storyboard, _ = await get(str(details["storyboardUrl"]))
    assert status == 200
    cues = math.ceil(float(details["durationSeconds"]) / 2)  # type: ignore[arg-type]
    assert storyboard.decode().count(".jpg") == cues  # a waveform thumbnail every 2 s, 25 to a sheet
