"""Unbiased estimators of repeated-sampling success: pass@k, best-of-k with a scorer, majority-vote@k.

All three answer the same question for a problem with ``n`` recorded samples: if we drew ``k ≤ n`` of them at
random (without replacement), how often would the chosen strategy succeed? Averaging over all C(n, k) subsets gives
an unbiased estimate of the strategy's success with k fresh samples (a U-statistic; Chen et al. 2021, "Evaluating
Large Language Models Trained on Code", arXiv:2107.03374, Sec. 2.1, for pass@k).

Numerics: every estimator here reduces to the ratio C(m, k) / C(n, k) for m ≤ n, computed as a sum of ``log1p(-k/j)``
over j = m+1 … n, accumulated downward from j = n so that no large log-gamma values are subtracted. That keeps
pass@k accurate to ~1e-15 for n up to 10⁴ and beyond, for every k ≤ n.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

import numpy as np
from scipy import special, stats

from scalinglab.errors import InputError


def _as_int_array(name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{name} must be integers, got {arr.dtype}")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise InputError(f"{name} must be whole numbers")
    return arr.astype(np.int64)


def validate_counts(n, correct) -> tuple[np.ndarray, np.ndarray]:
    """Check per-problem sample counts ``n`` and correct counts (0 ≤ correct ≤ n, n ≥ 1); return int arrays."""
    n_arr, c_arr = np.broadcast_arrays(_as_int_array("n", n), _as_int_array("correct", correct))
    if n_arr.size == 0:
        raise InputError("no problems given (empty group)")
    if np.any(n_arr < 1):
        raise InputError(f"n must be ≥ 1 sample per problem, got {int(n_arr.min())}")
    if np.any(c_arr < 0):
        raise InputError(f"correct must be ≥ 0, got {int(c_arr.min())}")
    bad = np.flatnonzero(c_arr > n_arr)
    if bad.size:
        i = int(bad[0])
        raise InputError(f"correct ({int(c_arr.flat[i])}) exceeds n ({int(n_arr.flat[i])}) for problem {i}")
    return n_arr.copy(), c_arr.copy()


def _validate_k(k, n_min: int) -> np.ndarray:
    k_arr = np.atleast_1d(_as_int_array("k", k))
    if k_arr.size == 0:
        raise InputError("no k values given")
    if np.any(k_arr < 1):
        raise InputError(f"k must be ≥ 1, got {int(k_arr.min())}")
    if np.any(k_arr > n_min):
        raise InputError(f"k = {int(k_arr.max())} exceeds the number of samples n = {n_min}; "
                         "use a coverage law to extrapolate beyond n")
    return k_arr


def _log_comb_ratio(m: np.ndarray, n: int, k: int) -> np.ndarray:
    """log[C(m, k) / C(n, k)] for integer arrays m ≤ n (−inf where m < k), via a downward running sum."""
    j = np.arange(n, k, -1, dtype=float)                   # n, n-1, …, k+1
    tail = np.concatenate([[0.0], np.cumsum(np.log1p(-k / j))])  # tail[t] = Σ over the top t values of j
    t = n - m
    out = np.full(m.shape, -np.inf)
    ok = m >= k
    out[ok] = tail[t[ok]]
    return out


def pass_at_k(n, correct, k) -> np.ndarray:
    """Unbiased pass@k per problem: 1 − C(n−c, k)/C(n, k) (Chen et al. 2021, eq. 1).

    ``n`` and ``correct`` are per-problem arrays (or scalars); ``k`` a scalar or 1-D array with k ≤ min(n).
    Returns shape ``(len(k), n_problems)`` for array k, ``(n_problems,)`` for scalar k.
    """
    n_arr, c_arr = validate_counts(np.atleast_1d(n), np.atleast_1d(correct))
    k_arr = _validate_k(k, int(n_arr.min()))
    out = np.empty((k_arr.size, n_arr.size))
    for n_value in np.unique(n_arr):
        sel = n_arr == n_value
        for row, kk in enumerate(k_arr):
            out[row, sel] = -np.expm1(_log_comb_ratio(n_value - c_arr[sel], int(n_value), int(kk)))
    return out[0] if np.ndim(k) == 0 else out


@dataclass(frozen=True)
class PassAtK:
    """Mean pass@k over problems for several k, with per-problem values and intervals.

    ``interval`` is a normal interval for the mean over problems (problems treated as a sample from a population of
    problems; standard error = sd / √P). ``problem_lo``/``problem_hi`` bound each problem's *true* pass@k: a Jeffreys
    interval on its success probability p mapped through 1 − (1 − p)^k.
    """

    k: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    per_problem: np.ndarray
    problem_lo: np.ndarray
    problem_hi: np.ndarray
    level: float

    def as_dict(self) -> dict:
        return {"k": self.k.tolist(), "mean": self.mean.tolist(), "lo": self.lo.tolist(), "hi": self.hi.tolist(),
                "level": self.level}

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{k}</td><td>{m:.4f}</td><td>[{lo:.4f}, {hi:.4f}]</td></tr>"
                       for k, m, lo, hi in zip(self.k, self.mean, self.lo, self.hi))
        return (f"<table><tr><th>k</th><th>mean pass@k</th><th>{self.level:.0%} interval</th></tr>{rows}</table>"
                f"<p>{self.per_problem.shape[1]} problems</p>")


def pass_at_k_summary(n, correct, k, *, level: float = 0.9) -> PassAtK:
    """Mean pass@k over problems with a normal interval for the mean and per-problem Jeffreys intervals."""
    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1), got {level}")
    n_arr, c_arr = validate_counts(np.atleast_1d(n), np.atleast_1d(correct))
    k_arr = _validate_k(k, int(n_arr.min()))
    per = pass_at_k(n_arr, c_arr, k_arr)
    P = per.shape[1]
    mean = per.mean(axis=1)
    se = per.std(axis=1, ddof=1) / np.sqrt(P) if P > 1 else np.zeros_like(mean)
    z = stats.norm.ppf(0.5 + level / 2)
    alpha = 1 - level
    p_lo = np.where(c_arr == 0, 0.0, special.betaincinv(c_arr + 0.5, n_arr - c_arr + 0.5, alpha / 2))
    p_hi = np.where(c_arr == n_arr, 1.0, special.betaincinv(c_arr + 0.5, n_arr - c_arr + 0.5, 1 - alpha / 2))
    kk = k_arr[:, None].astype(float)
    with np.errstate(divide="ignore"):  # p_hi = 1 gives log1p(-1) = -inf and pass@k = 1, as it should
        problem_hi = -np.expm1(kk * np.log1p(-p_hi))
    return PassAtK(k=k_arr, mean=mean, lo=np.clip(mean - z * se, 0, 1), hi=np.clip(mean + z * se, 0, 1),
                   per_problem=per, problem_lo=-np.expm1(kk * np.log1p(-p_lo)), problem_hi=problem_hi, level=level)


def best_of_k(scores: Sequence[float], correct: Sequence[bool], k) -> np.ndarray:
    """Unbiased best-of-k for one problem: P(the highest-scored of k random samples is correct).

    Samples are ranked by ``scores`` (higher is better). A k-subset's best sample lies in the tie group occupying
    ranks a…b with probability [C(n−a+1, k) − C(n−b, k)] / C(n, k); ties are broken uniformly, so the group then
    contributes its fraction of correct samples. Exact average over all C(n, k) subsets.
    """
    s = np.asarray(scores, dtype=float)
    y = np.asarray(correct, dtype=bool)
    if s.ndim != 1 or s.shape != y.shape:
        raise InputError("scores and correct must be 1-D sequences of the same length")
    if s.size == 0:
        raise InputError("no samples given (empty group)")
    if not np.all(np.isfinite(s)):
        raise InputError("scores must be finite")
    n = s.size
    k_arr = _validate_k(k, n)
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order].astype(float)
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    ends = np.r_[starts[1:], n]                              # group g holds 0-based ranks starts[g] … ends[g]-1
    frac = np.add.reduceat(y_sorted, starts) / (ends - starts)
    out = np.empty(k_arr.size)
    for row, kk in enumerate(k_arr):
        above = np.exp(_log_comb_ratio(n - starts, n, int(kk)))  # all k in ranks ≥ group start
        below = np.exp(_log_comb_ratio(n - ends, n, int(kk)))    # all k strictly after the group
        out[row] = float(np.sum((above - below) * frac))
    return out[0] if np.ndim(k) == 0 else out


@dataclass(frozen=True)
class MajorityVote:
    """Majority-vote@k estimate for one problem: Monte Carlo over random k-subsets, with its standard error."""

    k: np.ndarray
    estimate: np.ndarray
    std_error: np.ndarray
    n_draws: int


def majority_vote_at_k(answers: Sequence[Hashable | None], reference: Hashable, k, *, n_draws: int = 2000,
                       seed: int = 0) -> MajorityVote:
    """Majority-vote@k for one problem from its n sampled answers (``None`` = no answer, never wins a vote).

    The target is the average, over all C(n, k) subsets, of "the most common answer in the subset equals
    ``reference``" (ties broken uniformly at random) — the unbiased U-statistic. It is estimated by drawing
    ``n_draws`` subsets uniformly without replacement (seeded); each draw scores the exact tie-broken probability,
    so the estimate is unbiased and its Monte Carlo standard error is reported. For k = 1 and k = n the answer is
    computed exactly.
    """
    if len(answers) == 0:
        raise InputError("no samples given (empty group)")
    if n_draws < 1:
        raise InputError(f"n_draws must be ≥ 1, got {n_draws}")
    n = len(answers)
    k_arr = _validate_k(k, n)
    labels = {a: i for i, a in enumerate(dict.fromkeys(a for a in answers if a is not None))}
    codes = np.array([-1 if a is None else labels[a] for a in answers])
    ref = labels.get(reference, -2)
    n_labels = max(len(labels), 1)
    rng = np.random.default_rng(seed)
    est, err = np.empty(k_arr.size), np.empty(k_arr.size)
    for row, kk in enumerate(k_arr):
        if kk == n or kk == 1:
            est[row] = _vote_win(codes[None, :], ref, n_labels)[0] if kk == n else float(np.mean(codes == ref))
            err[row] = 0.0
            continue
        # A random k-subset = the first k of a random permutation; argsort of uniforms gives one per row.
        idx = np.argsort(rng.random((n_draws, n)), axis=1)[:, :kk]
        wins = _vote_win(codes[idx], ref, n_labels)
        est[row] = wins.mean()
        err[row] = wins.std(ddof=1) / np.sqrt(n_draws) if n_draws > 1 else np.nan
    return MajorityVote(k=k_arr, estimate=est, std_error=err, n_draws=n_draws)


def _vote_win(subsets: np.ndarray, ref: int, n_labels: int) -> np.ndarray:
    """Per row of answer codes: probability that uniform tie-breaking among the modal answers picks ``ref``."""
    if ref < 0:
        return np.zeros(subsets.shape[0])
    counts = np.zeros((subsets.shape[0], n_labels), dtype=np.int64)
    rows = np.repeat(np.arange(subsets.shape[0]), subsets.shape[1])
    flat = subsets.ravel()
    keep = flat >= 0
    np.add.at(counts, (rows[keep], flat[keep]), 1)
    top = counts.max(axis=1)
    n_top = (counts == top[:, None]).sum(axis=1)
    return np.where((counts[:, ref] == top) & (top > 0), 1.0 / n_top, 0.0)

