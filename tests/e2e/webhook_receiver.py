"""A webhook receiver, run as its own process by tests/e2e/test_webhooks.py, that checks what vodkit sends.

    python -m tests.e2e.webhook_receiver --port PORT --secrets SECRETS.json --log LOG.jsonl

Each path (`/alice`) is one webhook; SECRETS.json maps a path to its secret and is read again on every
request (the test writes it once the webhooks are registered). Every request is verified as an
integrator would: `Vodkit-Signature` recomputed over "<t>.<raw body>" with the path's secret and
compared in constant time, `t` within five minutes. A bad or missing signature is a 401. Otherwise
the first delivery of each event id is answered 500, and every later one 200 (so each event is
retried once). One JSON line per request goes to LOG.jsonl.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

TOLERANCE_S = 300


def signature_valid(header: str, secret: str, body: bytes, now: float) -> bool:
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp, sent = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE_S:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, sent)


class Receiver(BaseHTTPRequestHandler):
    secrets_file: Path
    log_file: Path
    seen: ClassVar[dict[tuple[str, str], int]] = {}  # (path, event id) → requests so far
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        secret = json.loads(self.secrets_file.read_text()).get(self.path, "")
        valid = bool(secret) and signature_valid(self.headers.get("Vodkit-Signature", ""), secret, body, time.time())
        event_id = self.headers.get("Vodkit-Event-Id", "")
        with self.lock:
            attempt = self.seen.get((self.path, event_id), 0) + 1
            self.seen[(self.path, event_id)] = attempt
            status = 401 if not valid else 500 if attempt == 1 else 200
            self._record(body, valid, event_id, attempt, status)
        answer = b"ok" if status == 200 else b"try again" if status == 500 else b"bad signature"
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def _record(self, body: bytes, valid: bool, event_id: str, attempt: int, status: int) -> None:
        envelope: dict[str, Any] = json.loads(body) if valid else {}
        line = {
            "path": self.path,
            "eventIdHeader": event_id,
            "envelopeId": envelope.get("id"),
            "type": envelope.get("type"),
            "videoId": envelope.get("videoId"),
            "bodySha256": hashlib.sha256(body).hexdigest(),
            "contentType": self.headers.get("Content-Type"),
            "signatureValid": valid,
            "attempt": attempt,
            "answered": status,
        }
        with self.log_file.open("a") as log:
            log.write(json.dumps(line) + "\n")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the JSON log is the record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secrets", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    Receiver.secrets_file, Receiver.log_file = args.secrets, args.log
    ThreadingHTTPServer(("127.0.0.1", args.port), Receiver).serve_forever()


if __name__ == "__main__":
    main()
