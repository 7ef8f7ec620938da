"""Uploads built to steer ffmpeg: each fails at once with a readable reason, and nothing of another video is read.

The corpus is generated here: HLS and DASH manifests and an ffconcat list naming another video's
segment (and /etc/passwd), a still image, a file claiming 30000x30000, a few KB claiming ten hours,
a zip and a PDF renamed `.mp4`. The other video's segment is a witness: its access time is set to
the epoch, and any read of it (the kernel's relatime updates an atime older than the mtime) shows.
"""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from tests.support import free_port, make_clip
from vodkit_shared.bus.memory import MemoryBus
from vodkit_shared.media_input import MediaInput
from vodkit_shared.storage import open_storage
from vodkit_shared.tools import ToolFailed, probe
from vodkit_transcoder.errors import UnsupportedMedia
from vodkit_transcoder.hwaccel import Accel
from vodkit_transcoder.jobs import TranscodeJob
from vodkit_transcoder.settings import TranscoderSettings
from vodkit_transcoder.worker import Transcoder

pytestmark = pytest.mark.media
VICTIM = "11111111-2222-3333-4444-555555555555"


@dataclass(frozen=True)
class Witness:
    """Another user's HLS segment; `untouched()` is False once anything has read it."""

    path: Path

    def arm(self) -> None:
        os.utime(self.path, (0, time.time()))

    def untouched(self) -> bool:
        return self.path.stat().st_atime == 0


@pytest.fixture(scope="module")
def witness(tmp_path_factory: pytest.TempPathFactory) -> Witness:
    objects = tmp_path_factory.mktemp("objects")
    clip = make_clip(objects / "victim.mp4", seconds=2, width=320, height=240)
    rung = objects / "hls" / VICTIM / "240p"
    rung.mkdir(parents=True)
    subprocess.run(
        [
            *("ffmpeg", "-nostdin", "-v", "error", "-i", str(clip), "-c", "copy", "-f", "hls", "-hls_time", "6"),
            *("-hls_segment_filename", str(rung / "seg_%05d.ts"), str(rung / "playlist.m3u8")),
        ],
        check=True,
    )
    found = Witness(rung / "seg_00000.ts")
    found.arm()
    found.path.read_bytes()
    # On a noatime filesystem the witness sees nothing (and its checks pass trivially); the refusals and
    # their reasons are still checked, and ffmpeg never reaching a demuxer that opens files is their cause.
    assert not found.untouched() or os.environ.get("VODKIT_TEST_NOATIME") == "1", "access times are not recorded"
    return found


def hls(target: str) -> bytes:
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{target}\n#EXT-X-ENDLIST\n".encode()


