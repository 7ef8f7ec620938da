"""What every service's HTTP app has: ops routes, JSON errors, request metrics, shared resources.

A service's `create_app` calls `service_app(name, settings)`, then adds its own routes and
`cleanup_ctx` entries. Resources (bus, storage, metadata) are opened by `with_resources` in
cleanup contexts and reached through the typed keys below.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from vodkit_shared.access_log import ACCESS_LOG, AccessLine, access_log_for, name_service_lines, request_id_header_for
from vodkit_shared.bus import BusUnavailable, MessageBus, RetryPolicy, open_bus
from vodkit_shared.metadata import MetadataStore, open_metadata
from vodkit_shared.metrics import serves_metrics
from vodkit_shared.settings import CommonSettings
from vodkit_shared.storage import ObjectStorage, StorageUnavailable
from vodkit_shared.tiers import open_object_storage

log = logging.getLogger(__name__)

SERVICE = web.AppKey("service", str)
BUS = web.AppKey("bus", MessageBus)
STORAGE = web.AppKey("storage", ObjectStorage)
METADATA = web.AppKey("metadata", MetadataStore)
ReadinessCheck = Callable[[], Awaitable[None]]
READINESS = web.AppKey("readiness", list[ReadinessCheck])

# After SIGTERM, requests in flight get this long to finish before they are cancelled (aiohttp's
# default is 60 s): a process exits within 10 s, `vodkit up` (gateway, then upload) included.
SHUTDOWN_GRACE_S = 3.0

HTTP_REQUESTS = Counter("vodkit_http_requests_total", "HTTP requests served", ["service", "route", "status"])
HTTP_SECONDS = Histogram(
    "vodkit_http_request_duration_seconds", "HTTP request latency, long-lived streams left out", ["service", "route"]
)
STREAMS = ("text/event-stream",)  # open as long as the client listens: their time is no latency
READY = Gauge("vodkit_service_ready", "1 if the last /readyz found every dependency answering, else 0", ["service"])


class ApiError(Exception):
    """An error the client caused or may act on, rendered as `{"error": {"code", "message"}}`."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


CLIENT_GONE = 499  # nginx's "client closed request": counted apart from the server's own errors
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


_UNAVAILABLE = {
    BusUnavailable: ("bus_unavailable", "the message bus"),
    StorageUnavailable: ("storage_unavailable", "the object store"),
}


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    service = request.app[SERVICE]
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    started = time.perf_counter()
    try:
        response = await handler(request)
    except ApiError as error:
        response = web.json_response(error_body(error.code, error.message), status=error.status, headers=error.headers)
    except (BusUnavailable, StorageUnavailable) as error:  # what was stored stays: the same request, later, finishes
        code, what = _UNAVAILABLE[type(error)]
        log.warning(f"answered 503: {what} is unavailable", extra={"service": service, "path": request.path})
        body = error_body(code, f"{what} is unavailable: try again shortly")
        response = web.json_response(body, status=503, headers={"Retry-After": "5"})
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = _CODES.get(error.status, "error")
        kept = {name: error.headers[name] for name in ("Allow",) if name in error.headers}  # 405 says what is
        response = web.json_response(error_body(code, error.reason), status=error.status, headers=kept)
    except Exception:
        if not client_gone(request):
            log.exception("unhandled error", extra={"service": service, "path": request.path})
        response = web.json_response(error_body("internal", "internal error"), status=500)
    if response.status >= 500 and client_gone(request):  # not our fault, and nobody hears the answer
        log.info("client disconnected", extra={"service": service, "path": request.path})
        response = web.json_response(error_body("client_disconnected", "the client went away"), status=CLIENT_GONE)
    HTTP_REQUESTS.labels(service, route, str(response.status)).inc()
    if response.content_type not in STREAMS:
        HTTP_SECONDS.labels(service, route).observe(time.perf_counter() - started)
    return response


def client_gone(request: web.Request) -> bool:
    """The client closed the connection before it had its answer (an aborted upload, a closed tab)."""
    transport = request.transport
    return transport is None or transport.is_closing()


def bearer_token(request: web.Request) -> str:
    """The token of an `Authorization: Bearer <token>` header; 401 without one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "missing 'Authorization: Bearer <token>' header")
    return token.strip()


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": request.app[SERVICE]})


async def readyz(request: web.Request) -> web.Response:
    for check in request.app[READINESS]:
        try:
            await check()
        except Exception as error:  # noqa: BLE001 - any failure means not ready
            READY.labels(request.app[SERVICE]).set(0)
            return web.json_response({"status": "unready", "reason": str(error)}, status=503)
    READY.labels(request.app[SERVICE]).set(1)
    return web.json_response({"status": "ready", "service": request.app[SERVICE]})


async def metrics(request: web.Request) -> web.Response:
    if not serves_metrics(request.app):
        raise web.HTTPNotFound()
    response = web.Response(body=generate_latest())
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response


def service_app(name: str, client_max_size: int = 1024**2) -> web.Application:
    # access_log first: what json_errors logs names the request too (aiohttp writes the line, `AccessLine`)
    app = web.Application(middlewares=[access_log_for(name), json_errors], client_max_size=client_max_size)
    name_service_lines(app, name)
    app.on_response_prepare.append(request_id_header_for(name))
    app[SERVICE] = name
    app[READINESS] = []
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


def with_resources(
    app: web.Application, settings: CommonSettings, *, bus: bool = True, storage: bool = True, metadata: bool = True
) -> None:
    """Open the adapters the settings name, each in its own cleanup context."""
    if metadata:
        app.cleanup_ctx.append(_metadata_ctx(settings))
    if storage:
        app.cleanup_ctx.append(_storage_ctx(settings))
    if bus:
        app.cleanup_ctx.append(_bus_ctx(settings))


def _metadata_ctx(settings: CommonSettings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        store = await open_metadata(settings.resolved_db_url())
        app[METADATA] = store
        app[READINESS].append(store.ping)
        yield
        await store.close()

    return ctx


def _storage_ctx(settings: CommonSettings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        storage = await open_object_storage(settings, app.get(METADATA))
        app[STORAGE] = storage
        app[READINESS].append(storage.ping)
        yield
        await storage.close()

    return ctx


def _bus_ctx(settings: CommonSettings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        policy = RetryPolicy(settings.retry_attempts, settings.retry_base_delay_s)
        bus = await open_bus(settings.bus_url, settings.bus_exchange, policy)
        app[BUS] = bus
        app[READINESS].append(bus.ping)
        yield
        await bus.close()

    return ctx


@contextlib.asynccontextmanager
async def running_every(interval_s: float, work: Callable[[], Awaitable[object]]) -> AsyncIterator[None]:
    """Run `work` every `interval_s` seconds inside the block; a failure waits for the next turn."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await work()
            except Exception:
                log.exception("periodic work failed; trying again next time")

    task = asyncio.create_task(loop(), name=f"every {interval_s}s")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `app`; returns its runner and the port it listens on (useful with port 0)."""
    runner = web.AppRunner(app, access_log_class=AccessLine, access_log=ACCESS_LOG, shutdown_timeout=SHUTDOWN_GRACE_S)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server  # aiohttp exposes no public accessor for the bound socket
    assert server is not None
    sockets = getattr(server, "sockets", None) or []
    return runner, int(sockets[0].getsockname()[1]) if sockets else port
