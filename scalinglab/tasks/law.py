"""Task laws: (N, D) → task loss → accuracy, chained, with intervals and a predictability verdict per task.

The method of Bhagia et al. 2024 (arXiv:2412.04403, Sec. 3): step 1 fits the task loss (bits per byte of the correct
answer) of each run's final checkpoint as a law of (N, D) — any law form of ``scalinglab.laws`` (default the paper's
L = E + A/N^α + B/D^β), fitted by the batched multi-start solver.
Step 2 fits accuracy as a sigmoid of task loss (``tasks.sigmoid``, floor at chance) on the **final and intermediate
checkpoints** of every ladder run, skipping the first 10 % of each run's evaluations (the paper's ``--skip_perc
0.1``). Smoothing (``smooth`` = k, the paper's ``--moving_avg 5``): step 1 takes the mean of each run's last k
evaluations; step 2 takes a trailing mean over k evaluations of both task loss and accuracy.

Intervals (a prediction interval for one new run, not only for the mean curve): one bootstrap over runs goes
through both steps: resample b draws the ladder's runs with replacement once (``TaskDraws.counts``, shared by every
task on the same runs) and refits step 1 and step 2 on that same draw, so the draws of the two steps are paired as the
chain needs. All tasks' step-1 resamples are solved in one batched solve (``laws.bootstrap.refit_resamples_stacked``),
each task's sigmoid resamples in one vectorised Levenberg–Marquardt batch; the draws are kept on the TaskLaw and
forecasts read them (nothing is refitted per target). A bootstrap over runs captures the
uncertainty of the fitted curves only; a new run also deviates from them as the ladder's runs do, so each chained draw
adds (1) a step-1 residual (the ladder's log task-loss residuals, their std corrected for the fitted parameters),
(2) a run effect on the sigmoid (the std across runs of each run's mean step-2 residual) and (3) the measured
checkpoint-to-checkpoint noise of the task, divided by √k for a mean of k evaluations. Percentile intervals.
A resample that either step cannot refit is dropped from the intervals and counted by reason
(``TaskDraws.failures``); when fewer than 2 remain for a task, the task is judged not predictable, with that reason,
and its interval is [chance, 1] — never an interval of NaNs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalinglab.errors import InputError
from scalinglab.laws.bootstrap import MAX_ITER as BOOT_MAX_ITER, refit_resamples_stacked
from scalinglab.laws.fit import fit, resolve_law
from scalinglab.laws.forms import complete_inputs
from scalinglab.laws.interval import Interval
from scalinglab.runs.history import EvalHistory
from scalinglab.tasks import sigmoid as sg
from scalinglab.tasks.verdict import Verdict, judge

# Chance level = 1 / number of answer choices (the OLMo ladder's tasks in ranked-classification format).
CHANCE = {"hellaswag": 0.25, "arc_easy": 0.25, "arc_challenge": 0.25, "openbookqa": 0.25, "mmlu": 0.25,
          "piqa": 0.5, "boolq": 0.5, "winogrande": 0.5, "csqa": 0.2, "socialiqa": 1 / 3}
SKIP_FRACTION = 0.1   # Bhagia et al.'s --skip_perc 0.1: the first 10 % of a run's evaluations are still settling
NOISE_LAST = 10       # checkpoint noise from each run's last 10 evaluations
SCREEN_ITER, N_FINAL_STARTS, BOOT_FTOL = 12, 4, 1e-8   # sigmoid multi-start and bootstrap settings (see _sigmoid_point)
# A compact start grid (432 starts) for task-loss fits (bits per byte ~0.3–3): on the OLMo ladder's 8 tasks × 3 run
# sets (all, ≤ 5×, without 1.3B) its best objective was within 1e-4 (relative) of Hoffmann's 4,500-start grid's
# (measured before E was bounded in the solver).
TASK_LOSS_GRID = np.array(np.meshgrid([0.0, 5, 10, 15], [0.0, 5, 10, 15], [-1.5, -0.75, 0.0], [0.25, 0.5, 1.0],
                                      [0.25, 0.5, 1.0])).reshape(5, -1).T


@dataclass(frozen=True)
class TaskDraws:
    """The bootstrap over runs behind a task law's intervals: resample b draws the runs ``counts[b]`` (multiplicities
    over ``run_ids``; the same draws for every task on the same runs) and refits both steps on it."""
    run_ids: tuple[str, ...]
    counts: np.ndarray = field(repr=False)    # [B, runs] run multiplicities
    step1: np.ndarray = field(repr=False)     # [B, P] step-1 law θ (``law.theta()``) per resample, NaN where failed
    sigmoid: np.ndarray = field(repr=False)   # [B, 3] sigmoid θ per resample, NaN where failed
    ok: np.ndarray = field(repr=False)        # [B] both steps refitted
    failures: dict[str, int] = field(default_factory=dict)   # why resamples failed → how many

    @property
    def n_resamples(self) -> int:
        return int(self.counts.shape[0])

    @property
    def n_used(self) -> int:
        return int(np.count_nonzero(self.ok))

    @classmethod
    def none(cls, n_step1: int) -> "TaskDraws":
        """No bootstrap (point estimates only)."""
        return cls((), np.empty((0, 0)), np.empty((0, n_step1)), np.empty((0, 3)), np.empty(0, bool))


@dataclass(frozen=True)
class TaskForecast:
    task: str
    n_params: float
    n_tokens: float
    task_loss: Interval
    accuracy: Interval                     # the chained forecast's interval, whatever the verdict
    verdict: Verdict
    ladder_position: tuple[float, float]   # sigmoid position (0 chance … 1 ceiling) of the ladder's points
    target_position: float                 # … and of the target's predicted task loss
    chance: float

    @property
    def reported(self) -> Interval:
        """The interval to report: the chained one for a predictable task, [chance, 1] for one that is not (set
        by ``TaskLaw.forecast``)."""
        return self.accuracy if self.verdict.predictable else Interval(self.accuracy.estimate, self.chance, 1.0,
                                                                         self.accuracy.level)

    def to_dict(self) -> dict:
        rep = self.reported
        return {"task": self.task, "n_params": self.n_params, "n_tokens": self.n_tokens,
                "task_loss": self.task_loss.estimate, "task_loss_lo": self.task_loss.lo,
                "task_loss_hi": self.task_loss.hi, "accuracy": self.accuracy.estimate,
                "accuracy_lo": rep.lo, "accuracy_hi": rep.hi, "level": rep.level,
                "chained_lo": self.accuracy.lo, "chained_hi": self.accuracy.hi,
                "predictable": self.verdict.predictable, "reason": self.verdict.reason,
                "ladder_position": list(self.ladder_position), "target_position": self.target_position}


@dataclass(frozen=True)
class TaskLaw:
    task: str
    chance: float
    law: object                              # the step-1 law (a scalinglab.laws Law)
    sigmoid: sg.SigmoidParams
    verdict: Verdict
    noise: float                             # checkpoint-to-checkpoint std of accuracy (one evaluation)
    loss_scatter: float                      # std of a run's log task loss around the step-1 law
    run_scatter: float                       # std of a run's accuracy around the sigmoid (its mean residual)
    smooth: int
    loss_range: tuple[float, float]          # task-loss range of the step-2 points
    converged: bool                          # both steps' fits converged
    step1_message: str
    draws: TaskDraws = field(repr=False)            # the bootstrap over runs through both steps (may be empty)
    points: pd.DataFrame = field(repr=False)        # step-2 points: run_id, n_tokens, task_loss, accuracy
    finals: pd.DataFrame = field(repr=False)        # step-1 points: run_id, n_params, n_tokens, loss, accuracy

    def forecast(self, n_params, n_tokens, *, level: float = 0.9, seed: int = 0) -> TaskForecast:
        """Chained forecast at one (N, D): task loss and accuracy with intervals, the verdict, sigmoid positions."""
        if not 0 < level < 1:
            raise InputError(f"interval level must be between 0 and 1, got {level}")
        X = complete_inputs(n_params=n_params, n_tokens=n_tokens)
        X = {k: np.atleast_1d(X[k]) for k in type(self.law).inputs}
        loss_hat = float(self.law.predict(**X)[0])
        acc_hat = float(self.sigmoid(loss_hat))
        q = ((1 - level) / 2, (1 + level) / 2)
        ok = self.draws.ok
        if np.count_nonzero(ok) >= 2:
            rng = np.random.default_rng(seed)
            b = int(np.count_nonzero(ok))
            with np.errstate(over="ignore"):
                loss_b = np.exp(type(self.law).log_predict(self.draws.step1[ok], X)[:, 0]
                                + rng.normal(0.0, self.loss_scatter, b))
            good = np.isfinite(loss_b)
            acc_b = sg.accuracy(loss_b[good][:, None], self.chance, self.draws.sigmoid[ok][good])[:, 0]
            spread = np.hypot(self.run_scatter, self.noise / np.sqrt(self.smooth))
            acc_b = acc_b + rng.normal(0.0, spread, acc_b.size)
            loss_iv = Interval(loss_hat, *map(float, np.quantile(loss_b[good], q)), level)
            acc_iv = Interval(acc_hat, *map(float, np.quantile(acc_b, q)), level)
        elif self.draws.n_resamples:
            # Every resample failed (the verdict says why): no chained interval, the honest one is [chance, 1].
            loss_iv = Interval(loss_hat, np.nan, np.nan, level)
            acc_iv = Interval(acc_hat, self.chance, 1.0, level)
        else:
            loss_iv = Interval(loss_hat, np.nan, np.nan, level)
            acc_iv = Interval(acc_hat, np.nan, np.nan, level)
        pos = self.sigmoid.position(self.points["task_loss"].to_numpy(float))
        return TaskForecast(task=self.task, n_params=float(X["n_params"][0]), n_tokens=float(X["n_tokens"][0]),
                            task_loss=loss_iv, accuracy=acc_iv, verdict=self.verdict,
                            ladder_position=(float(pos.min()), float(pos.max())),
                            target_position=float(self.sigmoid.position(loss_hat)), chance=self.chance)

    def to_dict(self) -> dict:
        return {"task": self.task, "chance": self.chance, "law": type(self.law).name, "law_params": self.law.params(),
                "ceiling": self.sigmoid.ceiling, "slope": self.sigmoid.slope, "midpoint": self.sigmoid.midpoint,
                "noise": self.noise, "loss_scatter": self.loss_scatter, "run_scatter": self.run_scatter,
                "loss_range": list(self.loss_range), "converged": self.converged,
                "step1_message": self.step1_message,
                "predictable": self.verdict.predictable, "reason": self.verdict.reason,
                "n_runs": int(self.finals["run_id"].nunique()), "n_points": len(self.points),
                "n_resamples": self.draws.n_resamples, "n_failed": self.draws.n_resamples - self.draws.n_used,
                "failures": dict(self.draws.failures)}


def checkpoint_noise(acc: pd.DataFrame, last: int = NOISE_LAST) -> float:
    """Std of one evaluation around its run's trend, from first differences of the last evaluations of every run
    (var(Δ) = 2σ² for independent noise; differencing removes the slow rise)."""
    diffs = [np.diff(g["value"].to_numpy(float)[-last:]) for _, g in acc.groupby("run_id", sort=False)]
    d = np.concatenate([x for x in diffs if x.size])
    if d.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(d * d) / 2))


def _paired(history: EvalHistory, task: str, feature: str | None = None) -> pd.DataFrame:
    loss = history.series(task, "task_loss") if feature is None else history.series(feature, "lm_loss")
    acc = history.series(task, "accuracy")
    both = loss.merge(acc[["run_id", "n_tokens", "value"]], on=["run_id", "n_tokens"], suffixes=("_loss", "_acc"))
    if both.empty:
        raise InputError(f"task '{task}': no evaluation has both a task loss and an accuracy")
    return both.rename(columns={"value_loss": "task_loss", "value_acc": "accuracy"})


def _step_points(both: pd.DataFrame, smooth: int, checkpoints: str, skip_fraction: float):
    finals, points = [], []
    for run_id, g in both.groupby("run_id", sort=False):
        g = g.sort_values("n_tokens", kind="stable")
        k = min(smooth, len(g))  # a run with fewer evaluations than ``smooth``: the mean of all it has
        tail = g.iloc[-k:]
        finals.append({"run_id": run_id, "n_params": g["n_params"].iloc[0], "n_tokens": g["n_tokens"].iloc[-1],
                       "loss": tail["task_loss"].mean(), "accuracy": tail["accuracy"].mean()})
        rolled = g[["task_loss", "accuracy"]].rolling(k).mean().assign(run_id=run_id,
                                                                         n_tokens=g["n_tokens"].to_numpy())
        rolled = rolled.iloc[k - 1:]
        if checkpoints == "final":
            rolled = rolled.iloc[-1:]
        else:
            rolled = rolled.iloc[int(np.floor(skip_fraction * len(g))):]
        points.append(rolled)
    return pd.DataFrame(finals), pd.concat(points, ignore_index=True)


def run_finals(history: EvalHistory, task: str, smooth: int = 5) -> pd.DataFrame:
    """Each run's final values (mean of its last ``smooth`` evaluations): run_id, n_params, n_tokens (final), loss
    (task loss), accuracy — what a forecast of that run is compared with."""
    return _step_points(_paired(history, task), smooth, "final", 0.0)[0]


def _sigmoid_point(points: pd.DataFrame, chance: float):
    """The sigmoid fitted to all points: (θ [3], converged)."""
    x, y = points["task_loss"].to_numpy(float), points["accuracy"].to_numpy(float)
    one = np.ones((1, x.size))
    # Multi-start in two stages: every start for a few steps, then the best few to convergence (most of the
    # grid's starts crawl toward the same few basins; running them all out cost more than the bootstrap).
    starts = sg.default_starts(x, chance)
    theta, sse, _ = sg.fit_batched(x, y, chance, starts, one, max_iter=SCREEN_ITER)
    best = np.argsort(np.where(np.isfinite(sse), sse, np.inf))[:N_FINAL_STARTS]
    theta, sse, conv = sg.fit_batched(x, y, chance, theta[best], one)
    i = int(np.argmin(np.where(np.isfinite(sse), sse, np.inf)))
    return theta[i], bool(conv[i])


def _sigmoid_resamples(points: pd.DataFrame, chance: float, theta_hat: np.ndarray, weights: np.ndarray):
    """The sigmoid refitted on every resample (rows of per-point ``weights``) in one batch, each from the full-data
    optimum; 1e-8 (relative SSE) is ample for percentile intervals. Returns (θ [B, 3], converged [B])."""
    x, y = points["task_loss"].to_numpy(float), points["accuracy"].to_numpy(float)
    theta, _, conv = sg.fit_batched(x, y, chance, np.tile(theta_hat, (len(weights), 1)), weights, ftol=BOOT_FTOL)
    return theta, conv


@dataclass(frozen=True)
class _Prepared:
    """One task's data and point fits, before the bootstrap."""
    task: str
    chance: float
    finals: pd.DataFrame
    points: pd.DataFrame
    step1: object            # FitResult
    sigmoid_theta: np.ndarray
    sigmoid_ok: bool
    noise: float


