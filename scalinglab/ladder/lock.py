"""One driver per ladder, also when the ladder directory is on storage shared by several machines.

``flock`` is not enough there: on some network file systems it is local to one client, and a lock held by a
killed machine is never released. So the lock is a file created with ``O_CREAT | O_EXCL`` (atomic on local disks
and on NFS v3+) that names its holder (host, pid, start time) and that the holder touches every
``HEARTBEAT_SECONDS``. Another driver finds the lock

- held by a live process: refused (``InputError``, exit 2 in the CLI), naming the holder;
- stale: on the same host when the holder's pid is gone (a SIGKILLed driver), on another host when the heartbeat
  is older than ``STALE_SECONDS``; then it takes the lock over and says whose it was.

A take-over renames the stale file away first (``os.replace`` is atomic), then creates its own with ``O_EXCL``, and
reads it back: two drivers racing for one stale lock end with one holder. Heartbeat ages are compared with this
machine's clock, so ``STALE_SECONDS`` is far above the clock skew NTP leaves between machines.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from scalinglab.errors import InputError

LOCK_NAME = ".lock"
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 60.0


def _describe(holder: dict) -> str:
    if not holder.get("token"):
        return "an unreadable lock file (or one left by an older scalinglab)"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
    return f"pid {holder.get('pid')} on {holder.get('host')}, since {started}"


def _read(path: Path) -> dict | None:
    """The holder recorded in the lock file; {} for an unreadable one (a half-written file), None if absent."""
    try:
        text = path.read_text(encoding="utf-8")
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(text)
    except ValueError:
        holder = {}
    return {**holder, "age_s": age} if isinstance(holder, dict) else {"age_s": age}


def _pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def is_stale(holder: dict, *, host: str | None = None, stale_seconds: float = STALE_SECONDS) -> bool:
    """Whether a recorded holder is gone: its pid is dead (same host), or its heartbeat stopped (any host)."""
    if holder.get("age_s", 0.0) > stale_seconds or not holder.get("token"):
        return True
    if holder.get("host") == (host or socket.gethostname()) and "pid" in holder:
        return not _pid_alive(holder["pid"])
    return False


def _create(path: Path, record: dict) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def acquire(ladder_dir: Path, notify=None, *, stale_seconds: float = STALE_SECONDS) -> dict:
    """Take the ladder's lock or raise ``InputError``; returns this holder's record."""
    path = Path(ladder_dir) / LOCK_NAME
    record = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(), "token": uuid.uuid4().hex}
    for _ in range(5):
        if _create(path, record):
            if (_read(path) or {}).get("token") == record["token"]:
                return record
            continue
        holder = _read(path)
        if holder is None:
            continue  # released between our two calls
        if not holder.get("token") and holder["age_s"] < 2.0:
            time.sleep(0.2)  # a lock being written this instant
            continue
        if not is_stale(holder, stale_seconds=stale_seconds):
            raise InputError(f"another `scalinglab ladder run` is using this ladder ({_describe(holder)}); "
                             "wait for it or stop it", source=str(ladder_dir))
        try:
            os.replace(path, path.with_name(f"{LOCK_NAME}.stale-{record['token']}"))
        except FileNotFoundError:
            continue  # another driver took it over first; try again against its lock
        (notify or _stderr)(f"{ladder_dir}: taking over a stale lock from {_describe(holder)} (no longer running)")
        path.with_name(f"{LOCK_NAME}.stale-{record['token']}").unlink(missing_ok=True)
    raise InputError("could not take the ladder lock (other drivers are starting at the same time); try again",
                     source=str(ladder_dir))


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def release(ladder_dir: Path, record: dict) -> None:
    """Remove the lock if it is still ours (a driver presumed dead may have been taken over meanwhile)."""
    path = Path(ladder_dir) / LOCK_NAME
    if (_read(path) or {}).get("token") == record["token"]:
        path.unlink(missing_ok=True)


@contextmanager
def ladder_lock(ladder_dir: Path, notify=None, *, heartbeat_seconds: float = HEARTBEAT_SECONDS):
    """Hold the ladder's lock for the block; a daemon thread keeps its heartbeat fresh."""
    record = acquire(ladder_dir, notify)
    path = Path(ladder_dir) / LOCK_NAME
    done = threading.Event()

    def beat() -> None:
        while not done.wait(heartbeat_seconds):
            try:
                os.utime(path)
            except OSError:
                pass  # taken over or removed; release() leaves a foreign lock alone

    thread = threading.Thread(target=beat, name="ladder-lock-heartbeat", daemon=True)
    thread.start()
    try:
        yield record
    finally:
        done.set()
        thread.join()
        release(ladder_dir, record)
