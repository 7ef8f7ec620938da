"""How ffmpeg and ffprobe open a file, so that an upload's content cannot choose what they read.

ffmpeg picks its demuxer from a file's content, not its name, and several demuxers open whatever
the file lists: an HLS or DASH playlist its segments, an ffconcat list its entries, image2 a numbered
sequence. An upload that is a playlist of another user's segment paths would be "transcoded" into a
copy of that user's video. So every ffmpeg and ffprobe that reads an upload opens it through
`MediaInput.untrusted`: only the real video containers below may be chosen (`-format_whitelist`,
inherited by every nested open), and only the one protocol chain that reaches the file or URL the
service itself handed over (`-protocol_whitelist`). Our own renditions open with their container
forced (`MediaInput.own`). The security is the allow-list; `refusal` only words the reason, and may
look at the file's first bytes to do so.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# Demuxer names (ffmpeg matches any name of a demuxer: "mov" is "mov,mp4,m4a,3gp,3g2,mj2").
ACCEPTED_CONTAINERS: dict[str, str] = {
    "mov": "MP4/MOV",
    "matroska": "Matroska/WebM",
    "mpegts": "MPEG-TS",
    "mpeg": "MPEG-PS",
    "avi": "AVI",
    "flv": "FLV",
    "mxf": "MXF",
    "asf": "ASF/WMV",
    "ogg": "Ogg",
    "dv": "DV",
    "mp3": "MP3",  # audio alone (a podcast): its one rung is audio
    "wav": "WAV",
    "flac": "FLAC",
}
ACCEPTED = ", ".join(ACCEPTED_CONTAINERS.values())
_PROTOCOLS = {"http": "http,tcp", "https": "https,tls,tcp"}
_NOT_ON_WHITELIST = re.compile(r"\[([\w,]+) @ 0x[0-9a-f]+\] Format not on whitelist")
_PLAYLISTS = {
    "hls": "an HLS playlist is not a video file",
    "dash": "a DASH manifest is not a video file",
    "concat": "an ffconcat list is not a video file",
}
# First bytes, only to word a refusal the allow-list has already made.
_MAGIC = (
    (b"#EXTM3U", "an HLS playlist is not a video file"),
    (b"ffconcat", "an ffconcat list is not a video file"),
    (b"PK\x03\x04", "a zip archive is not a video file"),
    (b"%PDF", "a PDF document is not a video file"),
)
HEAD_BYTES = 512


@dataclass(frozen=True)
class MediaInput:
    """One `-i` of ffmpeg or ffprobe: the URL it opens and the options that confine it."""

    url: str
    options: dict[str, str]

    @classmethod
    def untrusted(cls, location: str | Path) -> MediaInput:
        """An upload, at a local path or at a presigned http(s) URL."""
        text = os.path.abspath(location) if isinstance(location, Path) else location
        scheme = urlsplit(text).scheme
        if scheme in _PROTOCOLS:
            protocols = _PROTOCOLS[scheme]
        elif text.startswith("/"):
            text, protocols = f"file:{text}", "file"
        else:
            raise ValueError("an upload is read from an absolute path or an http(s) URL")
        return cls(text, {"format_whitelist": ",".join(ACCEPTED_CONTAINERS), "protocol_whitelist": protocols})

    @classmethod
    def own(cls, path: Path, container: str = "mp4") -> MediaInput:
        """A file vodkit wrote itself, of a known container."""
        return cls(f"file:{path.absolute()}", {"f": container, "protocol_whitelist": "file"})

    @property
    def args(self) -> list[str]:
        """The options then `-i URL`, as ffmpeg and ffprobe take them."""
        flags = [item for key, value in self.options.items() for item in (f"-{key}", value)]
        return [*flags, "-i", self.url]


def refusal(stderr: str, head: bytes = b"") -> str:
    """A readable reason for an upload ffprobe/ffmpeg refused to open, from what they said."""
    found = _NOT_ON_WHITELIST.search(stderr)
    if found:
        name = found.group(1)
        if name in _PLAYLISTS:
            return _PLAYLISTS[name]
        if name.startswith("image2") or name.endswith("_pipe") or name in ("gif", "webp"):
            return "a still image is not a video"
        return f"a {name} file is not a video container vodkit accepts (allowed containers: {ACCEPTED})"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    for magic, reason in _MAGIC:
        if stripped.startswith(magic):
            return reason
    if b"<MPD" in head:
        return "a DASH manifest is not a video file"
    if "Protocol not on whitelist" in stderr:
        return "the file refers to other files or addresses, which vodkit does not follow"
    return f"not a video file vodkit accepts (allowed containers: {ACCEPTED})"
