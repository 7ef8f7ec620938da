"""JSON log lines: the bound context on every line, secrets kept out, rotated files written by a thread."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vodkit_shared import log_context
from vodkit_shared.bus import RetryPolicy, Subscription
from vodkit_shared.bus.port import Verdict, settle
from vodkit_shared.events import Envelope, VideoAssembled
from vodkit_shared.logs import JsonFormatter, configure_logging, logging_configured, stop_file_logs
from vodkit_shared.settings import CommonSettings

pytestmark = pytest.mark.unit
log = logging.getLogger("tests.logs")


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """Logging as a service configures it, into a buffer; the test runner's own handlers put back after."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    yield out
    root.handlers[:] = saved
    root.setLevel(level)


def entries(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_binding_adds_its_fields_to_every_line_inside_and_none_after(lines: io.StringIO) -> None:
    with log_context.binding(service="packager", requestId="r-1"):
        log.info("inside")
        with log_context.binding(videoId="v-1", correlationId="c-1"):
            logging.getLogger("some.library").warning("deeper, another logger")
        log_context.bind(eventType="rendition.ready")  # added in the block: ends with it
        log.info("added")
    log.info("outside")
    inside, deeper, added, outside = entries(lines)
    assert (inside["service"], inside["requestId"]) == ("packager", "r-1")
    assert "videoId" not in inside
    assert (deeper["service"], deeper["videoId"], deeper["correlationId"]) == ("packager", "v-1", "c-1")
    assert added["eventType"] == "rendition.ready"
    assert "videoId" not in added
    assert not set(log_context.FIELDS) & set(outside)
    assert log_context.bound() == {}


def test_a_field_the_call_site_passes_wins_over_the_bound_one(lines: io.StringIO) -> None:
    with log_context.binding(service="gateway", videoId="bound"):
        log.info("explicit", extra={"videoId": "given"})
    assert entries(lines)[0]["videoId"] == "given"


def test_only_known_fields_are_bound_and_an_unsafe_video_id_is_not() -> None:
    with pytest.raises(ValueError, match="not a log context field: token"):
        log_context.bind(token="x")
    with log_context.binding(requestId="r"):
        log_context.bind_video('v1", "level": "forged')
        assert "videoId" not in log_context.bound()
        log_context.bind_video("0b7e6d1c-2f4a-4f0e-9d7e-8a1f5c3b2a10")
        assert log_context.bound()["correlationId"] == "0b7e6d1c-2f4a-4f0e-9d7e-8a1f5c3b2a10"


async def test_concurrent_tasks_keep_their_own_context(lines: io.StringIO) -> None:
    async def work(name: str) -> None:
        with log_context.binding(requestId=name, videoId=f"video-{name}"):
            for step in range(3):
                await asyncio.sleep(0)
                log.info("step %d", step)

    await asyncio.gather(*(work(name) for name in ("a", "b", "c")))
    logged = entries(lines)
    assert len(logged) == 9
    assert all(entry["videoId"] == f"video-{entry['requestId']}" for entry in logged)


def test_tokens_in_a_message_are_redacted() -> None:
    record = logging.makeLogRecord(
        {"msg": "GET /videos/v/master.m3u8?token=eyJhbGciOi.payload.sig&x=1 with Authorization: Bearer abc.def.ghi"}
    )
    line = JsonFormatter().format(record)
    assert "eyJhbGciOi" not in line
    assert "abc.def.ghi" not in line
    assert "?token=[redacted]&x=1" in line
    assert "Bearer [redacted]" in line
    assert json.loads(line)["msg"].startswith("GET /videos/v/master.m3u8?token=[redacted]")


async def test_an_event_delivery_binds_its_envelope_and_is_logged_once_handled(lines: io.StringIO) -> None:
    envelope = Envelope.wrap(VideoAssembled(source_key="originals/v/source", size=3), video_id=str(uuid.uuid4()))

    async def handler(_: Envelope) -> None:
        log.info("handling")

    sub = Subscription("transcoder", VideoAssembled.TYPE, handler)
    settlement = await settle(sub, envelope, 1, RetryPolicy(3, 0))
    assert settlement.verdict is Verdict.ACK
    handling, handled = entries(lines)
    expected = {
        "service": "transcoder",
        "requestId": str(envelope.id),
        "eventId": str(envelope.id),
        "eventType": "video.assembled",
        "videoId": envelope.video_id,
        "correlationId": envelope.correlation_id,
    }
    assert {name: handling.get(name) for name in expected} == expected
    assert {name: handled.get(name) for name in expected} == expected
    assert (handled["msg"], handled["attempt"]) == ("event handled", 1)
    assert handled["durationMs"] >= 0
    assert log_context.bound() == {}


async def test_a_failed_delivery_is_logged_with_its_context_and_not_as_handled(lines: io.StringIO) -> None:
    envelope = Envelope.wrap(VideoAssembled(source_key="k", size=1), video_id="v-9")

    async def handler(_: Envelope) -> None:
        raise RuntimeError("store down")

    settlement = await settle(Subscription("transcoder", VideoAssembled.TYPE, handler), envelope, 1, RetryPolicy(3, 0))
    assert settlement.verdict is Verdict.RETRY
    [retry] = entries(lines)
    assert (retry["msg"], retry["level"], retry["requestId"], retry["videoId"]) == (
        "event retry",
        "WARNING",
        str(envelope.id),
        "v-9",
    )


def _file_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_file_logs_rotate_at_their_size_keep_their_count_and_split_errors(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    out = io.StringIO()
    listener = configure_logging("INFO", stream=out, log_dir=tmp_path / "logs", max_file_bytes=2048, file_count=3)
    try:
        assert listener is not None
        with log_context.binding(service="upload", videoId="v-files"):
            for number in range(200):
                log.info("line %d %s", number, "x" * 40)
            log.error("the one error")
        stop_file_logs(listener)  # writes what is queued, then the thread ends
        stop_file_logs(listener)  # a second stop does nothing
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
    logs = tmp_path / "logs"
    assert sorted(path.name for path in logs.iterdir()) == [
        "combined.log",
        "combined.log.1",
        "combined.log.2",
        "error.log",
    ]
    assert all(path.stat().st_size <= 2048 for path in logs.iterdir())
    newest = _file_lines(logs / "combined.log")
    assert newest[-1]["msg"] == "the one error"  # nothing lost at the stop
    kept = _file_lines(logs / "combined.log.2") + _file_lines(logs / "combined.log.1") + newest
    assert [entry["msg"] for entry in kept[:-1]] == [f"line {n} {'x' * 40}" for n in range(201 - len(kept), 200)]
    assert all((entry["service"], entry["videoId"]) == ("upload", "v-files") for entry in kept)
    assert [entry["msg"] for entry in _file_lines(logs / "error.log")] == ["the one error"]
    assert len(out.getvalue().splitlines()) == 201  # stdout has every line too


def test_without_a_log_dir_no_file_is_written_and_with_one_the_thread_stops_after_the_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    monkeypatch.chdir(tmp_path)
    try:
        monkeypatch.setenv("VODKIT_LOG_DIR", "")
        with logging_configured(CommonSettings(), stream=io.StringIO()) as listener:
            assert listener is None
        monkeypatch.setenv("VODKIT_LOG_DIR", str(tmp_path / "var-log"))
        monkeypatch.setenv("VODKIT_LOG_FILE_MAX_BYTES", "4096")
        with logging_configured(CommonSettings(), stream=io.StringIO()) as listener:
            assert listener is not None
            log.warning("kept")
        assert listener._thread is None  # stopped: written, closed
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["var-log"]
    assert [entry["msg"] for entry in _file_lines(tmp_path / "var-log" / "combined.log")] == ["kept"]
    assert not (tmp_path / "var-log" / "error.log").exists()  # opened only once an error comes
