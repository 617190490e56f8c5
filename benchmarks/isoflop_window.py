"""IsoFLOP window: how the half-width of the parabola window around each budget's lowest loss moves the exponent a.

Two measurements per window (decades of N either side of the lowest observed loss):
1. Porian et al. 2024 (arXiv:2406.19146) OpenWebText2 isoFLOP points, 5 configurations: a from approach 2 against
   the paper's Table 1 a and its 95 % interval (as flattened in ``compute_optimal_exponent_fits.csv``).
2. Synthetic Chinchilla ladders (Hoffmann et al. 2022 Eq. 10 constants, a = 0.4516): 7 budgets a half-decade
   apart, sizes on a shared grid 0.15 decade apart reaching 0.3–1.5 decades (uniform, per side and budget) from the
   true optimum, log-loss noise σ: bias and RMS error of a, and how often the 90 % interval holds the true a.

    PYTHONPATH=. .venv/bin/python benchmarks/isoflop_window.py [--draws 40] [--noise 0.003]
Reads ../shared/reference/porian2024_owt2/isoflop_points.csv (skips part 1 with a message when absent).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.errors import InputError
from scalinglab.laws import Chinchilla
from scalinglab.laws.isoflop import isoflop_analysis

REF = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "porian2024_owt2"
WINDOWS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0, 10.0)
LAW = Chinchilla(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def porian(windows) -> None:
    points, table = REF / "isoflop_points.csv", REF / "compute_optimal_exponent_fits.csv"
    if not points.exists():
        print(f"skipped Porian: {points} absent")
        return
    df = pd.read_csv(points).rename(columns={"params_N": "N", "tokens_D": "D"})
    ref = pd.read_csv(table).set_index("label")
    print("Porian OWT2: a per configuration (paper's 95 % interval) — inside? ")
    for w in windows:
        cells, inside = [], 0
        for label, g in df.groupby("label", sort=False):
            a = isoflop_analysis(g[["N", "D", "loss"]], window_decades=w, n_resamples=200).a
            ok = ref.loc[label, "a_ci95_lo"] <= a <= ref.loc[label, "a_ci95_hi"]
            inside += ok
            cells.append(f"{a:.3f}{'' if ok else '✗'}")
        print(f"  ±{w:<5} {inside}/5  " + "  ".join(cells))
    print("  paper   " + "  ".join(f"{ref.loc[k, 'a_n_exponent']:.3f}" for k in df["label"].unique()))


def synthetic_ladder(rng, noise: float) -> pd.DataFrame:
    grid = 10 ** np.arange(6.0, 11.0, 0.15)
    rows = []
    for c in np.geomspace(1e17, 1e20, 7):
        n_opt = float(LAW.optimal_n_params(c))
        below, above = 10 ** rng.uniform(0.3, 1.5, 2)  # sampled sizes reach unevenly far either side, as in Porian's
        for n in grid[(grid > n_opt / below) & (grid < n_opt * above)]:
            d = c / (6 * n)
            rows.append({"N": n, "D": d, "loss": float(LAW.predict(N=n, D=d)) * np.exp(noise * rng.standard_normal())})
    return pd.DataFrame(rows)


def synthetic(windows, draws: int, noise: float) -> None:
    a_true = LAW.a_exponent
    print(f"Synthetic Chinchilla ladders (a = {a_true:.4f}, σ = {noise}, {draws} draws): bias, RMS error, "
          "90 % coverage")
    ladders = [synthetic_ladder(np.random.default_rng(s), noise) for s in range(draws)]
    for w in windows:
        est, cover, failed = [], 0, 0
        for s, frame in enumerate(ladders):
            try:
                r = isoflop_analysis(frame, window_decades=w, n_resamples=300, level=0.9, seed=s)
            except InputError:
                failed += 1
                continue
            est.append(r.a)
            cover += bool(r.a_lo <= a_true <= r.a_hi)
        err = np.array(est) - a_true
        print(f"  ±{w:<5} bias {err.mean():+.4f}  rms {np.sqrt(np.mean(err ** 2)):.4f}  "
              f"coverage {cover}/{len(est)}" + (f"  ({failed} refused)" if failed else ""))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--draws", type=int, default=40)
    p.add_argument("--noise", type=float, default=0.003)
    args = p.parse_args()
    porian(WINDOWS)
    synthetic(WINDOWS, args.draws, args.noise)


if __name__ == "__main__":
    main()
