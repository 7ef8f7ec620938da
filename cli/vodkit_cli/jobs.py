"""`vodkit jobs list|retry|replay`: the gateway's job console (`/api/admin/…`) from a terminal.

It calls the API with an admin token (one made here with the `admin` role from VODKIT_AUTH_SECRET,
or `--token`), so what it may do and what it sees are exactly what the API allows.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp


class ConsoleRefused(Exception):
    """The gateway refused: its JSON error message, for one line on stderr."""


async def call(base_url: str, token: str, method: str, path: str, params: dict[str, str] | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as client,
        client.request(method, base_url.rstrip("/") + path, headers=headers, params=params) as response,
    ):
        body = await response.json(content_type=None)
        if response.status >= 400:
            message = body.get("error", {}).get("message") if isinstance(body, dict) else None
            raise ConsoleRefused(f"{response.status}: {message or 'refused'}")
        return body


def job_lines(body: dict[str, Any]) -> list[str]:
    """One line per job: id, state, progress, stage and reason; retryable ones say so."""
    lines = []
    for job in body["jobs"]:
        tries = f" after {job['attempts']} attempts" if job.get("attempts") else ""
        reason = f" {job['failedStage']}{tries}: {job['reason']}" if job["state"] == "failed" else ""
        tail = " (retryable)" if job["retryable"] else ""
        head = f"{job['videoId']}  {job['state']:<7} {job['progress']:>3}%  retries={job['retries']}"
        lines.append(head + reason + tail)
    return lines or ["no jobs"]


def dead_letter_lines(body: dict[str, Any]) -> list[str]:
    lines = [
        f"{d['service']:<16} {d['type']:<18} {d['videoId']}  {d['eventId']}  attempts={d['attempts']}  {d['error']}"
        for d in body["deadLetters"]
    ]
    return lines or ["no dead letters"]


def as_json(body: Any) -> str:
    return json.dumps(body, indent=2)
