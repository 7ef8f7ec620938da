"""Playback delivery: `/videos/{videoId}/{object}?token=…` serves a video's HLS objects and artwork.

The token is scoped to one video and short-lived. Playlists (and the storyboard's WebVTT) are
rewritten on the way out so that every URI in them carries the same token: a player that
only follows URIs fetches the whole stream, and a token for video A opens nothing of video B.

Segments and other objects honour single Range requests. Cache headers suit a CDN: segments
never change under their name (immutable, a year); playlists may be re-packaged (short), and the
early preview's playlist grows (a second).

An encrypted video's playlists name its keys (`EXT-X-KEY`, `keys/{n}.key`), served under the same token
with `Cache-Control: no-store` (content_keys.py).

A video its owner made `downloadable` also serves each rung's rendition, the transcoder's MP4 (faststart),
as a file to save (`download/{rung}.mp4`, `Content-Disposition: attachment`), under the same token.
Shared caches may not keep it (`private`): the owner can turn downloads off again at any time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web
from prometheus_client import Counter

from vodkit_gateway.auth import video_id
from vodkit_gateway.keys import CONTENT_KEYS, THUMBNAILS, TOKENS, VIDEOS
from vodkit_gateway.thumbnails import wanted
from vodkit_gateway.videos import VideoRecord
from vodkit_shared.content_keys import key_index
from vodkit_shared.rungs import PREVIEW
from vodkit_shared.service import STORAGE, ApiError
from vodkit_shared.storage import ObjectNotFound
from vodkit_shared.tokens import TokenError

# the object names playback serves, the one place they are written: the route table routes and
# documents them (rung names are `vodkit_shared.rungs`'), and the storyboard's index is signed by them
SEGMENT_PATTERN = r"seg_[0-9]{5}\.(?:ts|m4s)|init\.mp4"
SPRITE_PATTERN = r"sprite_[0-9]{3}\.jpg"
STORYBOARD_PATTERN = rf"storyboard\.vtt|{SPRITE_PATTERN}"
SUBTITLE_SEGMENT_PATTERN = r"seg_[0-9]{5}\.vtt"
SUBTITLE_REVISION_PATTERN = r"[0-9]{8}"
# a version of a subtitle track has its own folder and is never replaced under its names (immutable);
# masters written before that name one folder per language, replaced in place: short for those
_LEGACY_SUBTITLE_CACHE = "public, max-age=30"
_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/mp4",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt; charset=utf-8",
}
_LONG = "public, max-age=31536000, immutable"
_CACHE = {
    ".m3u8": "public, max-age=30",
    ".ts": _LONG,
    ".m4s": _LONG,
    ".mp4": _LONG,
    ".jpg": "public, max-age=3600",
    ".vtt": "public, max-age=3600",
}
_REWRITTEN = (".m3u8", ".vtt")
# The preview's playlist grows while the ladder encodes: players reload it every segment (2 s), and no
# cache, the browser's included, may answer them with an older one for longer than a second.
_PREVIEW_PLAYLIST = f"{PREVIEW}/playlist.m3u8"
_GROWING = "public, max-age=1"
SERVED = Counter("vodkit_playback_served_bytes_total", "Body bytes sent to players, by kind", ["kind"])
_KINDS = {
    ".m3u8": "playlist",
    ".ts": "segment",
    ".m4s": "segment",
    ".mp4": "segment",
    ".jpg": "artwork",
    ".vtt": "artwork",
}
_URI_ATTRIBUTE = re.compile(r'URI="([^"]+)"')
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def storage_key(video: str, path: str) -> str:
    """Where a playback path's object lives; the routes only let well-formed paths through."""
    prefix = "artwork" if path.startswith(("poster", "storyboard/")) else "hls"
    return f"{prefix}/{video}/{path}"


async def serve_master(request: web.Request) -> web.StreamResponse:
    return await _serve(request, "master.m3u8")


async def serve_media_playlist(request: web.Request) -> web.StreamResponse:
    return await _serve(request, f"{request.match_info['rung']}/playlist.m3u8")


async def serve_segment(request: web.Request) -> web.StreamResponse:
    return await _serve(request, f"{request.match_info['rung']}/{request.match_info['segment']}")


async def serve_subtitle_playlist(request: web.Request) -> web.StreamResponse:
    """A subtitle rendition's playlist (the packager's subtitles.py), its segment URIs signed."""
    return await _subtitle_playlist(request, f"{_subtitle_folder(request)}/playlist.m3u8", _LONG)


