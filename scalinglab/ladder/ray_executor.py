"""The Ray executor: a ladder's runs as Ray tasks across the nodes of a cluster (``pip install 'scalinglab[ray]'``).

Each run is one task asking for ``cpus_per_run`` CPUs (and ``gpus_per_run`` GPUs), times ``procs_per_run`` when the
run trains on that many DDP processes of its node (the task is rank 0, ``scalinglab.train.distributed``); it trains with the same worker
code as the local executor (``scalinglab.ladder.worker.run_job``) and streams its events back to the driver as a
Ray generator, so the driver — the only writer of the store — shows the same progress as the local executor.

- **Shared storage.** Every node reads and writes the run's folder ``<ladder>/runs/<run_id>`` (config, checkpoints,
  result), so the ladder directory must be a path every node sees the same way (see the README).
- **A lost node.** Ray reports the task's failure (``NodeDiedError`` and the like); the driver starts the run again,
  at most ``MAX_ATTEMPTS`` times per invocation, wherever Ray finds room, and the run resumes from its last
  checkpoint. The trainer's resume is exact, so the final loss is the same bits as an uninterrupted run's (at the
  same thread count: ``cpus_per_run`` threads, like ``--threads`` locally). Ray's own task retries are off: a retry
  is the driver's decision, recorded in the store (``attempts``).
- **Stops.** A first Ctrl-C writes a ``STOP`` file in each running run's folder; the task's trainer sees it within
  ``STOP_POLL_SECONDS``, checkpoints and ends. A second Ctrl-C (or ``STOP_GRACE_SECONDS``) cancels the tasks.
- **Fail fast.** An unreachable ``--address`` is refused after a ``CONNECT_TIMEOUT_SECONDS`` socket probe, before
  Ray is asked (which would retry for a minute); a run asking for more CPUs or GPUs than any node has is refused
  before anything runs.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from pathlib import Path

from scalinglab.errors import InputError
from scalinglab.ladder.executor import STOP_GRACE_SECONDS, RunBook, StopRequests, next_ready
from scalinglab.ladder.store import RunStore, StoredRun

MAX_ATTEMPTS = 3
STOP_FILE = "STOP"
STOP_POLL_SECONDS = 0.5
CONNECT_TIMEOUT_SECONDS = 3.0
RAY_HINT = "the ray executor needs Ray: pip install 'scalinglab[ray]'"


def _import_ray():
    try:
        import ray
    except ImportError:
        raise InputError(RAY_HINT) from None
    return ray


def _probe(address: str) -> None:
    """Refuse an unreachable HOST:PORT in seconds (``ray.init`` itself keeps retrying for about a minute)."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise InputError(f"--address must be 'auto' or HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as exc:
        raise InputError(f"cannot reach a Ray cluster at {address} ({exc.strerror or exc}); start one with "
                         "`ray start --head` or check --address") from None


