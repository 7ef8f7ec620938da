"""Public text never shows where things live on a server: file paths and URLs are cut out.

A tool's error line ("/tmp/vodkit-transcode-…/source: Invalid data …"), an OSError, a presigned URL:
each names server paths or storage addresses an uploader has no business seeing.
"""

from __future__ import annotations

import re

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
# An absolute path (or file:/ URL): a "/" not preceded by a word character, then path characters.
_PATH = re.compile(r"(?<![\w.:/])(?:file:)?/(?:[\w.+@%~=-]+/)*[\w.+@%~=-]+/?")


def without_locations(text: str) -> str:
    """`text` with every URL and absolute path replaced by a placeholder."""
    return _PATH.sub("[path]", _URL.sub("[url]", text))