def _check_options(smooth, checkpoints, skip_fraction) -> None:
    if not (isinstance(smooth, int) and smooth >= 1):
        raise InputError(f"smooth must be a whole number ≥ 1 of evaluations, got {smooth!r}")
    if checkpoints not in ("intermediate", "final"):
        raise InputError(f"checkpoints must be 'intermediate' or 'final', got {checkpoints!r}")
    if not 0 <= skip_fraction < 1:
        raise InputError(f"skip_fraction must be in [0, 1), got {skip_fraction}")


def _prepare(hist: EvalHistory, task: str, chance, law_cls, smooth, checkpoints, skip_fraction, feature) -> _Prepared:
    c = chance if chance is not None else CHANCE.get(task)
    if c is None or not 0 <= c < 1:
        raise InputError(f"task '{task}': chance level unknown or not in [0, 1); give it (e.g. --chance {task}=0.25)")
    finals, points = _step_points(_paired(hist, task, feature), smooth, checkpoints, skip_fraction)
    grid = TASK_LOSS_GRID if law_cls.name == "chinchilla" and feature is None else None
    step1 = fit(finals, law_cls, grid=grid)
    theta_hat, ok = _sigmoid_point(points, c)
    return _Prepared(task=task, chance=c, finals=finals, points=points, step1=step1, sigmoid_theta=theta_hat,
                     sigmoid_ok=ok, noise=checkpoint_noise(hist.series(task, "accuracy")))


