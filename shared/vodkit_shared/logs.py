"""JSON structured logs: one object per line, with the record's `extra` fields and the bound context.

Lines go to stdout (the container convention; a CLI command whose stdout is its answer passes
stderr). With `VODKIT_LOG_DIR` set they also go, as the same JSON lines, to `error.log` (ERROR and
above) and `combined.log` (everything) in that directory, each rotated at
`VODKIT_LOG_FILE_MAX_BYTES` (5 MB) keeping `VODKIT_LOG_FILE_COUNT` (5) files. Files are written by a
thread (a `QueueHandler` in front of a `QueueListener`), so a slow disk never blocks the event loop;
`logging_configured` stops the thread, writing what is queued, when the block ends.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import queue
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from vodkit_shared.log_context import ContextFilter
from vodkit_shared.settings import CommonSettings

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
MAX_FILE_BYTES = 5 * 1024 * 1024
FILE_COUNT = 5
# A last guard, should a message ever quote one: playback tokens travel as `?token=`, user tokens as
# `Authorization: Bearer`. Nothing logs them on purpose (the access log writes the route, never the URL).
_SECRETS = re.compile(r"(?i)(\b(?:token|access_token|signature|password|secret)=|\bBearer\s+)[^\s&\"',;]+")


_running: list[logging.handlers.QueueListener] = []  # the file thread now started, if any


def redacted(text: str) -> str:
    return _SECRETS.sub(r"\1[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redacted(json.dumps(entry, default=str))


class _AsFormatted(logging.Formatter):
    """The queue's records arrive as their finished JSON line (formatted where they were logged)."""

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()


@contextlib.contextmanager
def logging_configured(
    settings: CommonSettings | None = None, stream: TextIO | None = None
) -> Iterator[logging.handlers.QueueListener | None]:
    """Logging as the settings say, for the block; the file thread (yielded, if any) is stopped after it."""
    settings = settings or CommonSettings()
    listener = configure_logging(
        settings.log_level,
        stream=stream,
        log_dir=settings.log_dir,
        max_file_bytes=settings.log_file_max_bytes,
        file_count=settings.log_file_count,
    )
    try:
        yield listener
    finally:
        if listener is not None:
            stop_file_logs(listener)


def configure_logging(
    level: str = "INFO",
    *,
    stream: TextIO | None = None,
    log_dir: Path | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
    file_count: int = FILE_COUNT,
) -> logging.handlers.QueueListener | None:
    """JSON lines to `stream` (stdout), and to rotated files in `log_dir` if given: then the
    started listener that writes them is returned; the caller stops it (`stop_file_logs`)."""
    if _running:  # configured again (tests): the old thread ends, its files close
        stop_file_logs(_running[0])
    console = logging.StreamHandler(stream or sys.stdout)
    console.setFormatter(JsonFormatter())
    handlers: list[logging.Handler] = [console]
    listener = None
    if log_dir is not None:
        handoff, listener = _file_logs(log_dir, max_file_bytes, file_count)
        handlers.append(handoff)
    root = logging.getLogger()
    for handler in handlers:
        handler.addFilter(ContextFilter())
    root.handlers[:] = handlers
    root.setLevel(level.upper())
    for noisy in ("aio_pika", "aiormq", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return listener


def _file_logs(
    log_dir: Path, max_file_bytes: int, file_count: int
) -> tuple[logging.handlers.QueueHandler, logging.handlers.QueueListener]:
    log_dir.mkdir(parents=True, exist_ok=True)
    files: list[logging.Handler] = []
    for name, level in (("error.log", logging.ERROR), ("combined.log", logging.NOTSET)):
        handler = logging.handlers.RotatingFileHandler(
            log_dir / name, maxBytes=max_file_bytes, backupCount=file_count - 1, encoding="utf-8", delay=True
        )
        handler.setLevel(level)
        handler.setFormatter(_AsFormatted())
        files.append(handler)
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handoff = logging.handlers.QueueHandler(records)
    handoff.setFormatter(JsonFormatter())  # formatted here: the context and the exception are read on this side
    listener = logging.handlers.QueueListener(records, *files, respect_handler_level=True)
    listener.start()
    _running[:] = [listener]
    return handoff, listener


def stop_file_logs(listener: logging.handlers.QueueListener) -> None:
    """Write what is queued, end the thread, close the files (a second call does nothing)."""
    if listener in _running:
        _running.remove(listener)
    if listener._thread is None:  # QueueListener has no public "is running"; stop() twice would hang
        return
    listener.stop()
    for handler in listener.handlers:
        handler.close()
