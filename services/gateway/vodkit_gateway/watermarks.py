"""Watermarks in the gateway: the store, and what a video's creation and deletion do to its record.

The records themselves (`vodkit_shared.watermarks`) are the contract with the transcoder, which reads a
video's at its job's start; the HTTP routes are in `watermark_api.py`.
"""

from __future__ import annotations

from aiohttp import web

from vodkit_gateway.keys import WATERMARKS
from vodkit_shared.watermarks import Watermarks, user_key, video_key


def watermarks(app: web.Application) -> Watermarks:
    return app[WATERMARKS]


async def snapshot_default(app: web.Application, owner: str, video_id: str) -> None:
    """A new video's watermark: a copy of its owner's default, if there is one (later changes to the default
    do not reach it)."""
    await watermarks(app).copy(user_key(owner), video_key(video_id))


async def forget_video(app: web.Application, video_id: str) -> None:
    """The video is gone: so is its watermark."""
    await watermarks(app).delete(video_key(video_id))
