"""Bounded vs unbounded irreducible loss E: resamples lost to the iteration limit and bootstrap time, same process.

    .venv/bin/python benchmarks/bounded_e.py [--resamples 1000]
On the OLMo 2 ladder (16 runs, C4 loss = mean of the last 5 evaluations) and Epoch's 240 Chinchilla runs: fits each
with ``bound_e=False`` (E free in log E, as before) and ``bound_e=True`` (0 ≤ E ≤ the lowest loss), bootstraps both,
and prints failed resamples, resamples ending on E's bound, and the bootstrap wall-time ratio bounded/unbounded.
Reads ../shared/reference/{olmo_ladder,epoch_chinchilla} (skips a set with a message when absent).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from scalinglab.laws import bootstrap, fit
from scalinglab.runs import load_runs

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
C4_LOSS = "eval/c4_en-validation/CrossEntropyLoss"


def olmo_runs() -> pd.DataFrame:
    root = REFERENCE / "olmo_ladder"
    rows = []
    for size in json.loads((root / "final.json").read_text()).values():
        for path in size["paths"]:
            history = pd.read_csv(root / "ladder-runs" / Path(path).name)
            rows.append({"run_id": Path(path).stem, "N": float(size["n"]),
                         "D": float(history["throughput/total_tokens"].iloc[-1]),
                         "loss": float(history.dropna(subset=[C4_LOSS])[C4_LOSS].tail(5).mean())})
    return pd.DataFrame(rows)


def epoch_runs():
    return load_runs(REFERENCE / "epoch_chinchilla" / "svg_extracted_data.csv").drop_highest_loss(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    for name, load, marker in (("OLMo ladder", olmo_runs, "olmo_ladder"), ("Epoch", epoch_runs, "epoch_chinchilla")):
        if not (REFERENCE / marker).exists():
            print(f"{name}: reference data absent, skipped")
            continue
        runs = load()
        seconds = {}
        for bound_e in (False, True):
            result = fit(runs, bound_e=bound_e)
            start = time.perf_counter()
            boot = bootstrap(None, fit_result=result, n_resamples=args.resamples, seed=0)
            seconds[bound_e] = time.perf_counter() - start
            print(f"{name}, bound_e={bound_e}: objective {result.objective:.7e}, {boot.summary()}, "
                  f"bootstrap {seconds[bound_e]:.2f} s")
        print(f"{name}: bootstrap time bounded/unbounded = {seconds[True] / seconds[False]:.2f}")


if __name__ == "__main__":
    main()