async def serve_subtitle_segment(request: web.Request) -> web.StreamResponse:
    """One WebVTT segment of a subtitle rendition, as stored (it names no other object)."""
    return await _subtitle_segment(request, f"{_subtitle_folder(request)}/{request.match_info['segment']}", _LONG)


async def serve_legacy_subtitle_playlist(request: web.Request) -> web.StreamResponse:
    path = f"subtitles/{request.match_info['language']}/playlist.m3u8"
    return await _subtitle_playlist(request, path, _LEGACY_SUBTITLE_CACHE)


async def serve_legacy_subtitle_segment(request: web.Request) -> web.StreamResponse:
    path = f"subtitles/{request.match_info['language']}/{request.match_info['segment']}"
    return await _subtitle_segment(request, path, _LEGACY_SUBTITLE_CACHE)


def _subtitle_folder(request: web.Request) -> str:
    return f"subtitles/{request.match_info['language']}/{request.match_info['revision']}"


async def _subtitle_playlist(request: web.Request, path: str, cache: str) -> web.StreamResponse:
    video, token = _authorised(request)
    return await _serve_rewritten(request, storage_key(video, path), ".m3u8", token, cache)


async def _subtitle_segment(request: web.Request, path: str, cache: str) -> web.StreamResponse:
    video, _ = _authorised(request)
    key = storage_key(video, path)
    size = await request.app[STORAGE].size(key)
    if size is None:
        raise ApiError(404, "not_found", "no such playback object")
    return await _stream(request, key, ".vtt", size, {"Cache-Control": cache})


async def serve_poster(request: web.Request) -> web.StreamResponse:
    return await _serve(request, "poster.jpg")


async def serve_storyboard(request: web.Request) -> web.StreamResponse:
    return await _serve(request, f"storyboard/{request.match_info['file']}")


def download_path(rung: str) -> str:
    return f"download/{rung}.mp4"


def downloads(video: VideoRecord) -> list[str]:
    """The rungs whose MP4 file may be downloaded now: a completed, downloadable video's ready ones."""
    if not (video.downloadable and video.status == "completed"):
        return []
    return sorted(rung for rung, state in video.qualities.items() if state == "ready")


async def serve_download(request: web.Request) -> web.StreamResponse:
    video_id_, _ = _authorised(request)
    rung = request.match_info["rung"]
    video = await request.app[VIDEOS].get(video_id_)
    if video is None or not video.downloadable:
        raise ApiError(403, "forbidden", "the owner has not made this video downloadable")
    if rung not in downloads(video):
        raise ApiError(404, "not_found", f"no {rung} download for this video (yet)")
    key = f"renditions/{video.video_id}/{rung}.mp4"
    size = await request.app[STORAGE].size(key)
    if size is None:
        raise ApiError(404, "not_found", "no such playback object")
    disposition = attachment(video.filename, rung)
    return await _stream(request, key, ".mp4", size, {"Content-Disposition": disposition, "Cache-Control": "private"})


async def serve_key(request: web.Request) -> web.Response:
    """An encrypted video's AES-128 key, as its playlists' `EXT-X-KEY` names it: to this video's token only,
    and kept by no cache (a key in a shared cache would open the segments to anyone who reached it)."""
    video_id_, _ = _authorised(request)
    key = await request.app[CONTENT_KEYS].key(video_id_, key_index(request.match_info["key"]))
    if key is None:
        raise ApiError(404, "not_found", "no such key")
    headers = {"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"}
    return web.Response(body=key, content_type="application/octet-stream", headers=headers)


async def serve_thumbnail(request: web.Request) -> web.Response:
    """A frame at `t`, `w` wide (thumbnails.py), once the video has its ladder."""
    video_id_, _ = _authorised(request)
    video = await request.app[VIDEOS].get(video_id_)
    if video is None or video.status != "completed" or video.duration_s is None:
        raise ApiError(404, "not_found", "the video has no renditions to take a thumbnail from (yet)")
    want = wanted(request.query.get("t"), request.query.get("w"), video.duration_s)
    image = await request.app[THUMBNAILS].jpeg(video.video_id, want)
    if request.method != "HEAD":
        SERVED.labels("artwork").inc(len(image))
    return web.Response(body=image, headers=_headers(".jpg", len(image), None))


def attachment(filename: str, rung: str) -> str:
    """`attachment` named after the upload and the rung: an ASCII name, and the exact one (RFC 6266, 8187)."""
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    name = f"{stem}-{rung}.mp4"
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]+", "_", name).strip() or f"video-{rung}.mp4"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def _serve(request: web.Request, path: str) -> web.StreamResponse:
    video, token = _authorised(request)
    key = storage_key(video, path)
    suffix = path[path.rindex(".") :]
    if suffix in _REWRITTEN:
        return await _serve_rewritten(request, key, suffix, token, _GROWING if path == _PREVIEW_PLAYLIST else None)
    size = await request.app[STORAGE].size(key)
    if size is None:
        raise ApiError(404, "not_found", "no such playback object")
    return await _stream(request, key, suffix, size)


