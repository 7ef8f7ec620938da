"""ffmpeg and ffprobe as asyncio subprocesses (never blocking the event loop)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from vodkit_shared.media_input import MediaInput
from vodkit_shared.redaction import without_locations


class ToolFailed(Exception):
    """A media tool exited non-zero; `stderr_tail` says why (for logs: it may name server paths).

    The message itself names the tool and its last line with every path and URL cut out, as it may
    end up in a public failure reason.
    """

    def __init__(self, argv: Sequence[str], code: int, stderr: bytes) -> None:
        self.stderr_tail = stderr.decode(errors="replace").strip()[-2000:]
        self.last_line = without_locations(self.stderr_tail.splitlines()[-1] if self.stderr_tail else "no output")
        super().__init__(f"{Path(argv[0]).name} exited {code}: {self.last_line}")


async def run(argv: Sequence[str]) -> bytes:
    """Run to completion; returns stdout, raises ToolFailed on a non-zero exit."""
    out, _ = await run_capturing(argv)
    return out


async def run_capturing(argv: Sequence[str]) -> tuple[bytes, bytes]:
    """Run to completion; returns stdout and stderr (where ffmpeg's filters report), raises ToolFailed."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await process.communicate()
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise ToolFailed(argv, process.returncode or -1, err)
    return out, err


async def run_with_lines(argv: Sequence[str]) -> AsyncIterator[str]:
    """Run, yielding stdout lines as they come (ffmpeg's `-progress pipe:1`)."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    assert process.stderr is not None
    stderr_task = asyncio.create_task(process.stderr.read())
    try:
        async for line in process.stdout:
            yield line.decode(errors="replace").strip()
        code = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    err = await stderr_task
    if code != 0:
        raise ToolFailed(argv, code, err)


async def probe(media: MediaInput) -> dict[str, Any]:
    """ffprobe's JSON view of a media file (format and streams)."""
    out = await run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", *media.args])
    result: dict[str, Any] = json.loads(out)
    return result
