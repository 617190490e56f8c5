"""The local executor: runs a ladder's unfinished runs as worker processes packed onto the machine's cores.

- **Idempotent.** Finished runs are skipped; interrupted ones resume from their checkpoint (the trainer's job).
- **Packing.** Up to ``jobs`` workers at once, each with ``threads`` intra-op threads, longest run first (the LPT
  rule, which keeps the last core from idling on one long run at the end). On small models two single-thread jobs
  beat one two-thread job because a small matmul does not split well across cores; ``benchmarks/ladder_packing.py``
  measures it.
- **Safe stops.** Ctrl-C or SIGTERM asks every worker to checkpoint and stop (a second Ctrl-C kills them); runs are
  marked ``interrupted`` and the next invocation resumes them. Only this process writes the store.
- **One executor per ladder**, enforced with an exclusive ``flock`` on ``<ladder>/.lock``.
"""

from __future__ import annotations

import fcntl
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from scalinglab.errors import InputError
from scalinglab.ladder.progress import LadderProgress
from scalinglab.ladder.store import RunStore, StoredRun

STOP_GRACE_SECONDS = 120.0


@dataclass
class Summary:
    done: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: int = 0
    stopped: bool = False
    wall_seconds: float = 0.0


@contextmanager
def ladder_lock(ladder_dir: Path):
    path = Path(ladder_dir) / ".lock"
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError("another `scalinglab ladder run` is using this ladder; wait for it or stop it",
                             source=str(ladder_dir)) from None
        yield
    finally:
        handle.close()


class _Job:
    def __init__(self, run: StoredRun, proc: subprocess.Popen, log):
        self.run, self.proc, self.log = run, proc, log
        self.buffer = b""
        self.outcome: dict | None = None


