"""How uploads are opened (confined) and how a refusal is worded; no server path in a public reason."""

from pathlib import Path

import pytest

from vodkit_shared.events import Envelope, VideoFailed
from vodkit_shared.media_input import ACCEPTED_CONTAINERS, MediaInput, refusal
from vodkit_shared.redaction import without_locations
from vodkit_shared.tools import ToolFailed

pytestmark = pytest.mark.unit


def test_a_local_upload_is_opened_as_that_file_only_and_as_a_real_video_container() -> None:
    media = MediaInput.untrusted(Path("/data/objects/originals/v1/source"))
    assert media.args[-2:] == ["-i", "file:/data/objects/originals/v1/source"]
    assert media.options["protocol_whitelist"] == "file"
    formats = media.options["format_whitelist"].split(",")
    assert formats == list(ACCEPTED_CONTAINERS)
    assert not {"hls", "dash", "concat", "image2", "image2pipe", "m3u8"} & set(formats)


@pytest.mark.parametrize(
    ("url", "protocols"),
    [
        ("https://s3.example/b/originals/v1/source?X-Amz-Signature=x", "https,tls,tcp"),
        ("http://minio:9000/b/k", "http,tcp"),
    ],
)
def test_a_presigned_url_allows_only_its_own_protocol_chain(url: str, protocols: str) -> None:
    media = MediaInput.untrusted(url)
    assert (media.url, media.options["protocol_whitelist"]) == (url, protocols)


@pytest.mark.parametrize("location", ["relative/source", "ftp://host/x", "concat:/a|/b", "subfile,,start,0,end,9,,:/x"])
def test_nothing_else_is_a_location_an_upload_is_read_from(location: str) -> None:
    with pytest.raises(ValueError, match="absolute path or an http"):
        MediaInput.untrusted(location)


def test_our_own_files_are_opened_with_their_container_forced() -> None:
    assert MediaInput.own(Path("/w/720p.mp4")).args == [
        "-f",
        "mp4",
        "-protocol_whitelist",
        "file",
        "-i",
        "file:/w/720p.mp4",
    ]


@pytest.mark.parametrize(
    ("stderr", "head", "reason"),
    [
        ("[hls @ 0x55e0cc3ba4c0] Format not on whitelist 'mov,…'\nfile:/x: Invalid argument", b"", "an HLS playlist"),
        ("[dash @ 0x1] Format not on whitelist 'mov'", b"", "a DASH manifest"),
        ("[concat @ 0x1] Format not on whitelist 'mov'", b"", "an ffconcat list"),
        ("[png_pipe @ 0x1] Format not on whitelist 'mov'", b"", "a still image"),
        ("[wav @ 0x1] Format not on whitelist 'mov'", b"", "a wav file is not a video container vodkit accepts"),
        ("file:/x: Invalid data found when processing input", b"PK\x03\x04rest", "a zip archive"),
        ("file:/x: Invalid data found when processing input", b"%PDF-1.7", "a PDF document"),
        ("file:/x: Invalid data found when processing input", b'<?xml version="1.0"?>\n<MPD ', "a DASH manifest"),
        ("file:/x: Invalid data found when processing input", b"\x00\x01junk", "not a video file vodkit accepts"),
    ],
)
def test_a_refusal_is_worded_for_the_uploader(stderr: str, head: bytes, reason: str) -> None:
    assert refusal(stderr, head).startswith(reason)


@pytest.mark.parametrize(
    ("text", "public"),
    [
        ("/tmp/vodkit-transcode-x1/source: Invalid data found", "[path]: Invalid data found"),
        (
            "transcoder failed: [Errno 28] No space left on device: '/tmp/w/720p.mp4'",
            "transcoder failed: [Errno 28] No space left on device: '[path]'",
        ),
        ("fetching http://127.0.0.1:9000/vodkit/originals/v?X-Amz-Signature=s failed", "fetching [url] failed"),
        ("file:/data/objects/hls/v/240p/seg_00000.ts: denied", "[path]: denied"),
        (
            "allowed containers: MP4/MOV, ASF/WMV; 1/2 rate; 30000x30000",
            "allowed containers: MP4/MOV, ASF/WMV; 1/2 rate; 30000x30000",
        ),
    ],
)
def test_public_text_never_shows_a_server_path_or_url(text: str, public: str) -> None:
    assert without_locations(text) == public


def test_every_video_failed_reason_is_cut_of_server_paths_by_the_model_itself() -> None:
    failed = VideoFailed(stage="transcoder", reason="transcoder failed: /tmp/vodkit-transcode-abc/source: broken")
    assert failed.reason == "transcoder failed: [path]: broken"
    wire = Envelope.wrap(failed, video_id="v").to_json()
    assert b"/tmp" not in wire
    assert Envelope.from_json(wire).payload(VideoFailed).reason == failed.reason


def test_a_tool_failure_names_the_tool_and_its_last_line_without_paths() -> None:
    error = ToolFailed(
        ["/usr/bin/ffmpeg", "-i", "file:/tmp/w/source"], 1, b"noise\n/tmp/w/source: Invalid data found\n"
    )
    assert str(error) == "ffmpeg exited 1: [path]: Invalid data found"
    assert "/tmp/w/source" in error.stderr_tail  # the logs keep the detail
