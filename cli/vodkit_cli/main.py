"""`vodkit`: up | serve SERVICE | token | edge-key | tier run | upload FILE | jobs list|retry|replay."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from vodkit_cli import jobs
from vodkit_cli.embedded import run_all
from vodkit_cli.services import SERVICES
from vodkit_cli.tier import parse_now, print_report, run_pass
from vodkit_cli.uploader import UploadFailed, finish_line, upload
from vodkit_shared.access_log import ACCESS_LOG, AccessLine
from vodkit_shared.logs import logging_configured
from vodkit_shared.service import SHUTDOWN_GRACE_S
from vodkit_shared.settings import CommonSettings
from vodkit_shared.tokens import Tokens


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return int(args.command(args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vodkit", description="vodkit: uploads in, adaptive HLS out.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="run all six services in one process (embedded defaults)")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8080)
    up.set_defaults(command=_up)

    serve = commands.add_parser("serve", help="run one service (one process per service, e.g. on Kubernetes)")
    serve.add_argument("service", choices=sorted(SERVICES))
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(command=_serve)

    token = commands.add_parser("token", help="print a user token signed with VODKIT_AUTH_SECRET")
    token.add_argument("--user", required=True)
    token.add_argument("--ttl", type=int, default=30 * 24 * 3600, help="seconds (default 30 days)")
    token.add_argument("--admin", action="store_true", help="with the admin role (the job console)")
    token.set_defaults(command=_token)

    edge_key = commands.add_parser(
        "edge-key", help="print the playback key an edge cache checks tokens with (deploy/edge/README.md)"
    )
    edge_key.add_argument(
        "--env", action="store_true", help="as a VODKIT_EDGE_PLAYBACK_KEY=… line, for varnishd's EnvironmentFile"
    )
    edge_key.set_defaults(command=_edge_key)

    jobs = commands.add_parser("jobs", help="the job console: failed videos, retries, dead letters (admin)")
    jobs.add_argument("--url", default="http://127.0.0.1:8080", help="gateway base URL")
    jobs.add_argument("--token", default=None, help="an admin token (default: one made from VODKIT_AUTH_SECRET)")
    jobs.add_argument("--json", action="store_true", help="print the API's JSON answer")
    job_actions = jobs.add_subparsers(required=True, metavar="ACTION")
    jobs_list = job_actions.add_parser("list", help="videos waiting, running or failed")
    jobs_list.add_argument("--state", choices=("waiting", "running", "failed"), default=None)
    jobs_list.add_argument("--dead-letters", action="store_true", help="list the consumers' dead letters instead")
    jobs_list.set_defaults(command=_jobs_list)
    jobs_retry = job_actions.add_parser("retry", help="run a failed video again")
    jobs_retry.add_argument("video_id")
    jobs_retry.set_defaults(command=_jobs_retry)
    jobs_replay = job_actions.add_parser("replay", help="put a consumer's dead letters back on its queues")
    jobs_replay.add_argument("service", help="the consumer, e.g. transcoder")
    jobs_replay.set_defaults(command=_jobs_replay)

    tier = commands.add_parser("tier", help="storage tiers").add_subparsers(required=True, metavar="ACTION")
    tier_run = tier.add_parser("run", help="run one tiering pass now and print what moved")
    tier_run.add_argument("--now", default=None, help="act as if it were this ISO-8601 time (default: now)")
    tier_run.set_defaults(command=_tier_run)

    send = commands.add_parser("upload", help="upload a video in chunks")
    send.add_argument("file", type=Path)
    send.add_argument("--url", default="http://127.0.0.1:8080", help="gateway base URL")
    send.add_argument("--user", default="cli", help="user to upload as (a token is made for it)")
    send.add_argument("--token", default=None, help="a user token to use instead of --user")
    send.add_argument("--wait", action="store_true", help="wait for processing; print the playback URL")
    send.add_argument("--resume", metavar="VIDEO_ID", default=None, help="finish an interrupted upload of FILE")
    send.add_argument("--parallel", type=int, default=4, help="chunks in flight at once (default 4)")
    send.set_defaults(command=_upload)
    return parser


def _up(args: argparse.Namespace) -> None:
    with logging_configured(CommonSettings()):  # on exit, the log files' thread writes what is queued
        asyncio.run(run_all(args.host, args.port))


def _serve(args: argparse.Namespace) -> None:
    spec = SERVICES[args.service]
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = spec.settings(**overrides)
    with logging_configured(settings):
        app = spec.create_app(settings)
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            access_log_class=AccessLine,
            access_log=ACCESS_LOG,
            print=None,
            shutdown_timeout=SHUTDOWN_GRACE_S,
        )


def _token(args: argparse.Namespace) -> None:
    roles = ("admin",) if args.admin else ()
    print(Tokens(CommonSettings().resolved_auth_secret()).user_token(args.user, args.ttl, roles))


def _edge_key(args: argparse.Namespace) -> None:
    key = Tokens(CommonSettings().resolved_auth_secret()).playback_key()
    print(f"VODKIT_EDGE_PLAYBACK_KEY={key}" if args.env else key)


def _console(args: argparse.Namespace, method: str, path: str, params: dict[str, str] | None = None) -> Any:
    token = args.token or Tokens(CommonSettings().resolved_auth_secret()).user_token("cli-admin", 600, ("admin",))
    return asyncio.run(jobs.call(args.url, token, method, path, params))


def _jobs_command(run: Callable[[argparse.Namespace], list[str]]) -> Callable[[argparse.Namespace], int]:
    """A console action: its lines on stdout; a refusal or no gateway, one line on stderr."""

    def command(args: argparse.Namespace) -> int:
        try:
            lines = run(args)
        except (jobs.ConsoleRefused, aiohttp.ClientError, TimeoutError, OSError, ValueError) as error:
            print(f"vodkit jobs: {' '.join(str(error).split()) or type(error).__name__}", file=sys.stderr)
            return 1
        print("\n".join(lines))
        return 0

    return command


@_jobs_command
def _jobs_list(args: argparse.Namespace) -> list[str]:
    if args.dead_letters:
        body = _console(args, "GET", "/api/admin/dead-letters")
        return [jobs.as_json(body)] if args.json else jobs.dead_letter_lines(body)
    body = _console(args, "GET", "/api/admin/jobs", {"state": args.state} if args.state else None)
    return [jobs.as_json(body)] if args.json else jobs.job_lines(body)


@_jobs_command
def _jobs_retry(args: argparse.Namespace) -> list[str]:
    body = _console(args, "POST", f"/api/admin/videos/{args.video_id}/retry")
    return [jobs.as_json(body)] if args.json else [f"{body['videoId']}: {body['status']} (retry {body['retries']})"]


@_jobs_command
def _jobs_replay(args: argparse.Namespace) -> list[str]:
    body = _console(args, "POST", f"/api/admin/dead-letters/{args.service}/replay")
    return [jobs.as_json(body)] if args.json else [f"{body['service']}: {body['replayed']} replayed"]


def _tier_run(args: argparse.Namespace) -> int:
    try:
        now = parse_now(args.now)
    except ValueError:
        print(f"vodkit tier run: --now must be an ISO-8601 time, not {args.now!r}", file=sys.stderr)
        return 2
    with logging_configured(CommonSettings(), stream=sys.stderr):  # stdout is the report
        report = asyncio.run(run_pass(now))
    print_report(report, now)
    return 1 if report.failed else 0


def _upload(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        print(f"vodkit upload: no such file: {args.file}", file=sys.stderr)
        return 2
    token = args.token or Tokens(CommonSettings().resolved_auth_secret()).user_token(args.user)
    try:
        asyncio.run(upload(args.url, token, args.file, args.wait, args.resume, max(1, args.parallel)))
    except KeyboardInterrupt:
        finish_line()
        print("vodkit upload: interrupted; finish it with --resume VIDEO_ID", file=sys.stderr)
        return 130
    except (UploadFailed, OSError, aiohttp.ClientError, TimeoutError, ValueError, KeyError) as error:
        finish_line()  # one line of its own, never a traceback: a refusal, or no gateway there
        print(f"vodkit upload: {_one_line(error)}", file=sys.stderr)
        return 1
    return 0


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if isinstance(error, UploadFailed | OSError) else f"unexpected answer from the gateway: {text}"


if __name__ == "__main__":
    sys.exit(main())
