"""WSD cooldown branches against separate cosine runs at the same (N, D), on the default corpus at demo sizes.

Builds two ladders with the demo's settings (context 128, rotary, byte tokens, 5 evaluations of 32768 tokens):
``wsd`` (one stable run per size, a cooldown branch per point; ``scalinglab.ladder.wsd``) and ``cosine`` (each
point its own run with the ladder's usual rules), trains both with the local executor and prints, per (N, D), both
held-out losses and their difference, then the median and maximum |difference| (goal: median within 1 %, Hägele et
al. 2024, arXiv:2405.18392, find cooldowns match cosine runs of the same length), the full FLOPs each ladder spent
and their wall time. The ladders live under ``--out`` so a second invocation resumes or just reports.

Measured (2026-12-02, 2 cores at load ~10, ``--sizes 1.2e4,2.5e4``, 6 pairs of 10.4k and 27.2k parameters at
20/40/80 tokens per parameter; WSD − cosine, relative):
- ``same-batch`` twins (the schedule alone differs): −1.2, −4.0, −2.2, −3.2, −2.1, −1.6 %; median |diff| 2.1 %, max
  4.0 %, mean −2.4 %.
- ``ladder-rule`` twins (the batch rule for each D): −1.2, +1.5, −5.4, −3.2, −0.8, −1.7 %; median 1.6 %, max 5.4 %.
- ``same-batch-to-zero`` (cosine to 0 instead of 0.1×): −8.6, −2.6, −1.8, −4.2, −3.4, −1.5 %; median 3.0 %.
So the gap is not the WSD's decay to zero (a cosine to zero is worse still) nor the shared batch: at the LR rule
tuned for cosine (``scalinglab.train.hparams``) the cooldown branches are systematically *lower*, by ~2 %, than
cosine runs of the same (N, D) — a goal of "within 1 %" is not met; 34 % of the FLOPs.

Measured (2026-12-03, quiet 2 cores, ``--sizes 1.2e4,2.5e4,5e4 --twins same-batch --lr-scales 0.5,0.71,1,1.41,2``,
9 pairs of 10.4k / 27.2k / 49.0k parameters at 20/40/80 tokens per parameter, 15.7 min): median |diff| (mean) per LR
scale 2.83 % (−2.68), 2.42 % (−2.74), 2.15 % (−2.10), **1.20 % (−1.05)**, 0.97 % (−1.52) at × 0.5, 0.71, 1, 1.41, 2.
Both schedules are best at × 1.41 on 8 of 9 points (cosine 8, WSD 8; ×1.41 lowers cosine losses 0.9–3.3 % against
× 1), so the rule sits ~1.4× below this setting's optimum and the cosine twins suffer more from it. With each
schedule at its own best LR: −0.30, −0.27, −1.37, −2.82, −1.20, +0.03, −1.48, −1.53, −0.22 %; **median |diff|
1.20 %, max 2.82 %, mean −1.02 %**: half the gap was the LR, the rest is WSD genuinely lower here (8 of 9 pairs),
so "within 1 %" is still not met. The 10.4k model's losses are non-monotone in LR (cosine 2.67 / 2.78 / 2.67 /
2.55 / 2.74 at 20 tokens per parameter): seed noise at 3 sequences per step is of the order of the gap there.

    nice -n 10 .venv/bin/python benchmarks/wsd_validation.py [--sizes 1.2e4,2.5e4,5e4] [--tokens-per-param 20,40,80]
        [--twins same-batch,ladder-rule,same-batch-to-zero] [--lr-scales 0.71,1,1.41] [--jobs 2]
        [--out results/wsd-validation]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

from scalinglab.ladder import LadderSettings, RunStore, register, run_ladder
from scalinglab.ladder.design import parse_numbers
from scalinglab.ladder.wsd import corpus_train_tokens, wsd

SETTINGS = LadderSettings(seq_len=128, positions="rotary", evals_per_run=5, eval_tokens=32768)


TWINS = ("same-batch", "ladder-rule", "same-batch-to-zero")


@dataclasses.dataclass(frozen=True)
class LrScaled(LadderSettings):
    """The ladder's settings with every run's peak LR at ``lr_scale`` times the trainer's rule for its N
    (``scalinglab.train.hparams.default_lr``); ``to_zero`` also decays the cosine to zero."""

    lr_scale: float = 1.0
    to_zero: bool = False

    def train_config(self, spec) -> dict:
        from scalinglab.train.hparams import default_lr

        out = super().train_config(spec)
        if self.to_zero:
            out["min_lr_ratio"] = 0.0
        if self.lr_scale != 1.0:
            out["lr"] = default_lr(spec.n_params_non_embedding) * self.lr_scale
        return out


def cosine_twin(branch, twin: str = "same-batch"):
    """The same (N, D) as a separate run with the cosine schedule, nothing shared. ``same-batch`` keeps the branch's
    batch and warm-up, so the pair differs in the schedule alone (the comparison Hägele et al. make); ``ladder-rule``
    takes the ladder's own batch rule for its D (what a cosine ladder would train: fewer, larger steps for long runs)."""
    keep = twin.startswith("same-batch")
    return dataclasses.replace(branch, role="run", parent="", branch_tokens=0,
                               batch_size=branch.batch_size if keep else 0,
                               warmup_tokens=branch.warmup_tokens if keep else 0,
                               decay_fraction=0.0, flops_spent=None)


