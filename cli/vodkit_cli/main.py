"""`vodkit`: up | serve SERVICE | token | tier run | upload FILE."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

from vodkit_cli.embedded import run_all
from vodkit_cli.services import SERVICES
from vodkit_cli.tier import parse_now, print_report, run_pass
from vodkit_cli.uploader import UploadFailed, finish_line, upload
from vodkit_shared.logs import configure_logging
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
    token.set_defaults(command=_token)

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
    configure_logging(CommonSettings().log_level)
    asyncio.run(run_all(args.host, args.port))


def _serve(args: argparse.Namespace) -> None:
    spec = SERVICES[args.service]
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = spec.settings(**overrides)
    configure_logging(settings.log_level)
    app = spec.create_app(settings)
    web.run_app(
        app, host=settings.host, port=settings.port, access_log=None, print=None, shutdown_timeout=SHUTDOWN_GRACE_S
    )


def _token(args: argparse.Namespace) -> None:
    print(Tokens(CommonSettings().resolved_auth_secret()).user_token(args.user, args.ttl))


def _tier_run(args: argparse.Namespace) -> int:
    configure_logging(CommonSettings().log_level)
    try:
        now = parse_now(args.now)
    except ValueError:
        print(f"vodkit tier run: --now must be an ISO-8601 time, not {args.now!r}", file=sys.stderr)
        return 2
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
