"""One ladder run in its own process: ``python -m scalinglab.ladder.worker`` with a JSON job on stdin.

The worker never opens the run store. It reports to its parent as JSON lines on the pipe that was its stdout
(``eval``, then ``done`` | ``stopped`` | ``error``); anything else the training code prints goes to stderr, which the
executor sends to the run's log file. SIGTERM or SIGINT asks the trainer to stop at its next step; it checkpoints and
the worker reports ``stopped``. A SIGKILL loses at most the steps since the last checkpoint and nothing in the store.

Job fields: ``config`` (a TrainConfig dict), ``run_dir``, ``trainer`` ("module:function"), ``threads``.
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
    try:
        job = json.loads(sys.stdin.read())
        from scalinglab.train.config import TrainConfig

        cfg = TrainConfig.from_dict(job["config"])
        train = resolve_trainer(job.get("trainer", "torch"))
        if job.get("threads") and "torch" in sys.modules:  # trainers that never load torch skip its import
            sys.modules["torch"].set_num_threads(int(job["threads"]))

        def on_eval(info: dict) -> None:
            loss = info.get("val_loss", info.get("loss"))
            emit("eval", n_tokens=_number(info.get("n_tokens")), loss=_number(loss),
                 bpb=_number(info.get("val_bpb", info.get("bpb"))))

        parent = os.getppid()

        def should_stop() -> bool:
            # An orphaned worker (its executor died) stops too, so it never races the next executor's worker.
            return stop["requested"] or os.getppid() != parent

        start = time.perf_counter()
        result = train(cfg, job["run_dir"], on_eval=on_eval, should_stop=should_stop)
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


if __name__ == "__main__":
    sys.exit(main())
