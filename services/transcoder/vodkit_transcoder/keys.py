"""The transcoder's typed app keys: what `app.py` wires."""

from __future__ import annotations

from aiohttp import web

from vodkit_transcoder.jobs import JobQueue
from vodkit_transcoder.runner import JobRunner
from vodkit_transcoder.settings import TranscoderSettings
from vodkit_transcoder.worker import Transcoder

SETTINGS = web.AppKey("transcoder_settings", TranscoderSettings)
JOBS = web.AppKey("jobs", JobQueue)
TRANSCODER = web.AppKey("transcoder", Transcoder)
RUNNER = web.AppKey("runner", JobRunner)
