"""The upload service's typed app keys: what `app.py` wires and the HTTP edges read."""

from __future__ import annotations

from aiohttp import web

from vodkit_shared.lifecycle import EndedVideos
from vodkit_shared.tokens import Tokens
from vodkit_upload.intake import ChunkIntake
from vodkit_upload.sessions import UploadSessions
from vodkit_upload.settings import UploadSettings

SETTINGS = web.AppKey("upload_settings", UploadSettings)
TOKENS = web.AppKey("tokens", Tokens)
SESSIONS = web.AppKey("sessions", UploadSessions)
ENDED = web.AppKey("upload_ended", EndedVideos)
INTAKE = web.AppKey("intake", ChunkIntake)
