"""What a log line is about: the service, the unit of work (request, event, job) and its video.

The fields are bound where a unit of work starts (the HTTP middleware in `access_log`, the bus's
`settle`, the transcoder's job runner) and `ContextFilter` adds them to every record logged
inside it, by any logger, so a call site never repeats them:

- `service`: the service that wrote the line (six share one process in `vodkit up`);
- `requestId`: the unit of work: an HTTP request's `X-Request-Id`, an event delivery's event id, a
  transcode attempt's own id;
- `videoId`, `correlationId`: the video, and the id that ties together everything one run of it
  caused: an event's own; for a request or a job about a video, the video id (that of its upload's
  run; an admin's retry runs under `<videoId>:retry-<n>`, `events.retry_correlation`);
- `eventId`, `eventType`: the event being handled.

An event carries no request id of its own: the envelope is a published contract, and the
correlation id already ties an event to the upload that caused it. Its lines use its event id.

All fields live in one context variable holding an immutable mapping: `binding` restores the
whole mapping on exit, so a field added inside (`bind`, say by a handler that learns the video
id from its body) never outlives the unit of work it was added in.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType

FIELDS = ("service", "requestId", "videoId", "correlationId", "eventId", "eventType")
_EMPTY: Mapping[str, str] = MappingProxyType({})
_BOUND: ContextVar[Mapping[str, str]] = ContextVar("vodkit_log_context", default=_EMPTY)

# What an id taken from outside (a header, a route) may look like before it is written to logs.
SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def bound() -> Mapping[str, str]:
    """The fields bound here now."""
    return _BOUND.get()


def _merged(fields: Mapping[str, str | None]) -> Mapping[str, str]:
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"not a log context field: {', '.join(sorted(unknown))}")
    kept = {name: value for name, value in fields.items() if value is not None}
    return MappingProxyType({**_BOUND.get(), **kept})


@contextlib.contextmanager
def binding(**fields: str | None) -> Iterator[None]:
    """Bind `fields` (None leaves a field as it is) inside the block; everything bound in it ends with it."""
    token = _BOUND.set(_merged(fields))
    try:
        yield
    finally:
        _BOUND.reset(token)


def bind(**fields: str | None) -> None:
    """Add `fields` until the enclosing `binding` ends (for the rest of the task, outside any)."""
    _BOUND.set(_merged(fields))


def bind_video(video_id: str) -> None:
    """The unit of work is about this video: its id, and its correlation id unless one is bound."""
    if SAFE_ID.fullmatch(video_id):
        bind(videoId=video_id, correlationId=bound().get("correlationId", video_id))


class ContextFilter(logging.Filter):
    """Adds the bound fields to each record a handler takes; a field the call site passed wins.

    On the handler, not a logger, so records of every logger get them; before any queue, so they
    are read in the thread (and task) that logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _BOUND.get().items():
            if name not in record.__dict__:
                setattr(record, name, value)
        return True
