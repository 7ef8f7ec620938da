"""The one rule for naming a rung, `{height}p`: the ladder names rungs by it, the packager checks it,
the gateway routes playback by it, so every rung a master playlist lists is one the gateway serves.
A source with no picture (a podcast) has one rung, `audio`.
"""

from __future__ import annotations

import re

MIN_RUNG_HEIGHT = 16  # the transcoder refuses smaller sources, so no rung is below it
MAX_RUNG_HEIGHT = 8192
AUDIO_ONLY = "audio"  # the one rung of a source with audio and no picture
RUNG_PATTERN = rf"(?:[0-9]{{2,4}}p|{AUDIO_ONLY})"  # as a route and OpenAPI pattern: every height from 16 to 8192
PREVIEW = "preview"  # the early, fast rendition a video plays at while its ladder encodes
RENDITION_PATTERN = rf"{RUNG_PATTERN}|{PREVIEW}"  # what playback serves: the ladder's rungs and the preview


def rung_name(height: int) -> str:
    if not MIN_RUNG_HEIGHT <= height <= MAX_RUNG_HEIGHT:
        raise ValueError(f"no rung is {height} px tall ({MIN_RUNG_HEIGHT} to {MAX_RUNG_HEIGHT})")
    return f"{height}p"


def is_rung_name(name: str) -> bool:
    if name == AUDIO_ONLY:
        return True
    return re.fullmatch(RUNG_PATTERN, name) is not None and MIN_RUNG_HEIGHT <= int(name[:-1]) <= MAX_RUNG_HEIGHT
