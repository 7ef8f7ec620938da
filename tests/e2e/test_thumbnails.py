"""A thumbnail at a chosen time, made on request from the video's own renditions (both HLS flavours),
kept, and refused with a clear 400 for a time or width out of bounds."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client, get

pytestmark = pytest.mark.e2e


def ssim(image: Path, reference: Path) -> float:
    out = subprocess.run(
        ["ffmpeg", "-v", "info", "-i", str(image), "-i", str(reference), "-lavfi", "ssim", "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    ).stderr  # fmt: skip
    found = re.search(r"All:([0-9.]+)", out)
    assert found, out
    return float(found.group(1))


def frame_of(clip: Path, at: float, width: int, out: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-ss", str(at), "-i", str(clip), "-frames:v", "1", "-vf", f"scale={width}:-2",
         str(out)],
        check=True,
    )  # fmt: skip
    return out


def width_of(image: Path) -> int:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=width", "-of", "json", str(image)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return int(json.loads(out)["streams"][0]["width"])


@pytest.mark.parametrize("deployment", ["embedded", "embedded_fmp4"])
async def test_a_thumbnail_shows_the_frame_at_its_time_and_is_kept(
    request: pytest.FixtureRequest, deployment: str, clip: Path, tmp_path: Path
) -> None:
    running: Deployment = request.getfixturevalue(deployment)
    client = Client(running.base_url, running.token("alice"))
    video_id = await client.upload(clip)
    status = await client.wait_until_settled(video_id)
    assert status["status"] == "completed", status
    token = status["playbackUrl"].split("?token=")[1]
    base = f"{running.base_url}/videos/{video_id}/thumbnail.jpg"

    code, body, headers = await get(f"{base}?t=5.5&w=320&token={token}")
    assert (code, headers["Content-Type"]) == (200, "image/jpeg")
    thumbnail = tmp_path / "thumbnail.jpg"
    thumbnail.write_bytes(body)
    assert width_of(thumbnail) == 320
    at_time = ssim(thumbnail, frame_of(clip, 5.5, 320, tmp_path / "at.jpg"))
    elsewhere = ssim(thumbnail, frame_of(clip, 2.0, 320, tmp_path / "elsewhere.jpg"))
    assert at_time > 0.8
    assert at_time > elsewhere + 0.1, (at_time, elsewhere)  # that frame, not another

    objects = Path(running.env["VODKIT_DATA_DIR"]) / "objects"
    assert not list(objects.glob(f"artwork/{video_id}/thumbnails/*"))  # the gateway writes no object
    code, again, _ = await get(f"{base}?t=5.54&w=320&token={token}")  # the same tenth of a second: kept
    assert (code, again) == (200, body)
    code, wide, _ = await get(f"{base}?t=0&w=1280&token={token}")  # from the 720p rung
    assert code == 200
    (tmp_path / "wide.jpg").write_bytes(wide)
    assert width_of(tmp_path / "wide.jpg") == 1280

    refusals = [("t=8.5&w=320", "t must"), ("w=320", "t must"), ("t=-1&w=320", "t must"), ("t=1e3&w=320", "t must")]
    refusals += [("t=1&w=321", "w must"), ("t=1&w=4000", "w must"), ("t=1", "w must")]
    for query, word in refusals:
        code, body, _ = await get(f"{base}?{query}&token={token}")
        assert code == 400, query
        assert word in json.loads(body)["error"]["message"], query
    bob = Client(running.base_url, running.token("bob"))
    other = await bob.upload(clip)
    others = (await bob.wait_until_settled(other))["playbackUrl"].split("?token=")[1]
    code, _, _ = await get(f"{base}?t=1&w=320&token={others}")
    assert code == 403  # another video's token
