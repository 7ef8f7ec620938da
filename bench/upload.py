"""`make bench-upload`: vodkit's chunk API against the limit of this machine, in one run.

(limit) curl uploading the file into a minimal streaming sink (aiohttp, socket → file), the most any
        HTTP upload path here can do. `curl --data-binary @file` reads the file into memory and refuses
        1 GiB ("out of memory"), so the limit uses `curl -X POST -T file`: the same bytes, streamed;
(chunk) the same file through vodkit's chunk API (`vodkit up`, gateway → upload service → file
        storage), 8 MiB chunks with SHA-256 checksums, 4 in flight, timed until every chunk is
        accepted, and separately until the original is assembled and verified;
(tus)   the same file through vodkit's tus endpoint, and (tus-node) through @tus/server with its file
        store (Node, bench/tus-node): the same client for both, curl creating the upload (POST) and
        sending the file in one streamed PATCH.

vodkit runs with rate limits off (VODKIT_RATE_LIMITS_ENABLED=false): the bench polls the status
every 50 ms to time assembly closely, and measures vodkit, not its limiter.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
from aiohttp import web

MiB = 1024**2


async def sink_server(directory: Path) -> tuple[web.AppRunner, int]:
    async def receive(request: web.Request) -> web.Response:
        with (directory / "sink.bin").open("wb") as out:
            async for block in request.content.iter_chunked(256 * 1024):
                await asyncio.to_thread(out.write, block)
        return web.Response(text="ok")

    app = web.Application(client_max_size=0)
    app.router.add_post("/sink", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


async def limit(path: Path, work: Path) -> float:
    runner, port = await sink_server(work)
    try:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-X",
            "POST",
            "-T",
            str(path),
            "-H",
            "Content-Type: application/octet-stream",
            f"http://127.0.0.1:{port}/sink",
        )
        assert await process.wait() == 0
        return time.perf_counter() - started
    finally:
        await runner.cleanup()


def start_vodkit(work: Path) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    port = 18000 + os.getpid() % 1000
    env = {**os.environ, "VODKIT_DATA_DIR": str(work / "data"), "VODKIT_RATE_LIMITS_ENABLED": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "vodkit_cli.main", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(work / "vodkit.log").open("wb"),
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    return process, f"http://127.0.0.1:{port}", env


async def tus_upload(path: Path, create_url: str, auth: dict[str, str]) -> float:
    """curl as the tus client: POST creates the upload, one streamed PATCH sends the file."""
    size = (await asyncio.to_thread(path.stat)).st_size
    started = time.perf_counter()
    headers = {**auth, "Tus-Resumable": "1.0.0", "Upload-Length": str(size)}
    async with aiohttp.ClientSession() as http, http.post(create_url, headers=headers) as response:
        assert response.status == 201, await response.text()
        location = response.headers["Location"]
    args = [f"-H{name}: {value}" for name, value in auth.items()]
    process = await asyncio.create_subprocess_exec(
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-X",
        "PATCH",
        "-T",
        str(path),
        *args,
        "-H",
        "Tus-Resumable: 1.0.0",
        "-H",
        "Upload-Offset: 0",
        "-H",
        "Content-Type: application/offset+octet-stream",
        location,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    assert out == b"204", out
    return time.perf_counter() - started


def start_tus_node(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = 19000 + os.getpid() % 1000
    (work / "tus-node").mkdir()
    server = Path(__file__).parent / "tus-node" / "server.mjs"
    process = subprocess.Popen(["node", str(server), str(work / "tus-node"), str(port)], stdout=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"listening"
    return process, f"http://127.0.0.1:{port}/files"


async def chunk_api(path: Path, base: str, user_token: str, sha256: str) -> tuple[float, float]:
    size = (await asyncio.to_thread(path.stat)).st_size
    auth = {"Authorization": f"Bearer {user_token}"}
    async with aiohttp.ClientSession(base) as http:
        async with http.post(
            "/api/videos", json={"filename": "bench.bin", "size": size, "sha256": sha256}, headers=auth
        ) as response:
            created = await response.json()
            assert response.status == 201, created
        chunk, video_id = created["chunkSize"], created["videoId"]
        total = -(-size // chunk)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(total):
            queue.put_nowait(index)
        fd = os.open(path, os.O_RDONLY)

        async def sender() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                data = await asyncio.to_thread(os.pread, fd, chunk, index * chunk)
                checksum = (await asyncio.to_thread(hashlib.sha256, data)).hexdigest()
                form = aiohttp.FormData()
                for name, value in (
                    ("videoId", video_id),
                    ("chunkIndex", str(index)),
                    ("totalChunks", str(total)),
                    ("checksum", checksum),
                ):
                    form.add_field(name, value)
                form.add_field("chunk", io.BytesIO(data), filename="c", content_type="application/octet-stream")
                async with http.post(
                    "/api/videos/upload", data=form, headers={"Authorization": f"Bearer {created['uploadToken']}"}
                ) as response:
                    assert response.status == 200, await response.text()

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(4)))
        uploaded = time.perf_counter() - started
        os.close(fd)
        while True:  # assembled and verified: the status leaves `uploading`
            async with http.get(f"/api/videos/{video_id}/status", headers=auth) as response:
                status = await response.json()
                assert response.status == 200, status
                if status["status"] != "uploading":
                    return uploaded, time.perf_counter() - started
            await asyncio.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("build/bench/upload.json"))
    args = parser.parse_args()
    results: dict[str, list[float]] = {"limit": [], "chunk": [], "chunk+assembly": [], "tus": [], "tus-node": []}
    with tempfile.TemporaryDirectory(prefix="vodkit-bench-upload-") as tmp:
        work = Path(tmp)
        path = work / "file.bin"
        with path.open("wb") as out:
            for _ in range(args.mib):
                out.write(os.urandom(MiB))
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        process, base, env = start_vodkit(work)
        node, node_url = start_tus_node(work)
        try:
            token = subprocess.run(
                [sys.executable, "-m", "vodkit_cli.main", "token", "--user", "bench"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            auth = {"Authorization": f"Bearer {token}"}
            for round_ in range(args.repeat):
                results["limit"].append(asyncio.run(limit(path, work)))
                uploaded, assembled = asyncio.run(chunk_api(path, base, token, sha256))
                results["chunk"].append(uploaded)
                results["chunk+assembly"].append(assembled)
                results["tus"].append(asyncio.run(tus_upload(path, f"{base}/api/uploads/", auth)))
                results["tus-node"].append(asyncio.run(tus_upload(path, node_url, {})))
                print(
                    f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in results.items()),
                    file=sys.stderr,
                )
        finally:
            for server in (process, node):
                server.terminate()
                server.wait(10)
    median = {name: statistics.median(times) for name, times in results.items()}
    rate = {name: args.mib / seconds for name, seconds in median.items()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"mib": args.mib, "runs": results, "median_s": median, "MiB_per_s": rate}, indent=2)
    )
    rows = [
        ("limit: curl -X POST -T file → minimal streaming sink", "limit"),
        ("vodkit chunk API, every chunk accepted", "chunk"),
        ("vodkit chunk API, assembled and SHA-256 verified", "chunk+assembly"),
        ("vodkit tus endpoint (curl: POST, one PATCH)", "tus"),
        ("@tus/server, file store (curl: POST, one PATCH)", "tus-node"),
    ]
    print(f"\n| path ({args.mib} MiB, median of {args.repeat}) | time | throughput |\n|---|---|---|")
    for label, key in rows:
        print(f"| {label} | {median[key]:.2f} s | {rate[key]:.0f} MiB/s |")
    print(
        f"\nchunk API / limit = {rate['chunk'] / rate['limit']:.0%} (target ≥ 50 %) · "
        f"vodkit tus / @tus/server = {rate['tus'] / rate['tus-node']:.2f} (target ≥ 1.0)"
    )


if __name__ == "__main__":
    main()
