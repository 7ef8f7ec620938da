"""What the packager refuses, in its own words; its wiring names them as refusals (dead-lettered at once)."""

from __future__ import annotations


class PackagingRefused(Exception):
    """A rendition that can never be packaged; the video fails with this reason."""


class UnservableRung(PackagingRefused):
    """A rung whose name the gateway would not route: a master listing it would not play."""