def train_ladder(folder: Path, specs, jobs: int, settings=SETTINGS) -> tuple[dict[str, dict], float]:
    """Run (or resume) the ladder in ``folder``; returns each finished run's metrics and the executor's wall time."""
    with RunStore(folder) as store:
        register(store, specs, settings)
        start = time.perf_counter()
        summary = run_ladder(store, jobs=jobs, threads=1, show_progress=False)
        if summary.failed:
            raise SystemExit(f"{folder}: runs failed: {', '.join(summary.failed)}")
        return {r.run_id: r.metrics for r in store.runs("done")}, time.perf_counter() - start


def _summary(diffs: list[float]) -> str:
    return (f"{len(diffs)} pairs: median |diff| {statistics.median(abs(d) for d in diffs):.2%}, max "
            f"{max(abs(d) for d in diffs):.2%}, mean {statistics.mean(diffs):+.2%} (wsd − cosine, relative)")


def _settings(scale: float, to_zero: bool = False) -> LadderSettings:
    """The demo's settings, or an ``LrScaled`` copy where the LR or the cosine's floor differ."""
    if scale == 1.0 and not to_zero:
        return SETTINGS
    return LrScaled(**dataclasses.asdict(SETTINGS), lr_scale=scale, to_zero=to_zero)


def _folder(out: Path, name: str, scale: float) -> Path:
    return out / (name if scale == 1.0 else f"{name}-lr{scale:g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1.2e4,2.5e4,5e4", help="total parameter counts")
    parser.add_argument("--tokens-per-param", default="20,40,80", help="cooldown points, D/N")
    parser.add_argument("--decay-fraction", type=float, default=0.2)
    parser.add_argument("--twins", default=",".join(TWINS),
                        help="cosine twins to compare against: same-batch (schedule alone), ladder-rule, or both")
    parser.add_argument("--lr-scales", default="1",
                        help="peak LRs to train both schedules at, as multiples of the trainer's rule; with more than "
                             "one, each point is also compared at each schedule's own best LR")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results/wsd-validation"))
    args = parser.parse_args()
    twins = [t.strip() for t in args.twins.split(",") if t.strip()]
    unknown = [t for t in twins if t not in TWINS]
    if unknown or not twins:
        raise SystemExit(f"--twins: unknown {', '.join(unknown) or 'empty'} (known: {', '.join(TWINS)})")
    scales = parse_numbers(args.lr_scales, "--lr-scales")
    specs = wsd(SETTINGS.shape_context(), sizes=parse_numbers(args.sizes, "--sizes"),
                tokens_per_param=parse_numbers(args.tokens_per_param, "--tokens-per-param"),
                decay_fraction=args.decay_fraction, max_tokens=corpus_train_tokens(SETTINGS))
    branches = [s for s in specs if s.role == "branch"]
    loss: dict[tuple[str, float], dict[str, float]] = {}  # (schedule, scale) → run_id → final loss
    for scale in scales:
        wsd_runs, wsd_wall = train_ladder(_folder(args.out, "wsd", scale), specs, args.jobs, _settings(scale))
        loss["wsd", scale] = {b.run_id: wsd_runs[b.run_id]["final_loss"] for b in branches}
        for twin in twins:
            name = "cosine" if twin == "ladder-rule" else f"cosine-{twin}"
            cos_runs, cos_wall = train_ladder(_folder(args.out, name, scale), [cosine_twin(b, twin) for b in branches],
                                              args.jobs, _settings(scale, twin.endswith("to-zero")))
            loss[twin, scale] = {b.run_id: cos_runs[b.run_id]["final_loss"] for b in branches}
            print(f"\ncosine twins: {twin}, LR × {scale:g} (executor wall time this invocation: cosine {cos_wall:.0f}s, "
                  f"wsd {wsd_wall:.0f}s)")
            print(f"{'point':<22} {'N':>7} {'D':>10} {'D/N':>5} {'batch':>5} {'cosine':>8} {'wsd':>8} {'diff':>7}")
            diffs = []
            for b in branches:
                c, w = loss[twin, scale][b.run_id], loss["wsd", scale][b.run_id]
                diffs.append(w / c - 1.0)
                print(f"{b.run_id:<22} {b.n_params:>7,} {b.n_tokens:>10,} {b.tokens_per_param:>5.0f} "
                      f"{b.batch_size:>5} {c:>8.4f} {w:>8.4f} {diffs[-1]:>+7.2%}")
            print(_summary(diffs))
    if len(scales) > 1:
        for twin in twins:
            print(f"\neach schedule at its own best LR (of × {', '.join(f'{s:g}' for s in scales)}), cosine twins: {twin}")
            print(f"{'point':<22} {'cosine':>8} {'LR×':>5} {'wsd':>8} {'LR×':>5} {'diff':>7}")
            diffs = []
            for b in branches:
                c_scale = min(scales, key=lambda s: loss[twin, s][b.run_id])
                w_scale = min(scales, key=lambda s: loss["wsd", s][b.run_id])
                c, w = loss[twin, c_scale][b.run_id], loss["wsd", w_scale][b.run_id]
                diffs.append(w / c - 1.0)
                print(f"{b.run_id:<22} {c:>8.4f} {c_scale:>5g} {w:>8.4f} {w_scale:>5g} {diffs[-1]:>+7.2%}")
            print(_summary(diffs))
    spent = sum(b.spent_flops for b in branches)
    separate = sum(b.flops_full for b in branches)
    print(f"\nfull FLOPs per LR: wsd {spent:.3g} vs cosine {separate:.3g} ({1 - spent / separate:.0%} saved)")


if __name__ == "__main__":
    main()
