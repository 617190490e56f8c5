"""Ladder wall time with job packing (J jobs × 1 thread) vs one job at a time on every core (1 job × J threads),
and with reused workers (the default) vs a fresh worker process per run.

Same ladder, same machine, same process tree, run back to back in fresh directories; prints the wall times and the
ratios. On small models the packed ladder should win: a 64-wide matmul does not split well across cores, while two
independent runs keep both cores busy. Reusing a worker saves each later run the process start-up (Python, torch,
the trainer's imports: about 5 s of CPU here), which is a large share of a tiny preset's 7–40 s runs.

    .venv/bin/python benchmarks/ladder_packing.py              # the demo's `test` preset, a few minutes on 2 cores
    .venv/bin/python benchmarks/ladder_packing.py --preset tiny
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from scalinglab.demo.presets import get_preset
from scalinglab.ladder import RunStore, register, run_ladder


def wall_time(preset_name: str, jobs: int, threads: int, root: Path,
              runs_per_worker: int | None = None) -> tuple[float, float]:
    preset = get_preset(preset_name)
    store = RunStore(root / f"j{jobs}t{threads}r{runs_per_worker}")
    register(store, preset.specs(), preset.settings)
    start = time.perf_counter()
    summary = run_ladder(store, jobs=jobs, threads=threads, show_progress=False, runs_per_worker=runs_per_worker)
    wall = time.perf_counter() - start
    if summary.failed or summary.stopped:
        raise SystemExit(f"ladder did not finish: {summary}")
    tokens_per_s = [r.metrics["tokens_per_s"] for r in store.runs("done")]
    return wall, sum(tokens_per_s) / len(tokens_per_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="test")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--skip-threads", action="store_true", help="skip the 1 job × all-cores configuration")
    args = parser.parse_args()
    n = len(get_preset(args.preset).specs())
    print(f"ladder '{args.preset}' ({n} runs) on {args.cores} cores, load average {os.getloadavg()[0]:.1f}",
          flush=True)
    configs = [(args.cores, 1, "packed", None), (args.cores, 1, "packed, a process per run", 1),
               (1, 1, "one at a time", None), (1, args.cores, "one at a time, all cores", None)]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for jobs, threads, name, per_worker in configs[:3] if args.skip_threads else configs:
            wall, tps = wall_time(args.preset, jobs, threads, Path(tmp), per_worker)
            results[name] = wall
            print(f"  {name:<27} {jobs} job(s) × {threads} thread(s): {wall:7.1f} s   mean {tps:,.0f} tokens/s "
                  f"per run   (load average {os.getloadavg()[0]:.1f})", flush=True)
    for name, wall in results.items():
        if name != "packed":
            print(f"  speed-up of 'packed' over '{name}': {wall / results['packed']:.2f}x")


if __name__ == "__main__":
    main()