def _draws_of_runs(prepared: list[_Prepared], n_resamples: int, seed: int) -> list[np.ndarray]:
    """Each task's draws of its runs with replacement ([B, runs], in its ``finals`` order), seeded: tasks evaluated
    on the same runs (the usual case: one ladder) share one draw, so their intervals move together as they should;
    a task on other runs gets its own draw of those, from the same seed (the same whichever tasks go with it)."""
    drawn: dict[tuple, np.ndarray] = {}
    out = []
    for p in prepared:
        key = tuple(p.finals["run_id"].astype(str))
        if key not in drawn:
            n = len(key)
            drawn[key] = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), size=n_resamples).astype(float)
        out.append(drawn[key])
    return out


def _resample(prepared: list[_Prepared], law_cls, n_resamples: int, seed: int) -> list[TaskDraws]:
    """Both steps refitted on the same draws of runs: every task's step 1 in one batched solve, then each task's
    sigmoid in one batch."""
    P = law_cls.n_fit_params()
    if n_resamples < 2:
        return [TaskDraws.none(P) for _ in prepared]
    counts = _draws_of_runs(prepared, n_resamples, seed)
    # A resample that runs a coefficient off to ~1e300 (a flat direction of 12–16 runs) keeps finite predictions.
    with np.errstate(over="ignore"):
        step1 = refit_resamples_stacked([p.step1 for p in prepared], counts, max_iter=BOOT_MAX_ITER)
    out = []
    for p, c, (obj, res) in zip(prepared, counts, step1):
        ok1 = res.converged & np.isfinite(res.objective)
        theta1 = np.full((n_resamples, P), np.nan)
        theta1[ok1] = obj.full_theta(res.theta[ok1])
        run_ids = tuple(p.finals["run_id"].astype(str))
        column = {r: j for j, r in enumerate(run_ids)}
        weights = c[:, [column[r] for r in p.points["run_id"].astype(str)]]
        theta2, ok2 = _sigmoid_resamples(p.points, p.chance, p.sigmoid_theta, weights)
        theta2 = np.where(ok2[:, None], theta2, np.nan)
        failures = Counter(f"step 1 (task loss): {m}" for m in res.message[~ok1])
        failures.update(["step 2 (sigmoid): did not converge"] * int(np.count_nonzero(ok1 & ~ok2)))
        out.append(TaskDraws(run_ids=run_ids, counts=c, step1=theta1, sigmoid=theta2, ok=ok1 & ok2,
                             failures=dict(failures)))
    return out


