"""Playback delivery: `/play/{token}/{path}` serves a video's HLS objects to anyone holding the token.

The token is scoped to one video and short-lived. Because it is a path segment, the relative
URIs inside the playlists (`720p/playlist.m3u8`, `seg_00000.ts`) resolve under the same token:
a plain HTTP client and hls.js fetch the whole stream with no rewriting.
"""

from __future__ import annotations

import re

from aiohttp import web

from vodkit_gateway.auth import TOKENS
from vodkit_shared.service import STORAGE, ApiError
from vodkit_shared.storage import ObjectNotFound
from vodkit_shared.tokens import TokenError

_HLS_PATH = re.compile(r"^(master\.m3u8|[0-9]{2,4}p/(playlist\.m3u8|init\.mp4|seg_[0-9]{5}\.(ts|m4s)))$")
_ARTWORK_PATH = re.compile(r"^(poster\.jpg|storyboard/(storyboard\.vtt|sprite_[0-9]{3}\.jpg))$")
_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/mp4",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
}
# Segments never change under their name; playlists may be re-packaged, so CDNs recheck them often.
_LONG = "public, max-age=31536000, immutable"
_CACHE = {
    ".m3u8": "public, max-age=60",
    ".ts": _LONG,
    ".m4s": _LONG,
    ".mp4": _LONG,
    ".jpg": "public, max-age=3600",
    ".vtt": "public, max-age=3600",
}


def storage_key(video_id: str, path: str) -> str | None:
    """Where a playback path's object lives, or None if the path names nothing servable."""
    if _HLS_PATH.match(path):
        return f"hls/{video_id}/{path}"
    if _ARTWORK_PATH.match(path):
        return f"artwork/{video_id}/{path}"
    return None


async def serve_hls(request: web.Request) -> web.StreamResponse:
    try:
        video_id = request.app[TOKENS].verify_playback(request.match_info["token"])
    except TokenError as error:
        raise ApiError(403, "forbidden", f"invalid playback token: {error}") from None
    path = request.match_info["path"]
    key = storage_key(video_id, path)
    if key is None:
        raise ApiError(404, "not_found", "no such playback object")
    storage = request.app[STORAGE]
    size = await storage.size(key)
    if size is None:
        raise ApiError(404, "not_found", "no such playback object")
    suffix = path[path.rindex(".") :]
    response = web.StreamResponse(
        headers={
            "Content-Type": _TYPES[suffix],
            "Cache-Control": _CACHE[suffix],
            "Access-Control-Allow-Origin": "*",
        }
    )
    response.content_length = size
    await response.prepare(request)
    if request.method != "HEAD":
        try:
            async for chunk in storage.stream(key):
                await response.write(chunk)
        except ObjectNotFound:
            pass  # deleted between stat and read: the response is cut short
    await response.write_eof()
    return response
