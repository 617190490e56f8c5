"""Task evaluations on our own ladder: their cost in training time, and what they forecast.

``overhead`` (default): every run of the ``tiny`` preset trained twice in this process, one after the other, with
and without the task suite (``scalinglab.train.evals``, evaluated at each of the run's evaluations); prints CPU and
wall time of each and the ratio. The two differ only in the suite (and the ~400 documents it holds out of training).

``small``: the ``small`` demo ladder (trained into ``--out``, or reused from it) and its abilities section; prints,
per task, the best run's accuracy, the chained forecast of the largest budget's runs from the smaller ones (error,
inside the 90 % interval) and the verdict, then the issue's acceptance: at least one task clearly above chance, its
forecast within 5 accuracy points, and the tasks at chance marked not predictable.

Measured on the shared 2-core machine (load 2–4), seed 0: ``overhead`` — scoring the suite took 4.5 s of CPU, 7.5 %
on top of the 8 runs' 59.8 s (the whole-run ratio, 1.035, is within the noise of the shared cores); ``small`` —
spelling best run 0.927, backtest of the 3 runs at 1.6e12 FLOPs from the 7 below: predicted 0.873–0.877 against
0.911–0.927 (mean error 4.3 points, all inside their intervals; the task-loss law over-predicts the largest budget's
task loss as the loss law over-predicts its loss, +3–4.6 %); gloss_headword (best 0.271) within noise of chance,
fortune_ending (best 0.302) not identified; demo 12.0 min at that load.

    PYTHONPATH=. python benchmarks/task_evals.py overhead
    PYTHONPATH=. python benchmarks/task_evals.py small --out results/demo-small
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch


def overhead(limit: int | None) -> None:
    from scalinglab.demo.presets import get_preset
    from scalinglab.train.config import TrainConfig
    from scalinglab.train.trainer import train

    from scalinglab.train import evals

    preset = get_preset("tiny")
    specs = preset.specs()[:limit]
    torch.set_num_threads(1)
    totals = {True: [0.0, 0.0], False: [0.0, 0.0]}
    inside = [0.0]   # CPU seconds spent scoring the suite, measured around each call
    score = evals.SuiteEvaluator.evaluate

    def timed(self, *args):
        c0 = time.process_time()
        try:
            return score(self, *args)
        finally:
            inside[0] += time.process_time() - c0

    evals.SuiteEvaluator.evaluate = timed
    with tempfile.TemporaryDirectory() as tmp:
        warm = TrainConfig.from_dict(preset.settings.train_config(specs[0])).replace(threads=1, n_tokens=20_000)
        train(warm, Path(tmp) / "warm-up")   # torch start-up and the matmul-peak measurement, outside the timing
        for spec in specs:
            base = TrainConfig.from_dict(preset.settings.train_config(spec)).replace(threads=1)
            row = []
            for tasks in (False, True):
                cfg = base.replace(data=dataclasses.replace(base.data, tasks=tasks))
                if tasks:
                    from scalinglab.train.data import load_tokens
                    load_tokens(cfg.data)   # the suite's token cache is built once, outside the timing
                c0, w0 = time.process_time(), time.perf_counter()
                train(cfg, Path(tmp) / f"{spec.run_id}-{tasks}")
                cpu, wall = time.process_time() - c0, time.perf_counter() - w0
                totals[tasks][0] += cpu
                totals[tasks][1] += wall
                row.append(cpu)
            print(f"{spec.run_id:28s} CPU without tasks {row[0]:6.1f} s, with {row[1]:6.1f} s, "
                  f"ratio {row[1] / row[0]:.3f}")
    (c_off, w_off), (c_on, w_on) = totals[False], totals[True]
    print(f"tiny preset, {len(specs)} runs, 1 thread: CPU {c_off:.1f} s → {c_on:.1f} s with tasks (ratio "
          f"{c_on / c_off:.3f}); wall {w_off:.1f} s → {w_on:.1f} s (ratio {w_on / w_off:.3f})")
    print(f"scoring the suite took {inside[0]:.1f} s CPU, {inside[0] / c_on:.1%} of the runs with tasks "
          f"({inside[0] / (c_on - inside[0]):.1%} on top of their training and evaluation)")


def small(out: Path, jobs: int) -> None:
    from rich.console import Console

    from scalinglab.demo.pipeline import run_demo

    code = run_demo("small", out, jobs=jobs, show_progress=False, console=Console(width=140))
    if code:
        raise SystemExit(code)
    import json

    ab = json.loads((out / "abilities.json").read_text())
    rising = []
    print("\ntask            chance  best   backtest: mean |error|, inside   verdict")
    for t in ab["tasks"]:
        best = max(r["accuracy"] for r in t["finals"])
        bt = t["backtest"]
        err = f"{bt['mean_abs_error']:.3f}, {bt['inside']}/{bt['n']}" if bt else t["backtest_note"]
        law = t["law"]
        print(f"{t['task']:15s} {law['chance']:.2f}   {best:.3f}  {err:30s}  "
              f"{'predictable' if law['predictable'] else 'not predictable'}")
        if law["predictable"]:
            rising.append((t["task"], bt["mean_abs_error"] if bt else None))
    ok = [task for task, e in rising if e is not None and e <= 0.05]
    print(f"acceptance: tasks predictable {[t for t, _ in rising]}, with backtest error ≤ 5 points {ok}: "
          f"{'PASS' if ok else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("overhead", "small"), nargs="?", default="overhead")
    parser.add_argument("--runs", type=int, default=None, help="overhead: the first K runs of tiny only")
    parser.add_argument("--out", type=Path, default=Path("results/demo-small-tasks"))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if args.what == "overhead":
        overhead(args.runs)
    else:
        small(args.out, args.jobs)


if __name__ == "__main__":
    main()
