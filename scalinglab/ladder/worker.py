"""Ladder runs in a worker process: ``python -m scalinglab.ladder.worker``, one JSON job per line on stdin.

A worker runs its jobs one after another and exits at the end of its input, so a ladder of short runs pays the
process start-up once per slot instead of once per run (Python, torch and its lazily imported compiler stack, the
trainer: about 5 s of CPU per process here, against runs of 7–40 s in the tiny and small presets). Every run seeds
its own generators (``torch.manual_seed(cfg.seed)``), so its result does not depend on what ran before it in the
same process (``tests/test_ladder_executor.py`` checks it).

The worker never opens the run store. It reports to its parent as JSON lines on the pipe that was its stdout
(``eval``, then ``done`` | ``stopped`` | ``error`` for each job); anything else the training code prints goes to that
run's ``log`` file (stdout and stderr are pointed at it for the job's duration). SIGTERM or SIGINT asks the trainer
to stop at its next step; it checkpoints, the worker reports ``stopped`` and exits. After an ``error`` the worker
exits too, so a run that failed never leaves state behind for the next one. A SIGKILL loses at most the steps since
the last checkpoint (the real trainer's are ``CHECKPOINT_SECONDS`` apart at least) and nothing in the store.

Job fields: ``config`` (a TrainConfig dict), ``run_dir``, ``log`` (optional path), ``trainer`` ("module:function"),
``threads``, ``procs`` (optional, default 1: more trains the run with DDP on that many processes of this machine,
this one being rank 0 — ``scalinglab.train.distributed.train_local_ranks``; the torch trainer only).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import signal
import sys
import time

TRAINERS = {"torch": "scalinglab.train.trainer:train", "synthetic": "scalinglab.ladder.synthetic:train"}
EXIT_STOPPED = 3
CHECKPOINT_SECONDS = 20.0  # a SIGKILL loses at most ~20 s of a run; SIGTERM and Ctrl-C still checkpoint at once


def resolve_trainer(name: str):
    """A trainer by short name (``torch``, ``synthetic``) or ``module:function``."""
    target = TRAINERS.get(name, name)
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


def _number(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def result_metrics(result) -> dict:
    """The store's metric names from a TrainResult-like object."""
    get = lambda name: _number(getattr(result, name, None))  # noqa: E731
    return {
        "n_params": get("n_params"), "n_params_non_embedding": get("n_params_non_embedding"),
        "n_tokens": get("n_tokens"), "flops_6n": get("flops_6n"), "flops_full": get("flops_full"),
        "final_loss": get("final_val_loss"), "final_bpb": get("final_val_bpb"),
        "tokens_per_s": get("tokens_per_s"), "mfu": get("mfu"),
    }


def main() -> int:
    events = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints from training code go to the log, not into the event pipe
    sys.stdout = sys.stderr

    def emit(kind: str, **payload) -> None:
        events.write(json.dumps({"event": kind, **payload}) + "\n")
        events.flush()

    stop = {"requested": False}

    def request_stop(signum, frame):
        stop["requested"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    parent = os.getppid()

    def should_stop() -> bool:
        # An orphaned worker (its executor died) stops too, so it never races the next executor's worker.
        return stop["requested"] or os.getppid() != parent

    for line in sys.stdin:
        if not line.strip():
            continue
        if should_stop():
            emit("stopped")
            return EXIT_STOPPED
        code = _run_job(line, emit, should_stop)
        if code:
            return code
    return 0


def _log_to(path) -> None:
    """Point this process's stdout and stderr (the file descriptors, so C-level output too) at ``path``."""
    if not path:
        return
    sys.stderr.flush()
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)


def _run_job(line: str, emit, should_stop) -> int:
    try:
        job = json.loads(line)
    except ValueError as exc:
        emit("error", message=f"unreadable job: {exc}")
        return 1
    return run_job(job, emit, should_stop)


def run_job(job: dict, emit, should_stop) -> int:
    """One job: 0 when it finished, ``EXIT_STOPPED`` when stopped, 1 when it failed (reported as ``error``).

    ``emit(kind, **payload)`` reports events; the Ray executor calls this in its tasks with a job without ``log``
    (its worker's output stays in Ray's logs)."""
    try:
        _log_to(job.get("log"))
        from scalinglab.train.config import TrainConfig

        cfg = TrainConfig.from_dict(job["config"])
        train = resolve_trainer(job.get("trainer", "torch"))
        if job.get("threads") and "torch" in sys.modules:  # trainers that never load torch skip its import
            sys.modules["torch"].set_num_threads(int(job["threads"]))

        def on_eval(info: dict) -> None:
            loss = info.get("val_loss", info.get("loss"))
            tasks = {task: {k: _number(v) for k, v in m.items()} for task, m in (info.get("tasks") or {}).items()}
            emit("eval", n_tokens=_number(info.get("n_tokens")), loss=_number(loss),
                 bpb=_number(info.get("val_bpb", info.get("bpb"))), **({"tasks": tasks} if tasks else {}))

        start = time.perf_counter()
        # the real trainer checkpoints at most every CHECKPOINT_SECONDS (see its min_checkpoint_seconds)
        extra = {"min_checkpoint_seconds": CHECKPOINT_SECONDS} if job.get("trainer", "torch") == "torch" else {}
        procs = int(job.get("procs") or 1)
        if procs > 1:
            if job.get("trainer", "torch") != "torch":
                raise ValueError(f"{procs} processes per run need the torch trainer, not {job['trainer']!r}")
            from scalinglab.train.distributed import train_local_ranks

            result = train_local_ranks(cfg, job["run_dir"], procs, threads=job.get("threads"), on_eval=on_eval,
                                       should_stop=should_stop, **extra)
        else:
            result = train(cfg, job["run_dir"], on_eval=on_eval, should_stop=should_stop, **extra)
        if not getattr(result, "completed", True):
            emit("stopped")
            return EXIT_STOPPED
        # The trainer's elapsed time spans every attempt of a resumed run; fall back to this attempt's.
        elapsed = _number(getattr(result, "elapsed_s", None)) or time.perf_counter() - start
        metrics = result_metrics(result) | {"wall_seconds": elapsed}
        curve = [[_number(t), _number(v)] for t, v in (getattr(result, "curve", None) or [])]
        emit("done", metrics=metrics, curve=[p for p in curve if None not in p])
        return 0
    except KeyboardInterrupt:
        emit("stopped")
        return EXIT_STOPPED
    except Exception as exc:  # reported to the parent, which records the run as failed with this one line
        import traceback

        traceback.print_exc()
        emit("error", message=f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500])
        return 1
    finally:
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