class RayExecutor:
    """Runs as Ray tasks. ``address``: None starts Ray on this machine (``local_cpus`` CPUs), "auto" joins the
    cluster this machine belongs to, HOST:PORT joins that one."""

    def __init__(self, address: str | None = None, *, cpus_per_run: int = 1, gpus_per_run: int = 0,
                 max_attempts: int = MAX_ATTEMPTS, local_cpus: int | None = None, procs_per_run: int = 1):
        if cpus_per_run < 1 or gpus_per_run < 0:
            raise InputError(f"--cpus-per-run must be >= 1 and --gpus-per-run >= 0, got {cpus_per_run}, "
                             f"{gpus_per_run}")
        if procs_per_run < 1:
            raise InputError(f"--procs-per-run must be >= 1, got {procs_per_run}")
        if max_attempts < 1:
            raise InputError(f"max attempts must be >= 1, got {max_attempts}")
        self.address, self.cpus, self.gpus = address, cpus_per_run, gpus_per_run
        self.max_attempts, self.local_cpus, self.procs = max_attempts, local_cpus, procs_per_run
        self.resumed: dict[str, int] = {}  # run_id → checkpoint step its latest attempt started from
        self.placed: dict[str, str] = {}  # run_id → Ray node id of its latest attempt
        self._ray, self._started_ray = None, False

    # --- connection ------------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Join (or start) the cluster and check that some node can hold one run; idempotent."""
        if self._ray is not None:
            return
        ray = _import_ray()
        if self.address not in (None, "auto"):
            _probe(self.address)
        options = dict(log_to_driver=False, logging_level=logging.ERROR, ignore_reinit_error=True)
        try:
            if ray.is_initialized():
                pass
            elif self.address is None:
                ray.init(num_cpus=self.local_cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                         **options)
                self._started_ray = True
            else:
                ray.init(address=self.address, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InputError(f"cannot join a Ray cluster at {self.address}: {' '.join(str(exc).split())[:200]}")
        self._ray = ray
        self._check_resources()

    def _nodes(self) -> list[dict]:
        return [n.get("Resources", {}) for n in self._ray.nodes() if n.get("Alive")]

    def _check_resources(self) -> None:
        nodes = self._nodes()
        cpus = f"--cpus-per-run {self.cpus}"
        if self.procs > 1:
            cpus = f"--procs-per-run {self.procs} × {cpus} = {self.procs * self.cpus} CPUs"
        for what, want, key in ((cpus, self.cpus * self.procs, "CPU"), (f"--gpus-per-run {self.gpus}", self.gpus,
                                                                          "GPU")):
            most = max((float(r.get(key, 0)) for r in nodes), default=0.0)
            if want > most:
                self.close()
                raise InputError(f"{what}: no node of the Ray cluster has more than {most:g} {key}(s)")

    def slots(self) -> int:
        """Runs the alive nodes can hold at once."""
        total = 0
        for r in self._nodes():
            fit = int(float(r.get("CPU", 0)) // (self.cpus * self.procs))
            if self.gpus:
                fit = min(fit, int(float(r.get("GPU", 0)) // self.gpus))
            total += fit
        return total

    def close(self) -> None:
        if self._ray is not None and self._ray.is_initialized():
            self._ray.shutdown()
        self._ray = None

    # --- the ladder ------------------------------------------------------------------------------------------
    def execute(self, store: RunStore, todo: list[StoredRun], book: RunBook, stop: StopRequests) -> None:
        self.connect()
        try:
            _Driver(self, book, stop).loop(todo)
        finally:
            self.close()  # disconnects, and stops Ray if this driver started it

    def submit(self, job: dict):
        task = self._ray.remote(_train_task).options(num_cpus=self.cpus * self.procs, num_gpus=self.gpus,
                                                     max_retries=0)
        return task.remote(job)


class _Driver:
    """Submits runs as slots free up, turns their streamed events into store writes, retries lost ones."""

    def __init__(self, ex: RayExecutor, book: RunBook, stop: StopRequests):
        self.ex, self.book, self.stop, self.ray = ex, book, stop, ex._ray
        self.inflight: dict = {}  # generator → [run, attempt, outcome event]
        self.signalled, self.cancelled, self.deadline = 0, False, None

    def submit(self, run: StoredRun, attempt: int) -> None:
        job = self.book.job(run, self.ex.cpus, log=False, procs=self.ex.procs)
        Path(job["run_dir"], STOP_FILE).unlink(missing_ok=True)
        self.book.start(run)
        self.inflight[self.ex.submit(job)] = [run, attempt, None]

    def loop(self, todo: list[StoredRun]) -> None:
        try:
            while todo or self.inflight:
                if not self.stop.requests and todo and len(self.inflight) < max(self.ex.slots(), 1):
                    run = next_ready(todo, self.book.store)  # a cooldown branch waits for its stable phase
                    if run is not None:
                        self.submit(run, 1)
                        continue
                if self.stop.requests and not self.inflight:
                    break
                if todo and not self.inflight and next_ready(todo, self.book.store, take=False) is None:
                    break  # what is left waits on stable phases that did not finish; they stay pending
                self.signal_stops()
                ready, _ = self.ray.wait(list(self.inflight), num_returns=1, timeout=0.25)
                for gen in ready:
                    self.step(gen)
        finally:
            for gen, (run, _, _) in self.inflight.items():  # only on an unexpected error in this loop
                self.ray.cancel(gen, force=True)
                self.book.store.mark_stopped(run.run_id, "interrupted", "executor error")

    def signal_stops(self) -> None:
        if self.stop.requests > self.signalled:
            self.signalled = self.stop.requests
            self.deadline = self.deadline or time.monotonic() + STOP_GRACE_SECONDS
            for run, _, _ in self.inflight.values():
                Path(self.book.run_dir(run), STOP_FILE).touch()
        past = self.deadline is not None and time.monotonic() > self.deadline
        if (self.stop.requests > 1 or past) and not self.cancelled:
            for gen in self.inflight:
                self.ray.cancel(gen, force=True)
            self.cancelled = True

    def step(self, gen) -> None:
        entry = self.inflight[gen]
        run, attempt, _ = entry
        try:
            event = self.ray.get(next(gen))
        except StopIteration:
            del self.inflight[gen]
            self.finish(run, entry[2] or {})
            return
        except self.ray.exceptions.RayError as exc:
            del self.inflight[gen]
            self.lost(run, attempt, exc)
            return
        kind = event.get("event")
        if kind == "started":
            self.ex.resumed[run.run_id] = int(event.get("checkpoint_step", 0))
            self.ex.placed[run.run_id] = str(event.get("node"))
        elif kind in ("done", "stopped", "error"):
            entry[2] = event
        else:
            self.book.event(run, event)

    def finish(self, run: StoredRun, outcome: dict) -> None:
        kind = outcome.get("event")
        Path(self.book.run_dir(run), STOP_FILE).unlink(missing_ok=True)
        if kind == "done":
            self.book.done(run, outcome)
        elif kind == "error":
            self.book.failed(run, outcome.get("message"), " (traceback in the Ray worker's log)")
        else:
            self.book.interrupted(run, None if kind == "stopped" else "task ended without a result")

    def lost(self, run: StoredRun, attempt: int, exc: Exception) -> None:
        cancelled = isinstance(exc, self.ray.exceptions.TaskCancelledError)
        why = "cancelled" if cancelled else f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
        if cancelled or self.stop.requests:
            self.book.interrupted(run, why)
        elif isinstance(exc, self.ray.exceptions.RayTaskError):  # the task's own code raised: not the node's fault
            self.book.failed(run, why)
        elif attempt >= self.ex.max_attempts:
            self.book.interrupted(run, f"lost {attempt} times ({why})")
        else:
            self.book.retrying(run, "its node was lost" if "node" in why.lower() else why, attempt,
                               self.ex.max_attempts)
            self.submit(run, attempt + 1)


def _checkpoint_step(run_dir: str) -> int:
    """The step the run's checkpoint holds (0 without one); memory-mapped, so a large checkpoint costs nothing."""
    path = Path(run_dir) / "checkpoint.pt"
    if not path.is_file():
        return 0
    import torch

    try:
        return int(torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("step", 0))
    except Exception:  # an unreadable checkpoint is the trainer's to report
        return 0


def _train_task(job: dict):
    """The Ray task: train ``job`` in a thread, yield its events as they come (a Ray streaming generator)."""
    from scalinglab.ladder.worker import run_job

    import ray

    events: queue.Queue = queue.Queue()
    stop_file, seen = Path(job["run_dir"]) / STOP_FILE, {"at": 0.0, "stop": False}

    def should_stop() -> bool:  # a stat per step would be an NFS round trip per step: poll at most twice a second
        now = time.monotonic()
        if now - seen["at"] > STOP_POLL_SECONDS:
            seen["at"], seen["stop"] = now, stop_file.exists()
        return seen["stop"]

    def target() -> None:
        try:
            run_job(job, lambda kind, **payload: events.put({"event": kind, **payload}), should_stop)
        finally:
            events.put(None)

    yield {"event": "started", "node": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
           "pid": os.getpid(), "checkpoint_step": _checkpoint_step(job["run_dir"])}
    threading.Thread(target=target, name="scalinglab-run", daemon=True).start()
    while (event := events.get()) is not None:
        yield event