def _launch(store: RunStore, run: StoredRun, trainer: str, threads: int) -> _Job:
    run_dir = store.dir / "runs" / run.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    # Threads are set by the worker, not written into the config: a run may resume with a different count.
    job = {"config": run.config, "run_dir": str(run_dir), "trainer": trainer, "threads": threads}
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    log = open(run_dir / "log.txt", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "scalinglab.ladder.worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True)
    proc.stdin.write(json.dumps(job).encode())
    proc.stdin.close()
    return _Job(run, proc, log)


def run_ladder(store: RunStore, *, jobs: int = 2, threads: int = 1, trainer: str = "torch",
               retry_failed: bool = False, show_progress: bool = True, console=None,
               max_runs: int | None = None) -> Summary:
    """Run every pending or interrupted run of the ladder in ``store``; returns what happened to each."""
    if jobs < 1 or threads < 1:
        raise InputError(f"jobs and threads must be >= 1, got jobs={jobs}, threads={threads}")
    summary = Summary()
    start = time.perf_counter()
    with ladder_lock(store.dir):
        store.recover()
        if retry_failed:
            store.retry_failed()
        todo = store.runs(("pending", "interrupted"))
        summary.skipped = store.counts()["done"]
        todo.sort(key=lambda r: (-float(r.spec.get("flops_full", 0.0)), r.position))  # longest first
        if max_runs is not None:
            todo = todo[:max_runs]
        fpt = {r.run_id: float(r.spec["flops_full"]) / float(r.spec["n_tokens"]) for r in todo}
        done_tok = {r.run_id: store.last_curve_tokens(r.run_id) for r in todo}
        total = sum(float(r.spec["flops_full"]) for r in todo)
        already = sum(done_tok[r.run_id] * fpt[r.run_id] for r in todo)
        with LadderProgress(total, already, len(todo), console=console,
                            enabled=show_progress and bool(todo)) as progress:
            _loop(store, todo, jobs, threads, trainer, progress, fpt, done_tok, summary)
    summary.wall_seconds = time.perf_counter() - start
    return summary


def _loop(store, todo, jobs, threads, trainer, progress, fpt, done_tok, summary) -> None:
    stop = {"requests": 0}

    def on_signal(signum, frame):
        stop["requests"] += 1

    main_thread = threading.current_thread() is threading.main_thread()
    previous = {}
    if main_thread:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    selector = selectors.DefaultSelector()
    active: dict[int, _Job] = {}
    signalled, killed, deadline = 0, False, None
    try:
        while todo or active:
            while not stop["requests"] and todo and len(active) < jobs:
                run = todo.pop(0)
                store.mark_running(run.run_id)
                job = _launch(store, run, trainer, threads)
                active[job.proc.pid] = job
                selector.register(job.proc.stdout, selectors.EVENT_READ, job)
                progress.start_run(run.run_id, float(run.spec["n_tokens"]), fpt[run.run_id], done_tok[run.run_id])
            if stop["requests"] and not active:
                break
            if stop["requests"] > signalled:
                sig = signal.SIGTERM if stop["requests"] == 1 else signal.SIGKILL
                for job in active.values():
                    _signal(job.proc, sig)
                signalled = stop["requests"]
                deadline = deadline or time.monotonic() + STOP_GRACE_SECONDS
            if deadline is not None and not killed and time.monotonic() > deadline:
                for job in active.values():
                    _signal(job.proc, signal.SIGKILL)
                killed = True
            for key, _ in selector.select(timeout=0.25):
                _read(key.data, store, progress)
            for pid, job in list(active.items()):
                if job.proc.poll() is not None:
                    selector.unregister(job.proc.stdout)
                    _drain(job, store, progress)
                    _finalize(job, store, progress, summary, stopping=bool(stop["requests"]))
                    del active[pid]
        summary.stopped = bool(stop["requests"])
    finally:
        for job in active.values():  # only reached on an unexpected error in this loop
            _signal(job.proc, signal.SIGKILL)
            job.proc.wait()
            store.mark_stopped(job.run.run_id, "interrupted", "executor error")
        selector.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass


def _read(job: _Job, store: RunStore, progress: LadderProgress) -> None:
    chunk = os.read(job.proc.stdout.fileno(), 65536)
    if chunk:
        job.buffer += chunk
        _handle_lines(job, store, progress)


def _drain(job: _Job, store: RunStore, progress: LadderProgress) -> None:
    rest = job.proc.stdout.read()
    job.proc.stdout.close()
    job.buffer += rest or b""
    if job.buffer and not job.buffer.endswith(b"\n"):
        job.buffer += b"\n"
    _handle_lines(job, store, progress)
    job.log.close()


def _handle_lines(job: _Job, store: RunStore, progress: LadderProgress) -> None:
    *lines, job.buffer = job.buffer.split(b"\n")
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a torn last line from a killed worker
        kind = event.get("event")
        run_id = job.run.run_id
        if kind == "eval" and event.get("n_tokens") and event.get("loss") is not None:
            store.add_curve_point(run_id, event["n_tokens"], event["loss"], event.get("bpb"))
            progress.advance_run(run_id, float(event["n_tokens"]), event["loss"])
        elif kind in ("done", "stopped", "error"):
            job.outcome = event


def _finalize(job: _Job, store: RunStore, progress: LadderProgress, summary: Summary, *, stopping: bool) -> None:
    run_id, outcome, code = job.run.run_id, job.outcome or {}, job.proc.returncode
    kind = outcome.get("event")
    n_tokens = float(job.run.spec["n_tokens"])
    if kind == "done":
        metrics = outcome.get("metrics", {})
        store.finish(run_id, metrics, [tuple(p) for p in outcome.get("curve", [])])
        summary.done.append(run_id)
        tps = metrics.get("tokens_per_s") or 0.0
        progress.end_run(run_id, "done", n_tokens, f"loss {metrics.get('final_loss', float('nan')):.4f}  "
                                                   f"{tps:,.0f} tok/s  {metrics.get('wall_seconds', 0):.0f}s")
    elif kind == "error":
        store.mark_stopped(run_id, "failed", outcome.get("message"))
        summary.failed.append(run_id)
        progress.end_run(run_id, "failed", n_tokens, f"{outcome.get('message')} (log: runs/{run_id}/log.txt)")
    elif kind == "stopped" or code is not None and code < 0:
        # Stopped on request, or killed by a signal (e.g. SIGKILL): resumable from its last checkpoint.
        why = "stopped" if kind == "stopped" else f"worker killed by signal {-code}"
        store.mark_stopped(run_id, "interrupted", None if kind == "stopped" else why)
        summary.interrupted.append(run_id)
        progress.end_run(run_id, "interrupted", n_tokens, why + "; re-run the same command to resume")
    else:
        message = f"worker exited with code {code} (log: runs/{run_id}/log.txt)"
        store.mark_stopped(run_id, "interrupted" if stopping else "failed", message)
        (summary.interrupted if stopping else summary.failed).append(run_id)
        progress.end_run(run_id, "interrupted" if stopping else "failed", n_tokens, message)
