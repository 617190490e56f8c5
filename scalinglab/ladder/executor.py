"""The local executor: runs a ladder's unfinished runs as worker processes packed onto the machine's cores.

- **Idempotent.** Finished runs are skipped; interrupted ones resume from their checkpoint (the trainer's job).
- **Packing.** Up to ``jobs`` workers at once, each with ``threads`` intra-op threads, longest run first (the LPT
  rule, which keeps the last core from idling on one long run at the end). On small models two single-thread jobs
  beat one two-thread job because a small matmul does not split well across cores; ``benchmarks/ladder_packing.py``
  measures it.
- **Reused workers.** Each slot's worker process trains run after run (``scalinglab.ladder.worker``), so the process
  start-up — Python, torch and the trainer's imports, about 5 s of CPU — is paid once per slot, not once per run.
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


class _Worker:
    """A worker process and the run it is training (None between runs)."""

    def __init__(self, proc: subprocess.Popen):
        self.proc, self.run, self.runs_given = proc, None, 0
        self.buffer = b""
        self.outcome: dict | None = None


def _spawn(store: RunStore, first: StoredRun, threads: int) -> _Worker:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    # Output before the first job is read (an import error, say) lands in the first run's log.
    with open(_run_dir(store, first) / "log.txt", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "scalinglab.ladder.worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True)
    return _Worker(proc)


def _run_dir(store: RunStore, run: StoredRun) -> Path:
    run_dir = store.dir / "runs" / run.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _assign(worker: _Worker, store: RunStore, run: StoredRun, trainer: str, threads: int) -> None:
    run_dir = _run_dir(store, run)
    # Threads are set by the worker, not written into the config: a run may resume with a different count.
    job = {"config": run.config, "run_dir": str(run_dir), "log": str(run_dir / "log.txt"), "trainer": trainer,
           "threads": threads}
    worker.run, worker.outcome = run, None
    worker.runs_given += 1
    try:
        worker.proc.stdin.write((json.dumps(job) + "\n").encode())
        worker.proc.stdin.flush()
    except BrokenPipeError:
        pass  # the worker died; its exit is handled with the run it was given


def _next_ready(todo: list[StoredRun], store: RunStore, take: bool = True) -> StoredRun | None:
    """The first run in ``todo`` that can start now (removed from it unless ``take`` is False): a WSD cooldown
    branch waits until the stable phase it is forked from is done (``scalinglab.ladder.wsd``)."""
    lineage = store.lineage()
    waiting = {run_id for run_id, (parent, _) in lineage.items()}
    done = {r.run_id for r in store.runs("done")} if waiting else set()
    for i, run in enumerate(todo):
        if run.run_id not in waiting or lineage[run.run_id][0] in done:
            return todo.pop(i) if take else run
    return None


def _release(worker: _Worker) -> None:
    """No more runs for this worker: closing its input lets it exit."""
    if not worker.proc.stdin.closed:
        try:
            worker.proc.stdin.close()
        except BrokenPipeError:
            pass


def run_ladder(store: RunStore, *, jobs: int = 2, threads: int = 1, trainer: str = "torch",
               retry_failed: bool = False, show_progress: bool = True, console=None,
               max_runs: int | None = None, runs_per_worker: int | None = None) -> Summary:
    """Run every pending or interrupted run of the ladder in ``store``; returns what happened to each.

    ``runs_per_worker`` caps how many runs one worker process trains before a fresh one takes over (default: no
    cap; 1 is a process per run, the baseline of ``benchmarks/ladder_packing.py``)."""
    if jobs < 1 or threads < 1:
        raise InputError(f"jobs and threads must be >= 1, got jobs={jobs}, threads={threads}")
    if runs_per_worker is not None and runs_per_worker < 1:
        raise InputError(f"runs per worker must be >= 1, got {runs_per_worker}")
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
        # a cooldown branch starts with its stable phase's tokens behind it
        done_tok = {r.run_id: max(store.last_curve_tokens(r.run_id), float(r.spec.get("branch_tokens", 0)))
                    for r in todo}
        total = sum(float(r.spec["flops_full"]) for r in todo)
        already = sum(done_tok[r.run_id] * fpt[r.run_id] for r in todo)
        with LadderProgress(total, already, len(todo), console=console,
                            enabled=show_progress and bool(todo)) as progress:
            _loop(store, todo, jobs, threads, trainer, progress, fpt, done_tok, summary, runs_per_worker)
    summary.wall_seconds = time.perf_counter() - start
    return summary


def _loop(store, todo, jobs, threads, trainer, progress, fpt, done_tok, summary, runs_per_worker) -> None:
    stop = {"requests": 0}

    def on_signal(signum, frame):
        stop["requests"] += 1

    main_thread = threading.current_thread() is threading.main_thread()
    previous = {}
    if main_thread:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    selector = selectors.DefaultSelector()
    workers: dict[int, _Worker] = {}
    signalled, killed, deadline = 0, False, None

    def give(worker: _Worker, run: StoredRun) -> None:
        store.mark_running(run.run_id)
        _assign(worker, store, run, trainer, threads)
        progress.start_run(run.run_id, float(run.spec["n_tokens"]), fpt[run.run_id], done_tok[run.run_id])

    def busy() -> int:
        return sum(w.run is not None for w in workers.values())

    try:
        while todo or busy():
            for worker in workers.values():  # a worker that finished its run takes the next, or is let go
                if worker.run is None:
                    spent = runs_per_worker is not None and worker.runs_given >= runs_per_worker
                    ready = None if stop["requests"] or spent else _next_ready(todo, store)
                    if ready is not None:
                        give(worker, ready)
                    elif stop["requests"] or spent or not todo:
                        _release(worker)
            if todo and not busy() and _next_ready(todo, store, take=False) is None:
                break  # what is left waits on stable phases that did not finish; they stay pending
            while not stop["requests"] and todo and busy() < jobs:
                run = _next_ready(todo, store)
                if run is None:
                    break
                worker = _spawn(store, run, threads)
                workers[worker.proc.pid] = worker
                selector.register(worker.proc.stdout, selectors.EVENT_READ, worker)
                give(worker, run)
            if stop["requests"] and not busy():
                break
            if stop["requests"] > signalled:
                sig = signal.SIGTERM if stop["requests"] == 1 else signal.SIGKILL
                for worker in workers.values():
                    _signal(worker.proc, sig)
                signalled = stop["requests"]
                deadline = deadline or time.monotonic() + STOP_GRACE_SECONDS
            if deadline is not None and not killed and time.monotonic() > deadline:
                for worker in workers.values():
                    _signal(worker.proc, signal.SIGKILL)
                killed = True
            for key, _ in selector.select(timeout=0.25):
                _read(key.data, store, progress, summary)
            for pid, worker in list(workers.items()):
                if worker.proc.poll() is not None:
                    selector.unregister(worker.proc.stdout)
                    _drain(worker, store, progress, summary)
                    if worker.run is not None:
                        _finalize(worker, store, progress, summary, stopping=bool(stop["requests"]))
                    _release(worker)
                    del workers[pid]
        summary.stopped = bool(stop["requests"])
    finally:
        for worker in workers.values():  # idle workers exit at the end of their input; others are stopped here
            _release(worker)
            if worker.run is not None:  # only on an unexpected error in this loop
                _signal(worker.proc, signal.SIGKILL)
            worker.proc.wait()
            if worker.run is not None:
                store.mark_stopped(worker.run.run_id, "interrupted", "executor error")
            worker.proc.stdout.close()
        selector.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass


def _read(worker: _Worker, store: RunStore, progress: LadderProgress, summary: Summary) -> None:
    chunk = os.read(worker.proc.stdout.fileno(), 65536)
    if chunk:
        worker.buffer += chunk
        _handle_lines(worker, store, progress, summary)


def _drain(worker: _Worker, store: RunStore, progress: LadderProgress, summary: Summary) -> None:
    rest = worker.proc.stdout.read()
    worker.buffer += rest or b""
    if worker.buffer and not worker.buffer.endswith(b"\n"):
        worker.buffer += b"\n"
    _handle_lines(worker, store, progress, summary)


def _handle_lines(worker: _Worker, store: RunStore, progress: LadderProgress, summary: Summary) -> None:
    *lines, worker.buffer = worker.buffer.split(b"\n")
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a torn last line from a killed worker
        kind = event.get("event")
        if worker.run is None:
            continue
        run_id = worker.run.run_id
        if kind == "eval" and event.get("n_tokens") and event.get("loss") is not None:
            store.add_curve_point(run_id, event["n_tokens"], event["loss"], event.get("bpb"))
            progress.advance_run(run_id, float(event["n_tokens"]), event["loss"])
        elif kind == "done":  # the worker goes on to its next run; this one is finished now
            worker.outcome = event
            _finalize(worker, store, progress, summary, stopping=False)
        elif kind in ("stopped", "error"):
            worker.outcome = event


def _finalize(worker: _Worker, store: RunStore, progress: LadderProgress, summary: Summary, *,
              stopping: bool) -> None:
    run, outcome, code = worker.run, worker.outcome or {}, worker.proc.returncode
    worker.run, worker.outcome = None, None
    run_id, kind = run.run_id, outcome.get("event")
    n_tokens = float(run.spec["n_tokens"])
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
