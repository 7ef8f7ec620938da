"""What the upload service refuses, in its own words; the HTTP edges (`http.py`, `tus.py`) map each to a status."""

from __future__ import annotations


class UploadRefused(Exception):
    """A request the upload rules refuse; nothing of it was kept."""


class WrongVideo(UploadRefused):
    """The upload token is for another video."""


class BadChunk(UploadRefused):
    """The chunk or part breaks a rule of the form (index out of range, empty, another total)."""


class ChecksumMismatch(UploadRefused):
    """The body's digest is not the one the client sent."""


class TooLarge(UploadRefused):
    """The body goes past a limit: the chunk limit, or the size declared for the upload."""


class OffsetConflict(UploadRefused):
    """A tus append at an offset that is no longer the upload's end (another request got there first)."""


class UploadClosed(UploadRefused):
    """The video's upload is over (assembled, terminated, failed or deleted): nothing more is taken."""


class NoSuchUpload(UploadRefused):
    """There is no tus upload for the video (it expired, was terminated, or never was)."""


class OriginalMismatch(UploadRefused):
    """The assembled original is not what the client declared (size or SHA-256): the video fails."""
