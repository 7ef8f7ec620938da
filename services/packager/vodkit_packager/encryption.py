"""AES-128 for the segments of an encrypted video (`vodkit_shared.content_keys`).

Each rung is cut in the clear by stream copy as usual; then every segment is encrypted whole
(AES-128-CBC, its media sequence number as IV) with key `i // rotation_segments`, and the playlist
gets an `EXT-X-KEY` before the first segment of each key. The rungs share keys by segment index, so
a player switching rungs fetches no extra key. The fMP4 initialisation segment stays in the clear
(its `EXT-X-MAP` comes before the first `EXT-X-KEY`): it holds no media, only the codecs' setup.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

from vodkit_packager.hls import Segment
from vodkit_shared.content_keys import ContentKeys, EncryptionPolicy, encrypt_segment, key_tag, media_sequence


async def encrypt_rendition(
    video_id: str, out_dir: Path, playlist: Path, segments: list[Segment], keys: ContentKeys, policy: EncryptionPolicy
) -> None:
    """Encrypt the segments in `out_dir` in place and write their keys' tags into `playlist`."""
    rotation = policy.rotation_segments
    video_keys = await keys.keys_for(video_id, math.ceil(len(segments) / rotation))
    text = await asyncio.to_thread(playlist.read_text)
    first = media_sequence(text)
    for index, segment in enumerate(segments):
        path = out_dir / segment.name
        data = await asyncio.to_thread(path.read_bytes)
        sealed = await asyncio.to_thread(encrypt_segment, data, video_keys[index // rotation], first + index)
        await asyncio.to_thread(path.write_bytes, sealed)
    await asyncio.to_thread(playlist.write_text, keyed_playlist(text, rotation))


def keyed_playlist(text: str, rotation_segments: int) -> str:
    """The media playlist with `#EXT-X-KEY` before the first segment of each key."""
    lines, index = [], 0
    for line in text.split("\n"):
        if line.startswith("#EXTINF:"):
            if index % rotation_segments == 0:
                lines.append(key_tag(index // rotation_segments))
            index += 1
        lines.append(line)
    return "\n".join(lines)