def _assemble(p: _Prepared, draws: TaskDraws, smooth: int) -> TaskLaw:
    sig = sg.params_of(p.sigmoid_theta, p.chance)
    loss_range = (float(p.points["task_loss"].min()), float(p.points["task_loss"].max()))
    # Step 1's own convergence is reported, not judged: on 12–16 runs its E often runs to 0 (a flat direction), which
    # the solver may end as "maximum iterations" or "stalled" at the same objective depending on the start grid.
    verdict = judge(sig, p.finals["accuracy"].to_numpy(float), p.noise, smooth, loss_range, p.sigmoid_ok)
    if draws.n_resamples and draws.n_used < 2:
        why = "; ".join(f"{n}: {reason}" for reason, n in draws.failures.items())
        none = f"no interval: {draws.n_used} of {draws.n_resamples} bootstrap resamples could be refitted ({why})"
        verdict = Verdict(False, none if verdict.predictable else f"{verdict.reason}; {none}")
    loss_scatter, run_scatter = _scatter(p.step1, p.points, sig)
    return TaskLaw(task=p.task, chance=p.chance, law=p.step1.law, sigmoid=sig, verdict=verdict, noise=p.noise,
                   loss_scatter=loss_scatter, run_scatter=run_scatter, smooth=smooth, loss_range=loss_range,
                   converged=bool(p.sigmoid_ok and p.step1.converged), step1_message=p.step1.message,
                   draws=draws, points=p.points, finals=p.finals)


