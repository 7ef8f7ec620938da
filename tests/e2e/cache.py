"""A real cache on loopback for the CDN tests and the edge benchmark: Debian's varnishd in front of
an origin, a counting proxy that says what reached the origin, and viewers that play through it."""

from __future__ import annotations

import asyncio
import http.client
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import aiohttp
import pytest

from tests.e2e.conftest import _start, _stop
from tests.e2e.pipeline import get, service_env
from tests.support import REQUIRE_SERVERS, free_port

EDGE_VCL = Path(__file__).resolve().parents[2] / "deploy" / "edge" / "varnish" / "vodkit.vcl"
# Every URL its own object, whatever its query string: how the cache was keyed before the edge VCL.
PER_URL_VCL = """vcl 4.1;
include "vodkit-origin.vcl";
acl purgers { "127.0.0.1"; }

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) { return (synth(405, "PURGE from localhost only")); }
        return (purge);
    }
    if (req.method == "BAN") {
        if (client.ip !~ purgers) { return (synth(405, "BAN from localhost only")); }
        if (!req.http.X-Ban-Url) { return (synth(400, "send X-Ban-Url")); }
        ban("obj.http.x-url ~ " + req.http.X-Ban-Url);
        return (synth(200, "banned"));
    }
}

sub vcl_backend_response {
    set beresp.http.x-url = bereq.url;  # what BAN expressions match, query string (token) included
}

sub vcl_deliver {
    if (obj.hits > 0) { set resp.http.X-Cache = "HIT"; } else { set resp.http.X-Cache = "MISS"; }
    unset resp.http.x-url;
}
"""


def varnishd() -> str:
    found = shutil.which("varnishd") or ("/usr/sbin/varnishd" if Path("/usr/sbin/varnishd").exists() else None)
    if found:
        return found
    if REQUIRE_SERVERS:
        pytest.fail("varnishd is missing (make test installs it: scripts/ensure-varnish)")
    pytest.skip("varnishd is missing; run `make test` to install Debian's varnish")


def need_digest_vmod() -> None:
    """The edge VCL imports Debian's varnish-vmod-digest."""
    if list(Path("/usr/lib").glob("*/varnish/vmods/libvmod_digest.so")):
        return
    if REQUIRE_SERVERS:
        pytest.fail("varnish-vmod-digest is missing (make test installs it: scripts/ensure-varnish)")
    pytest.skip("varnish-vmod-digest is missing; run `make test` to install it")


def start_varnish(
    workdir: Path,
    origin_port: int,
    vcl: Path | str = PER_URL_VCL,
    env: dict[str, str] | None = None,
    storage: str = "malloc,64m",
) -> tuple[subprocess.Popen[bytes], int]:
    """varnishd on a free loopback port with `vcl` (a file, or the text of one), its origin at
    `origin_port` given as the `vodkit-origin.vcl` include the edge VCL expects."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "vodkit-origin.vcl").write_text(f'backend origin {{ .host = "127.0.0.1"; .port = "{origin_port}"; }}\n')
    if isinstance(vcl, str):
        (workdir / "default.vcl").write_text(vcl)
        vcl = workdir / "default.vcl"
    log = workdir / "varnishd.log"
    process = _start(
        [
            varnishd(),
            "-F",
            "-a",
            f"127.0.0.1:{port}",
            "-f",
            str(vcl),
            "-p",
            f"vcl_path={workdir}",
            "-n",
            str(workdir / "instance"),
            "-s",
            storage,
            "-T",
            "none",
            "-j",
            "none",  # no privilege drop: the files live in the test's own (private) temporary directory
        ],
        {**service_env(), **(env or {})},
        log,
    )
    deadline = time.monotonic() + 30
    while True:  # listening is enough: the origin may not be up yet
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                _stop([process])  # never leave a cache listening behind a failed test
                raise RuntimeError(f"varnishd did not start:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.1)


async def cached(url: str) -> tuple[int, bytes, str]:
    """Status, body and whether the cache answered it (X-Cache: HIT or MISS)."""
    status, body, headers = await get(url)
    return status, body, headers.get("X-Cache", "")


def through(cache_port: int, url: str) -> str:
    """The same URL, asked of the cache instead of the gateway."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"127.0.0.1:{cache_port}").geturl()


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}


class CountingOrigin:
    """A proxy in front of the real origin that counts what reaches it, by path (query string left
    out): what a cache asks of the origin, seen from the origin's side."""

    def __init__(self, upstream_port: int) -> None:
        self.fetches: Counter[str] = Counter()
        self.bytes = 0
        self._lock = threading.Lock()
        origin = self

        class Forward(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a cache talks to its origin

            def do_GET(self) -> None:
                self._forward()

            def do_HEAD(self) -> None:
                self._forward()

            def _forward(self) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                try:
                    upstream.request(self.command, self.path, headers=headers)
                    answer = upstream.getresponse()
                    body = answer.read()
                finally:
                    upstream.close()
                origin.count(self.path.split("?")[0], len(body))
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in _HOP_BY_HOP | {"server", "date"}:  # send_response wrote its own
                        self.send_header(name, value)
                self.send_header("Content-Length", answer.getheader("Content-Length") or str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the counts are the log

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="counting-origin", daemon=True)

    def count(self, path: str, size: int) -> None:
        with self._lock:
            self.fetches[path] += 1
            self.bytes += size

    def total(self) -> int:
        with self._lock:
            return sum(self.fetches.values())

    def __enter__(self) -> CountingOrigin:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class Viewing:
    """What one viewer got: each object's path (no query) and body."""

    bodies: dict[str, bytes]


async def watch(http: aiohttp.ClientSession, master_url: str, rung_index: int = 0) -> Viewing:
    """Play one rung as a player does: the master, one media playlist, then every segment it lists,
    following the URIs the origin signed (so each carries this viewer's token)."""
    bodies: dict[str, bytes] = {}

    async def fetch(url: str) -> str:
        async with http.get(url) as response:
            body = await response.read()
            assert response.status == 200, (url, response.status, body[:200])
        bodies[urlsplit(url).path] = body
        return body.decode(errors="replace")

    master = await fetch(master_url)
    playlist_url = urljoin(master_url, _uris(master)[rung_index])
    segments = _uris(await fetch(playlist_url))
    assert segments, playlist_url
    for segment in segments:
        await fetch(urljoin(playlist_url, segment))
    return Viewing(bodies)


def _uris(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line.strip() and not line.startswith("#")]


async def audience(master_urls: list[str]) -> list[Viewing]:
    """Every master URL played at once, one session each: viewers arrive together."""

    async def one(url: str) -> Viewing:
        async with aiohttp.ClientSession() as http:
            return await watch(http, url)

    return list(await asyncio.gather(*(one(url) for url in master_urls)))
