"""One driver per ladder, on one machine or several sharing the ladder directory: a live holder is refused, a stale
lock (a SIGKILLed driver; a machine whose heartbeat stopped) is taken over with a message naming the old holder."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from scalinglab.cli import main
from scalinglab.errors import InputError
from scalinglab.ladder.lock import LOCK_NAME, STALE_SECONDS, acquire, ladder_lock, release

ARGS = ["ladder", "run", "--trainer", "synthetic", "--quiet", "--seq-len", "64", "--positions", "rotary",
        "--budgets", "2.5e10,3.5e10", "--points", "2", "--span", "1.5"]


def _driver(ladder, env=None):
    cmd = [sys.executable, "-c", "from scalinglab.cli import main; main()", *ARGS[:2], str(ladder), *ARGS[2:]]
    return subprocess.Popen(cmd, env=dict(os.environ, **(env or {})), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_live_drivers_lock_is_refused_and_a_sigkilled_drivers_is_taken_over(tmp_path, capsys):
    ladder = tmp_path / "ladder"
    first = _driver(ladder, env={"SCALINGLAB_SYNTHETIC_STEP_SECONDS": "3"})
    _wait_for(lambda: (ladder / LOCK_NAME).exists() and _children(first.pid))
    assert main([*ARGS[:2], str(ladder), *ARGS[2:]]) == 2
    err = capsys.readouterr().err.strip()
    assert f"another `scalinglab ladder run` is using this ladder (pid {first.pid} on" in err
    assert len(err.splitlines()) == 1
    workers = _children(first.pid)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    _wait_for(lambda: all(_gone(w) for w in workers))  # orphaned workers notice and stop at their next step
    assert json.loads((ladder / LOCK_NAME).read_text())["pid"] == first.pid  # left behind by the killed driver
    second = _driver(ladder)
    out = second.communicate(timeout=120)[0]
    assert second.returncode == 0, out
    assert f"taking over a stale lock from pid {first.pid} on" in out
    assert not (ladder / LOCK_NAME).exists()  # released at the end


def _foreign_lock(ladder, age_s: float):
    """A lock as written by a driver on another machine whose last heartbeat was ``age_s`` seconds ago."""
    path = ladder / LOCK_NAME
    path.write_text(json.dumps({"host": "node-b.cluster", "pid": 4242, "started": time.time() - age_s,
                                "token": "feedface"}))
    os.utime(path, (time.time() - age_s, time.time() - age_s))


def test_another_machines_lock_holds_while_its_heartbeat_is_fresh_and_is_taken_over_when_it_stops(tmp_path):
    _foreign_lock(tmp_path, age_s=1.0)
    with pytest.raises(InputError, match="pid 4242 on node-b.cluster"):
        acquire(tmp_path)
    _foreign_lock(tmp_path, age_s=STALE_SECONDS + 5)
    messages = []
    record = acquire(tmp_path, messages.append)
    assert len(messages) == 1 and "stale lock from pid 4242 on node-b.cluster" in messages[0]
    assert json.loads((tmp_path / LOCK_NAME).read_text())["token"] == record["token"]
    release(tmp_path, record)
    assert not (tmp_path / LOCK_NAME).exists()


def test_the_holder_keeps_its_heartbeat_fresh(tmp_path):
    with ladder_lock(tmp_path, heartbeat_seconds=0.05):
        old = time.time() - 1000
        os.utime(tmp_path / LOCK_NAME, (old, old))
        _wait_for(lambda: time.time() - (tmp_path / LOCK_NAME).stat().st_mtime < 10, timeout=5)
        with pytest.raises(InputError, match="another"):
            acquire(tmp_path)