def fit_task_law(history: EvalHistory, task: str, *, chance: float | None = None, **kwargs) -> TaskLaw:
    """Fit the two steps for one task (``fit_task_laws`` with one task; the same options)."""
    return fit_task_laws(history, [task], chance=None if chance is None else {task: chance}, **kwargs)[0]


def _scatter(step1, points: pd.DataFrame, sig: sg.SigmoidParams) -> tuple[float, float]:
    """Residual std of each step per run, corrected for the parameters fitted (√(n/(n − p)))."""
    res1 = step1.residuals
    n, p = res1.size, type(step1.law).n_fit_params() - len(step1.held)
    loss_scatter = float(np.sqrt(np.mean(res1 ** 2) * n / max(n - p, 1)))
    r2 = points["accuracy"].to_numpy(float) - sig(points["task_loss"].to_numpy(float))
    effects = pd.Series(r2).groupby(points["run_id"].to_numpy()).mean().to_numpy()
    m = effects.size
    run_scatter = float(np.sqrt(np.mean(effects ** 2) * m / max(m - 3, 1)))
    return loss_scatter, run_scatter


def fit_task_laws(history: EvalHistory, tasks=None, *, law="chinchilla", train_runs=None, smooth: int = 5,
                  checkpoints: str = "intermediate", skip_fraction: float = SKIP_FRACTION, n_resamples: int = 1000,
                  seed: int = 0, chance: dict | None = None, feature: str | None = None,
                  workers: int = 1) -> list[TaskLaw]:
    """Fit the two steps for each task (default: every task with both a task loss and an accuracy) on the runs
    ``train_runs`` (default all) of ``history``, with one bootstrap over runs through both steps shared by all tasks.

    ``feature``: an LM-loss set (e.g. "c4_en") to chain through instead of the task loss — (N, D) → LM loss →
    accuracy, the paper's alternative intermediate feature (its C4-loss variant); the result's "task loss" is then
    that LM loss. ``checkpoints``: "intermediate" (final and intermediate checkpoints, as the paper) or "final" (one
    point per run). ``n_resamples`` < 2 gives point estimates only (no intervals). ``chance``: task → chance level
    for tasks not built in. ``workers`` > 1 fits groups of tasks in that many processes (the draws depend on the seed
    and the runs only, so results are the same, to rounding)."""
    both = [t for t in history.tasks("accuracy") if t in set(history.tasks("task_loss"))]
    chosen = list(tasks) if tasks else both
    unknown = [t for t in chosen if t not in both]
    if unknown:
        raise InputError(f"task '{unknown[0]}' has no task loss and accuracy in the histories "
                         f"(tasks: {', '.join(both) or 'none'})")
    if not (isinstance(workers, int) and workers >= 1):
        raise InputError(f"workers must be a whole number ≥ 1, got {workers!r}")
    _check_options(smooth, checkpoints, skip_fraction)
    opts = dict(law=law, train_runs=train_runs, smooth=smooth, checkpoints=checkpoints, skip_fraction=skip_fraction,
                n_resamples=n_resamples, seed=seed, chance=chance or {}, feature=feature)
    if workers == 1 or len(chosen) == 1:
        return _fit_group(history, chosen, **opts)
    from concurrent.futures import ProcessPoolExecutor

    groups = [list(g) for g in np.array_split(np.array(chosen, dtype=object), min(workers, len(chosen)))]
    with ProcessPoolExecutor(max_workers=len(groups)) as pool:
        parts = pool.map(_fit_job, [(history, g, opts) for g in groups])
        return [tl for part in parts for tl in part]


def _fit_group(history, tasks, *, law, train_runs, smooth, checkpoints, skip_fraction, n_resamples, seed, chance,
               feature) -> list[TaskLaw]:
    law_cls = resolve_law(law)
    hist = history if train_runs is None else history.subset(train_runs)
    prepared = [_prepare(hist, t, chance.get(t), law_cls, smooth, checkpoints, skip_fraction, feature)
                for t in tasks]
    draws = _resample(prepared, law_cls, n_resamples, seed)
    return [_assemble(p, d, smooth) for p, d in zip(prepared, draws)]


def _fit_job(job) -> list[TaskLaw]:
    history, tasks, opts = job
    return _fit_group(history, tasks, **opts)
