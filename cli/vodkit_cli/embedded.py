"""`vodkit up`: all six services in one process, on the embedded defaults.

Each service keeps its own app (and its own /healthz, /readyz) on a loopback port; they share
the in-memory bus, the data dir's files and its SQLite database. Only the gateway is public.
They share one Prometheus registry too: the gateway's /metrics serves all six services' metrics,
once, and the internal ports answer 404 there (`vodkit_shared.metrics.withhold_metrics`).
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiohttp import web

from vodkit_cli.services import SERVICES
from vodkit_shared.metrics import withhold_metrics
from vodkit_shared.service import start_site

INTERNAL_HOST = "127.0.0.1"


async def run_all(host: str, port: int) -> None:
    runners: list[web.AppRunner] = []
    try:
        upload_port = 0
        for name, spec in SERVICES.items():
            if name == "gateway":
                continue
            app = spec.create_app(spec.settings(port=0))
            withhold_metrics(app)  # the gateway's /metrics serves the process's one registry
            runner, bound = await start_site(app, INTERNAL_HOST, 0)
            runners.append(runner)
            upload_port = bound if name == "upload" else upload_port
        gateway = SERVICES["gateway"]
        settings = gateway.settings(host=host, port=port, upload_url=f"http://{INTERNAL_HOST}:{upload_port}")
        runner, bound = await start_site(gateway.create_app(settings), host, port)
        runners.append(runner)
        print(f"vodkit is up: http://{host}:{bound}  (health: http://{host}:{bound}/healthz)", flush=True)
        await _until_stopped()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("vodkit is stopping", file=sys.stderr, flush=True)
