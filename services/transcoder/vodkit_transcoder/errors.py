"""What the transcoder refuses, in its own words: the job runner fails such a job at once, without retrying."""

from __future__ import annotations


class TranscodeRefused(Exception):
    """The source can never be transcoded; the reason is for the uploader (no server paths in it)."""


class UnsupportedMedia(TranscodeRefused):
    """The upload is not a video vodkit can transcode: not a container it accepts, undecodable, or beyond its limits."""
