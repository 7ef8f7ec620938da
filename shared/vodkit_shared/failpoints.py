"""Crash on purpose at a named step, to prove a multi-step operation survives being killed there.

`VODKIT_FAILPOINT=tier.after_copy vodkit tier run` dies by SIGKILL, as the OOM killer or a node
loss would kill it, right after that step. Tests use it; nothing sets it in production.
"""

from __future__ import annotations

import os
import signal


def failpoint(name: str) -> None:
    if os.environ.get("VODKIT_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