def dash(target: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011"
     type="static" mediaPresentationDuration="PT2S" minBufferTime="PT1S">
  <Period><AdaptationSet mimeType="video/mp2t"><Representation id="1" bandwidth="100000" width="320" height="240">
    <BaseURL>{target}</BaseURL><SegmentBase/>
  </Representation></AdaptationSet></Period>
</MPD>
""".encode()


def ffconcat(target: str) -> bytes:
    return f"ffconcat version 1.0\nfile '{target}'\n".encode()


def lavfi(path: Path, *args: str) -> bytes:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args, str(path)], check=True)
    return path.read_bytes()


def still_image(tmp: Path) -> bytes:
    return lavfi(tmp / "still.png", "-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1")


def giant_frame(tmp: Path, side: int) -> bytes:
    """A tiny rawvideo AVI whose headers are patched to claim `side` x `side` (AVI has no checksums)."""
    data = bytearray(
        lavfi(tmp / "tiny.avi", "-f", "lavfi", "-i", "color=size=16x16:rate=1:duration=1", "-c:v", "rawvideo")
    )
    avih, strf = data.index(b"avih") + 8, data.index(b"strf") + 8
    struct.pack_into("<II", data, avih + 32, side, side)  # dwWidth, dwHeight
    struct.pack_into("<ii", data, strf + 4, side, side)  # biWidth, biHeight
    return bytes(data)


def decode_bomb(tmp: Path) -> bytes:
    """Two frames ten hours apart: a few KB that a constant-rate encode would turn into millions of frames."""
    return lavfi(
        tmp / "bomb.mkv",
        *("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=1:duration=2", "-vf", "setpts=N*36000/TB"),
        *("-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "ultrafast"),
    )


def zip_archive(tmp: Path) -> bytes:
    with zipfile.ZipFile(tmp / "a.zip", "w") as archive:
        archive.writestr("holiday.mp4", b"\x00" * 4096)
    return (tmp / "a.zip").read_bytes()


def pdf(tmp: Path) -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n" * 20


HLS = "an HLS playlist is not a video file"
DASH = "a DASH manifest is not a video file"
CONCAT = "an ffconcat list is not a video file"
# name -> (the upload, given the witness's path and a scratch dir; the start of the reason it fails with)
CORPUS: dict[str, tuple[Callable[[str, Path], bytes], str]] = {
    "hls-another-video": (lambda victim, _: hls(victim), HLS),
    "hls-proc-self-cwd": (lambda victim, _: hls(f"/proc/self/cwd/../../../../../../..{victim}"), HLS),
    "hls-file-url": (lambda victim, _: hls(f"file:{victim}"), HLS),
    "hls-etc-passwd": (lambda _, __: hls("/etc/passwd"), HLS),
    "dash-another-video": (lambda victim, _: dash(f"file:{victim}"), DASH),
    "dash-etc-passwd": (lambda _, __: dash("file:/etc/passwd"), DASH),
    "ffconcat-another-video": (lambda victim, _: ffconcat(victim), CONCAT),
    "ffconcat-image-sequence": (lambda victim, _: ffconcat(str(Path(victim).parent / "seg_%05d.ts")), CONCAT),
    "still-image": (lambda _, tmp: still_image(tmp), "a still image is not a video"),
    # ffmpeg itself will not allocate 30000x30000; 16000x16000 it would, vodkit's limit refuses it
    "30000x30000": (lambda _, tmp: giant_frame(tmp, 30000), "the video has no usable frame size"),
    "16000x16000": (lambda _, tmp: giant_frame(tmp, 16000), "the frame size 16000x16000 is larger than vodkit"),
    "decode-bomb": (lambda _, tmp: decode_bomb(tmp), "the file claims 36001 s of video in"),
    "zip-as-mp4": (lambda _, tmp: zip_archive(tmp), "a zip archive is not a video file"),
    "pdf-as-mp4": (lambda _, tmp: pdf(tmp), "a PDF document is not a video file"),
}


def upload(tmp: Path, witness: Witness, case: str) -> Path:
    make, _ = CORPUS[case]
    path = tmp / "holiday.mp4"
    path.write_bytes(make(str(witness.path), tmp))
    witness.arm()
    return path


@pytest.mark.parametrize("case", list(CORPUS))
async def test_a_hostile_upload_fails_the_transcode_at_once_readably(
    tmp_path: Path, witness: Witness, case: str
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    storage = await open_storage(f"file://{tmp_path / 'objects'}")
    await storage.put_file("originals/v1/source", upload(tmp_path, witness, case))
    bus = MemoryBus(f"hostile-{case}")
    settings = TranscoderSettings(work_dir=scratch, x264_preset="ultrafast", measure_quality=False)
    transcoder = Transcoder(storage, bus, settings, Accel("libx264", "test"))
    started = time.monotonic()
    try:
        with pytest.raises(UnsupportedMedia) as refused:
            await transcoder.transcode(
                TranscodeJob(video_id="v1", source_key="originals/v1/source", correlation_id="c")
            )
    finally:
        await bus.close()
    reason = str(refused.value)
    assert reason.startswith(CORPUS[case][1]), reason
    assert time.monotonic() - started < 5, "refused only after decoding"
    assert str(tmp_path) not in reason
    assert "[path]" not in reason
    assert witness.untouched(), "ffmpeg read the other video's segment"
    assert await storage.keys("renditions/") == []
    assert await storage.keys("artwork/") == []


@pytest.mark.parametrize("case", [name for name in CORPUS if name.startswith(("hls", "dash", "ffconcat"))])
async def test_the_upload_services_probe_of_a_local_file_opens_nothing_else(
    tmp_path: Path, witness: Witness, case: str
) -> None:
    with pytest.raises(ToolFailed):
        await probe(MediaInput.untrusted(upload(tmp_path, witness, case)))
    assert witness.untouched()


@pytest.fixture
async def object_server() -> AsyncIterator[tuple[str, dict[str, bytes], list[str]]]:
    """A stand-in for S3's presigned URLs: serves `objects` by path and records every path requested."""
    objects: dict[str, bytes] = {}
    requested: list[str] = []

    async def serve(request: web.Request) -> web.Response:
        requested.append(request.path)
        body = objects.get(request.path)
        return web.Response(body=body) if body is not None else web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", objects, requested
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("playlist", [hls, dash])
async def test_the_probe_of_a_presigned_url_fetches_that_url_and_nothing_else(
    witness: Witness, object_server: tuple[str, dict[str, bytes], list[str]], playlist: Callable[[str], bytes]
) -> None:
    base, objects, requested = object_server
    objects["/vodkit/hls/other/240p/seg_00000.ts"] = witness.path.read_bytes()
    target = f"{base}/vodkit/hls/other/240p/seg_00000.ts"
    objects["/vodkit/originals/v1/source"] = playlist(target)
    witness.arm()
    with pytest.raises(ToolFailed):
        await probe(MediaInput.untrusted(f"{base}/vodkit/originals/v1/source?X-Amz-Signature=x"))
    await asyncio.sleep(0)
    assert set(requested) == {"/vodkit/originals/v1/source"}


async def test_a_real_video_at_a_presigned_url_is_still_probed(
    witness: Witness, object_server: tuple[str, dict[str, bytes], list[str]]
) -> None:
    base, objects, _ = object_server
    objects["/vodkit/originals/v1/source"] = witness.path.read_bytes()
    info = await probe(MediaInput.untrusted(f"{base}/vodkit/originals/v1/source"))
    assert info["format"]["format_name"] == "mpegts"