def _authorised(request: web.Request) -> tuple[str, str]:
    """The video in the path and the token, if the token is valid for that video: 403 otherwise."""
    video = video_id(request)
    token = request.query.get("token", "")
    if not token:
        raise ApiError(403, "forbidden", "playback needs ?token=… from the video's playbackUrl")
    try:
        granted = request.app[TOKENS].verify_playback(token)
    except TokenError as error:
        raise ApiError(403, "forbidden", f"invalid playback token: {error}") from None
    if granted != video:
        raise ApiError(403, "forbidden", "the playback token is for another video")
    return video, token


async def _serve_rewritten(
    request: web.Request, key: str, suffix: str, token: str, cache_control: str | None = None
) -> web.Response:
    try:
        text = (await request.app[STORAGE].get_bytes(key)).decode()
    except ObjectNotFound:
        raise ApiError(404, "not_found", "no such playback object") from None
    body = (sign_playlist if suffix == ".m3u8" else sign_storyboard)(text, token).encode()
    byte_range = _byte_range(request, len(body))
    response = web.Response(
        body=body if byte_range is None else body[byte_range.start : byte_range.end + 1],
        status=200 if byte_range is None else 206,
        headers=_headers(suffix, len(body), byte_range, cache_control),
    )
    if request.method != "HEAD":
        SERVED.labels(_KINDS[suffix]).inc(len(body) if byte_range is None else byte_range.length)
    return response


async def _stream(
    request: web.Request, key: str, suffix: str, size: int, extra: dict[str, str] | None = None
) -> web.StreamResponse:
    byte_range = _byte_range(request, size)
    headers = {**_headers(suffix, size, byte_range), **(extra or {})}
    response = web.StreamResponse(status=200 if byte_range is None else 206, headers=headers)
    response.content_length = size if byte_range is None else byte_range.length
    await response.prepare(request)
    if request.method != "HEAD":
        offset, length = (0, None) if byte_range is None else (byte_range.start, byte_range.length)
        try:
            async for chunk in request.app[STORAGE].stream(key, offset, length):
                await response.write(chunk)
                SERVED.labels(_KINDS[suffix]).inc(len(chunk))
        except ObjectNotFound:
            pass  # deleted between stat and read: the response is cut short, and its length tells
    await response.write_eof()
    return response


def _headers(suffix: str, size: int, byte_range: ByteRange | None, cache_control: str | None = None) -> dict[str, str]:
    headers = {
        "Content-Type": _TYPES[suffix],
        "Cache-Control": cache_control or _CACHE[suffix],
        "Accept-Ranges": "bytes",
        "Access-Control-Allow-Origin": "*",  # the token, not the origin, is what grants access
        "Access-Control-Expose-Headers": "Content-Range, Accept-Ranges",  # a player on another site reads them
    }
    if byte_range is not None:
        headers["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{size}"
    return headers


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def _byte_range(request: web.Request, size: int) -> ByteRange | None:
    """The one range asked for, None for the whole object; 416 if it lies outside the object.

    A header that is not a single `bytes=` range is ignored, as RFC 9110 allows.
    """
    match = _RANGE.match(request.headers.get("Range", "").strip())
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(size - 1, int(last)) if last else size - 1
    if start >= size or start > end:
        raise ApiError(
            416, "range_not_satisfiable", f"the object has {size} bytes", headers={"Content-Range": f"bytes */{size}"}
        )
    return ByteRange(start, end)


def sign_playlist(text: str, token: str) -> str:
    """The playlist with `?token=` on every URI: URI lines and URI="…" attributes of tags."""
    query = "?token=" + quote(token, safe="")

    def sign(line: str) -> str:
        if line.startswith("#"):
            return _URI_ATTRIBUTE.sub(lambda m: f'URI="{m.group(1)}{query}"', line)
        return line + query if line.strip() else line

    return "\n".join(sign(line) for line in text.split("\n"))


def sign_storyboard(text: str, token: str) -> str:
    """The WebVTT with `?token=` before the `#xywh=` fragment of every sprite reference."""
    query = "?token=" + quote(token, safe="")
    return re.sub(rf"^({SPRITE_PATTERN})(#|$)", rf"\1{query}\2", text, flags=re.MULTILINE)
