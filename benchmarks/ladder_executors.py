"""Ladder wall time on the local executor vs the Ray executor on a Ray cluster started on the same cores.

Same ladder, same machine, run back to back in fresh directories in this one process; prints both wall times, Ray's
overhead (goal: at most 15 % on the `tiny` preset) with and without the cluster's start-up, and whether every final
loss is the same bits on both. The cluster is one Ray node with ``--cores`` CPUs bound to 127.0.0.1, and each run
asks for one CPU, like the local executor's ``--jobs cores --threads 1``.

    .venv/bin/python benchmarks/ladder_executors.py                 # the `tiny` preset, ~5 min on 2 idle cores
    .venv/bin/python benchmarks/ladder_executors.py --preset test   # a quicker check

Measured on the shared 2-core machine (load average 5–11 from other jobs, so noisy): `tiny` local 383.0 s, Ray
404.4 s + 21.1 s start-up (+5.6 % / +11.1 %); `test` local 295.1 s, Ray 286.5 s + 28.1 s (−2.9 % / +6.6 %);
final losses bit-identical in both. Again with `--preset test` at load 3–4.4: local 45.6 s, Ray 60.4 s + 5.3 s
(+32 % / +44 %); at load 4.8–6.6: local 106.7 s, Ray 120.7 s + 17.4 s (+13 % / +29 %): the other jobs' load moves
between the two timings, so one pair of wall times on this machine does not settle the 15 % goal.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # read by Ray at import: loopback addresses only

from scalinglab.demo.presets import get_preset  # noqa: E402
from scalinglab.ladder import RunStore, register, run_ladder  # noqa: E402
from scalinglab.ladder.ray_executor import RayExecutor  # noqa: E402


def _ladder(preset_name: str, path: Path) -> RunStore:
    preset = get_preset(preset_name)
    store = RunStore(path)
    register(store, preset.specs(), preset.settings)
    return store


def _finish(store: RunStore, executor=None, jobs: int = 2) -> tuple[float, dict]:
    start = time.perf_counter()
    summary = run_ladder(store, jobs=jobs, threads=1, show_progress=False, executor=executor)
    wall = time.perf_counter() - start
    if summary.failed or summary.stopped or summary.interrupted:
        raise SystemExit(f"ladder did not finish: {summary}")
    return wall, {r.run_id: r.metrics["final_loss"] for r in store.runs("done")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    n = len(get_preset(args.preset).specs())
    print(f"ladder '{args.preset}' ({n} runs) on {args.cores} cores, load average {os.getloadavg()[0]:.1f}",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        local_wall, local = _finish(_ladder(args.preset, Path(tmp) / "local"), jobs=args.cores)
        print(f"  local executor, {args.cores} jobs × 1 thread:  {local_wall:7.1f} s   (load average "
              f"{os.getloadavg()[0]:.1f})", flush=True)
        start = time.perf_counter()
        executor = RayExecutor(None, cpus_per_run=1, local_cpus=args.cores)
        executor.connect()
        startup = time.perf_counter() - start
        ray_wall, on_ray = _finish(_ladder(args.preset, Path(tmp) / "ray"), executor=executor)
        print(f"  ray executor, {args.cores} CPUs × 1 per run:   {ray_wall:7.1f} s   + {startup:.1f} s to start "
              f"Ray   (load average {os.getloadavg()[0]:.1f})", flush=True)
    print(f"  Ray's overhead: {ray_wall / local_wall - 1:+.1%} without its start-up, "
          f"{(ray_wall + startup) / local_wall - 1:+.1%} with it (goal: <= +15 %)")
    same = on_ray == local
    print(f"  final losses bit-identical on both executors: {same} ({len(local)} runs)")


if __name__ == "__main__":
    main()
