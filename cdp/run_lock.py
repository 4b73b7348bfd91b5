"""One run at a time per warehouse: an advisory lock file beside the warehouse file.

`cdp run`, `cdp load` and `cdp sync` hold it for their whole length, so two of them never
interleave loads, dbt builds, checks and syncs on one warehouse. The lock is the kernel's (flock):
it is released when its holder exits, crashes or is killed, so a dead run never blocks the next.
The file names the holder (pid, host, command, start) so the one who is refused knows whom they wait
for; a waiting run polls until `CDP_RUN_LOCK_WAIT_SECONDS` have passed.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


class RunLockHeld(RuntimeError):
    """Another run holds the warehouse; the message names it."""


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".run.lock")


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "a run that has not written its name yet"
    return (f"pid {info.get('pid')} on {info.get('host')} running {info.get('command')!r} "
            f"since {info.get('started_at')}")


@contextmanager
def warehouse_run_lock(warehouse: Path, command: str, wait_seconds: float = 0.0,
                       poll_seconds: float = 0.5) -> Iterator[None]:
    """Hold the run lock of `warehouse` for the block; raise `RunLockHeld` naming the holder when
    another process still holds it after `wait_seconds`."""
    path = lock_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    deadline = time.monotonic() + max(wait_seconds, 0.0)
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    waited = f" (waited {wait_seconds:g}s)" if wait_seconds > 0 else ""
                    raise RunLockHeld(
                        f"another run holds the warehouse {warehouse}: {_holder(path)}{waited}. Wait for it to "
                        "finish, or stop it; set CDP_RUN_LOCK_WAIT_SECONDS to wait for it.") from None
                time.sleep(poll_seconds)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                                 "started_at": datetime.now(UTC).isoformat(timespec="seconds")}))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()
