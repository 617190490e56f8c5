"""Executors run a ladder's unfinished runs; ``run_ladder`` is the one entry point, the same for all of them.

What every executor shares lives here: the ladder lock (``scalinglab.ladder.lock``), the order of the work (longest
run first, the LPT rule, which keeps the last slot from idling on one long run at the end), the progress display,
the stop requests (Ctrl-C or SIGTERM; a second one kills), and ``RunBook``, through which every outcome reaches the
store, so that the driver stays the store's only writer whatever the executor. An executor is an object with
``execute(store, todo, book, stop)``: ``LocalExecutor`` below, ``scalinglab.ladder.ray_executor.RayExecutor``.

The local executor packs worker processes onto this machine's cores:

- **Idempotent.** Finished runs are skipped; interrupted ones resume from their checkpoint (the trainer's job).
- **Packing.** Up to ``jobs`` workers at once, each with ``threads`` intra-op threads. On small models two
  single-thread jobs beat one two-thread job because a small matmul does not split well across cores;
  ``benchmarks/ladder_packing.py`` measures it.
- **Processes per run.** ``procs`` > 1 trains each run with DDP on that many processes (the worker is rank 0 and
  starts the others: ``scalinglab.train.distributed.train_local_ranks``), with the one-process run's global batch,
  schedule and data order, so a run takes ``procs × threads`` cores; ``check_procs_per_run`` refuses a count that
  does not divide every run's batch.
- **Reused workers.** Each slot's worker process trains run after run (``scalinglab.ladder.worker``), so the process
  start-up — Python, torch and the trainer's imports, about 5 s of CPU — is paid once per slot, not once per run.
- **Safe stops.** A stop request asks every worker to checkpoint and stop; runs are marked ``interrupted`` and the
  next invocation resumes them. Only this process writes the store.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from scalinglab.errors import InputError
from scalinglab.ladder.lock import ladder_lock
from scalinglab.ladder.progress import LadderProgress
from scalinglab.ladder.store import RunStore, StoredRun

__all__ = ["Executor", "LocalExecutor", "RunBook", "StopRequests", "Summary", "check_procs_per_run", "ladder_lock",
           "run_ladder"]
STOP_GRACE_SECONDS = 120.0


@dataclass
class Summary:
    done: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)  # runs given again after losing their node (Ray)
    skipped: int = 0
    stopped: bool = False
    wall_seconds: float = 0.0


class StopRequests:
    """Counts Ctrl-C / SIGTERM while installed (main thread only): 1 asks runs to checkpoint and stop, 2 kills."""

    def __init__(self):
        self.requests, self._previous = 0, {}

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum, frame) -> None:
        self.requests += 1


class RunBook:
    """Where executors report: starts, evaluations and outcomes go to the store, the progress display and the
    summary. Only the driver holds one, so only the driver writes the store."""

    def __init__(self, store: RunStore, progress: LadderProgress, summary: Summary, trainer: str,
                 fpt: dict[str, float], done_tok: dict[str, float], trackers: list | tuple = ()):
        self.store, self.progress, self.summary, self.trainer = store, progress, summary, trainer
        self.fpt, self.done_tok, self.trackers = fpt, done_tok, trackers

    def run_dir(self, run: StoredRun) -> Path:
        run_dir = self.store.dir.resolve() / "runs" / run.run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir

    def job(self, run: StoredRun, threads: int, *, log: bool = True, procs: int = 1) -> dict:
        """The worker's job for ``run`` (``scalinglab.ladder.worker``). Threads are set by the worker, not written
        into the config: a run may resume with a different count. ``procs`` > 1: DDP ranks per run."""
        run_dir = self.run_dir(run)
        return {"config": run.config, "run_dir": str(run_dir), "log": str(run_dir / "log.txt") if log else None,
                "trainer": self.trainer, "threads": threads, "procs": procs}

    def start(self, run: StoredRun) -> None:
        self.store.mark_running(run.run_id)
        tokens = max(self.done_tok[run.run_id], self.store.last_curve_tokens(run.run_id))
        self.progress.start_run(run.run_id, float(run.spec["n_tokens"]), self.fpt[run.run_id], tokens)
        for tracker in self.trackers:
            tracker.start_run(run.run_id, run.config)

    def event(self, run: StoredRun, event: dict) -> None:
        """A worker event other than the outcome: an evaluation is stored and advances the display."""
        if event.get("event") == "eval" and event.get("n_tokens") and event.get("loss") is not None:
            self.store.add_curve_point(run.run_id, event["n_tokens"], event["loss"], event.get("bpb"),
                                       tasks=event.get("tasks"))
            self.progress.advance_run(run.run_id, float(event["n_tokens"]), event["loss"])
            scalars = {"val_loss": event["loss"]} | ({"val_bpb": event["bpb"]} if event.get("bpb") is not None else {})
            scalars |= {f"{task}/{k}": v for task, m in (event.get("tasks") or {}).items() for k, v in m.items()
                        if v is not None}
            for tracker in self.trackers:
                tracker.log(run.run_id, event["n_tokens"], scalars)

    def done(self, run: StoredRun, outcome: dict) -> None:
        metrics = outcome.get("metrics", {})
        self.store.finish(run.run_id, metrics, [tuple(p) for p in outcome.get("curve", [])])
        for tracker in self.trackers:
            tracker.end_run(run.run_id, metrics.get("n_tokens") or float(run.spec["n_tokens"]), metrics)
        self.summary.done.append(run.run_id)
        tps = metrics.get("tokens_per_s") or 0.0
        self.progress.end_run(run.run_id, "done", float(run.spec["n_tokens"]),
                              f"loss {metrics.get('final_loss', float('nan')):.4f}  {tps:,.0f} tok/s  "
                              f"{metrics.get('wall_seconds', 0):.0f}s")

    def failed(self, run: StoredRun, message: str | None, hint: str = "") -> None:
        self.store.mark_stopped(run.run_id, "failed", message)
        self.summary.failed.append(run.run_id)
        self.progress.end_run(run.run_id, "failed", float(run.spec["n_tokens"]), f"{message}{hint}")

    def interrupted(self, run: StoredRun, why: str | None, note: str = "re-run the same command to resume") -> None:
        """Resumable from its last checkpoint; ``why`` None means stopped on request."""
        self.store.mark_stopped(run.run_id, "interrupted", why)
        self.summary.interrupted.append(run.run_id)
        self.progress.end_run(run.run_id, "interrupted", float(run.spec["n_tokens"]), f"{why or 'stopped'}; {note}")

    def retrying(self, run: StoredRun, why: str, attempt: int, max_attempts: int) -> None:
        """Lost with its node: shown and recorded, then started again by the executor."""
        self.summary.retried.append(run.run_id)
        self.progress.end_run(run.run_id, "interrupted", float(run.spec["n_tokens"]),
                              f"{why}; resuming from its checkpoint (attempt {attempt + 1} of {max_attempts})")


class Executor(Protocol):
    procs: int  # DDP processes per run (1: one process)

    def execute(self, store: RunStore, todo: list[StoredRun], book: RunBook, stop: StopRequests) -> None:
        """Train ``todo`` (longest first), reporting through ``book`` until done or stopped."""


def check_procs_per_run(procs: int, runs, trainer: str = "torch") -> None:
    """Refuse ``procs`` DDP processes per run that some run cannot use: the synthetic trainer, or a run whose batch
    (``scalinglab.train.schedule.plan_run``) ``procs`` does not divide (each rank takes an equal slice of it).
    ``runs``: (run_id, TrainConfig dict) pairs."""
    if procs < 1:
        raise InputError(f"--procs-per-run must be >= 1, got {procs}")
    if procs == 1:
        return
    if trainer != "torch":
        raise InputError(f"--procs-per-run {procs} needs --trainer torch (got {trainer})")
    from scalinglab.train.config import TrainConfig
    from scalinglab.train.schedule import plan_run

    for run_id, config in runs:
        batch = plan_run(TrainConfig.from_dict(config)).batch_size
        if batch % procs:
            raise InputError(f"--procs-per-run {procs} does not divide run {run_id}'s batch of {batch} sequences; "
                             "choose a count that divides every run's batch")


def run_ladder(store: RunStore, *, jobs: int = 2, threads: int = 1, trainer: str = "torch",
               retry_failed: bool = False, show_progress: bool = True, console=None,
               max_runs: int | None = None, runs_per_worker: int | None = None,
               executor: Executor | None = None, log_to: tuple[str, ...] = (), procs_per_run: int = 1) -> Summary:
    """Run every pending or interrupted run of the ladder in ``store``; returns what happened to each.

    ``executor`` defaults to ``LocalExecutor(jobs, threads, runs_per_worker)``; ``runs_per_worker`` caps how many
    runs one worker process trains before a fresh one takes over (default: no cap; 1 is a process per run, the
    baseline of ``benchmarks/ladder_packing.py``). ``log_to`` names experiment trackers
    (``scalinglab.ladder.trackers``). ``procs_per_run`` is the default executor's DDP processes per run (a given
    executor has its own)."""
    from scalinglab.ladder.trackers import make_trackers

    executor = executor or LocalExecutor(jobs=jobs, threads=threads, runs_per_worker=runs_per_worker,
                                         procs_per_run=procs_per_run)
    statuses = ("pending", "interrupted", "running") + (("failed",) if retry_failed else ())
    check_procs_per_run(executor.procs, [(r.run_id, r.config) for r in store.runs(statuses)], trainer)
    trackers = make_trackers(log_to, store.dir)
    summary = Summary()
    start = time.perf_counter()
    notify = None if console is None else lambda m: console.print(m, soft_wrap=True, markup=False, highlight=False)
    with ladder_lock(store.dir, notify):
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
                            enabled=show_progress and bool(todo)) as progress, StopRequests() as stop:
            try:
                executor.execute(store, todo, RunBook(store, progress, summary, trainer, fpt, done_tok, trackers),
                                 stop)
            finally:
                for tracker in trackers:
                    tracker.close()
            summary.stopped = bool(stop.requests)
    summary.wall_seconds = time.perf_counter() - start
    return summary


def next_ready(todo: list[StoredRun], store: RunStore, take: bool = True) -> StoredRun | None:
    """The first run in ``todo`` that can start now (removed from it unless ``take`` is False): a WSD cooldown
    branch waits until the stable phase it is forked from is done (``scalinglab.ladder.wsd``)."""
    lineage = store.lineage()
    waiting = {run_id for run_id, (parent, _) in lineage.items()}
    done = {r.run_id for r in store.runs("done")} if waiting else set()
    for i, run in enumerate(todo):
        if run.run_id not in waiting or lineage[run.run_id][0] in done:
            return todo.pop(i) if take else run
    return None


class _Worker:
    """A worker process and the run it is training (None between runs)."""

    def __init__(self, proc: subprocess.Popen):
        self.proc, self.run, self.runs_given = proc, None, 0
        self.buffer = b""
        self.outcome: dict | None = None


class LocalExecutor:
    """Worker processes on this machine: up to ``jobs`` runs at once, each on ``procs_per_run`` processes of
    ``threads`` torch threads."""

    def __init__(self, jobs: int = 2, threads: int = 1, runs_per_worker: int | None = None, procs_per_run: int = 1):
        if jobs < 1 or threads < 1:
            raise InputError(f"jobs and threads must be >= 1, got jobs={jobs}, threads={threads}")
        if runs_per_worker is not None and runs_per_worker < 1:
            raise InputError(f"runs per worker must be >= 1, got {runs_per_worker}")
        check_procs_per_run(procs_per_run, ())
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        if procs_per_run > cores:
            raise InputError(f"--procs-per-run {procs_per_run}: this machine has {cores} core(s); a run's processes "
                             "must fit on one machine (the ray executor spreads runs, not one run, over machines)")
        self.jobs, self.threads, self.runs_per_worker = jobs, threads, runs_per_worker
        self.procs = procs_per_run

    def execute(self, store: RunStore, todo: list[StoredRun], book: RunBook, stop: StopRequests) -> None:
        _Pool(self, book, stop).loop(todo)


class _Pool:
    """The fill / signal / reap loop of the local executor."""

    def __init__(self, executor: LocalExecutor, book: RunBook, stop: StopRequests):
        self.ex, self.book, self.stop = executor, book, stop
        self.selector = selectors.DefaultSelector()
        self.workers: dict[int, _Worker] = {}
        self.signalled, self.killed, self.deadline = 0, False, None

    def busy(self) -> int:
        return sum(w.run is not None for w in self.workers.values())

    def give(self, worker: _Worker, run: StoredRun) -> None:
        self.book.start(run)
        worker.run, worker.outcome = run, None
        worker.runs_given += 1
        try:
            job = self.book.job(run, self.ex.threads, procs=self.ex.procs)
            worker.proc.stdin.write((json.dumps(job) + "\n").encode())
            worker.proc.stdin.flush()
        except BrokenPipeError:
            pass  # the worker died; its exit is handled with the run it was given

    def spawn(self, first: StoredRun) -> _Worker:
        threads = str(self.ex.threads)
        env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        # Output before the first job is read (an import error, say) lands in the first run's log.
        with open(self.book.run_dir(first) / "log.txt", "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "scalinglab.ladder.worker"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True)
        worker = _Worker(proc)
        self.workers[proc.pid] = worker
        self.selector.register(proc.stdout, selectors.EVENT_READ, worker)
        return worker

    def fill(self, todo: list[StoredRun]) -> None:
        """A worker that finished its run takes the next, or is let go; free slots get fresh workers."""
        cap = self.ex.runs_per_worker
        store = self.book.store
        for worker in self.workers.values():
            if worker.run is None:
                spent = cap is not None and worker.runs_given >= cap
                ready = None if self.stop.requests or spent else next_ready(todo, store)
                if ready is not None:
                    self.give(worker, ready)
                elif self.stop.requests or spent or not todo:
                    _release(worker)
        while not self.stop.requests and todo and self.busy() < self.ex.jobs:
            run = next_ready(todo, store)
            if run is None:
                break
            self.give(self.spawn(run), run)

    def signal_stops(self) -> None:
        if self.stop.requests > self.signalled:
            sig = signal.SIGTERM if self.stop.requests == 1 else signal.SIGKILL
            for worker in self.workers.values():
                _signal(worker.proc, sig)
            self.signalled = self.stop.requests
            self.deadline = self.deadline or time.monotonic() + STOP_GRACE_SECONDS
        if self.deadline is not None and not self.killed and time.monotonic() > self.deadline:
            for worker in self.workers.values():
                _signal(worker.proc, signal.SIGKILL)
            self.killed = True

    def reap(self) -> None:
        for key, _ in self.selector.select(timeout=0.25):
            self.read(key.data)
        for pid, worker in list(self.workers.items()):
            if worker.proc.poll() is not None:
                self.selector.unregister(worker.proc.stdout)
                rest = worker.proc.stdout.read()
                worker.buffer += rest or b""
                if worker.buffer and not worker.buffer.endswith(b"\n"):
                    worker.buffer += b"\n"
                self.handle_lines(worker)
                if worker.run is not None:
                    self.finalize(worker)
                _release(worker)
                worker.proc.stdout.close()
                del self.workers[pid]

    def loop(self, todo: list[StoredRun]) -> None:
        try:
            while todo or self.busy():
                self.fill(todo)
                if self.stop.requests and not self.busy():
                    break
                if todo and not self.busy() and next_ready(todo, self.book.store, take=False) is None:
                    break  # what is left waits on stable phases that did not finish; they stay pending
                self.signal_stops()
                self.reap()
        finally:
            for worker in self.workers.values():  # idle workers exit at the end of their input; others stop here
                _release(worker)
                if worker.run is not None:  # only on an unexpected error in this loop
                    _signal(worker.proc, signal.SIGKILL)
                worker.proc.wait()
                if worker.run is not None:
                    self.book.store.mark_stopped(worker.run.run_id, "interrupted", "executor error")
                worker.proc.stdout.close()
            self.selector.close()

    def read(self, worker: _Worker) -> None:
        chunk = os.read(worker.proc.stdout.fileno(), 65536)
        if chunk:
            worker.buffer += chunk
            self.handle_lines(worker)

    def handle_lines(self, worker: _Worker) -> None:
        *lines, worker.buffer = worker.buffer.split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a torn last line from a killed worker
            if worker.run is None:
                continue
            kind = event.get("event")
            if kind == "done":  # the worker goes on to its next run; this one is finished now
                worker.outcome = event
                self.finalize(worker)
            elif kind in ("stopped", "error"):
                worker.outcome = event
            else:
                self.book.event(worker.run, event)

    def finalize(self, worker: _Worker) -> None:
        run, outcome, code = worker.run, worker.outcome or {}, worker.proc.returncode
        worker.run, worker.outcome = None, None
        kind = outcome.get("event")
        if kind == "done":
            self.book.done(run, outcome)
        elif kind == "error":
            self.book.failed(run, outcome.get("message"), f" (log: runs/{run.run_id}/log.txt)")
        elif kind == "stopped" or code is not None and code < 0:
            # Stopped on request, or killed by a signal (e.g. SIGKILL): resumable from its last checkpoint.
            self.book.interrupted(run, None if kind == "stopped" else f"worker killed by signal {-code}")
        else:
            message = f"worker exited with code {code} (log: runs/{run.run_id}/log.txt)"
            if self.stop.requests:
                self.book.interrupted(run, message)
            else:
                self.book.failed(run, message)


def _release(worker: _Worker) -> None:
    """No more runs for this worker: closing its input lets it exit."""
    if not worker.proc.stdin.closed:
        try:
            worker.proc.stdin.close()
        except BrokenPipeError:
            pass


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass
