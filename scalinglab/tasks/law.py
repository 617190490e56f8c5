"""Task laws: (N, D) → task loss → accuracy, chained, with intervals and a predictability verdict per task.

The method of Bhagia et al. 2024 (arXiv:2412.04403, Sec. 3): step 1 fits the task loss (bits per byte of the correct
answer) of each run's final checkpoint as a law of (N, D) — any law form of ``scalinglab.laws`` (default the paper's
L = E + A/N^α + B/D^β), fitted by the batched multi-start solver and bootstrapped over runs by ``laws.bootstrap``.
Step 2 fits accuracy as a sigmoid of task loss (``tasks.sigmoid``, floor at chance) on the **final and intermediate
checkpoints** of every ladder run, skipping the first 10 % of each run's evaluations (the paper's ``--skip_perc
0.1``). Smoothing (``smooth`` = k, the paper's ``--moving_avg 5``): step 1 takes the mean of each run's last k
evaluations; step 2 takes a trailing mean over k evaluations of both task loss and accuracy.

Intervals (a prediction interval for one new run, not only for the mean curve): each step is resampled over runs
(step 1 by ``laws.bootstrap``; step 2 here, batched) and resample b of step 1 feeds resample b of step 2 (the two
steps draw independently: ``laws.bootstrap`` does not expose its draws). A bootstrap over runs captures the
uncertainty of the fitted curves only; a new run also deviates from them as the ladder's runs do, so each chained draw
adds (1) a step-1 residual (the ladder's log task-loss residuals, their std corrected for the fitted parameters),
(2) a run effect on the sigmoid (the std across runs of each run's mean step-2 residual) and (3) the measured
checkpoint-to-checkpoint noise of the task, divided by √k for a mean of k evaluations. Percentile intervals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalinglab.errors import InputError
from scalinglab.laws.bootstrap import bootstrap
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
SCREEN_ITER, N_FINAL_STARTS, BOOT_FTOL = 12, 4, 1e-8   # sigmoid multi-start and bootstrap settings (see _fit_sigmoid)
# A compact start grid (432 starts) for task-loss fits (bits per byte ~0.3–3): on the OLMo ladder's 8 tasks × 3 run
# sets (all, ≤ 5×, without 1.3B) its best objective was within 1e-4 (relative) of Hoffmann's 4,500-start grid's
# (measured before E was bounded in the solver).
TASK_LOSS_GRID = np.array(np.meshgrid([0.0, 5, 10, 15], [0.0, 5, 10, 15], [-1.5, -0.75, 0.0], [0.25, 0.5, 1.0],
                                      [0.25, 0.5, 1.0])).reshape(5, -1).T


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
    step1_thetas: np.ndarray = field(repr=False)   # [B1, P] bootstrap resamples of the step-1 law (may be empty)
    sigmoid_thetas: np.ndarray = field(repr=False)  # [B2, 3] bootstrap resamples of the sigmoid
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
        b = min(len(self.step1_thetas), len(self.sigmoid_thetas))
        if b >= 2:
            rng = np.random.default_rng(seed)
            with np.errstate(over="ignore"):
                loss_b = np.exp(type(self.law).log_predict(self.step1_thetas[:b], X)[:, 0]
                                + rng.normal(0.0, self.loss_scatter, b))
            good = np.isfinite(loss_b)
            acc_b = sg.accuracy(loss_b[good][:, None], self.chance, self.sigmoid_thetas[:b][good])[:, 0]
            spread = np.hypot(self.run_scatter, self.noise / np.sqrt(self.smooth))
            acc_b = acc_b + rng.normal(0.0, spread, acc_b.size)
            loss_iv = Interval(loss_hat, *map(float, np.quantile(loss_b[good], q)), level)
            acc_iv = Interval(acc_hat, *map(float, np.quantile(acc_b, q)), level)
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
                "n_resamples": int(min(len(self.step1_thetas), len(self.sigmoid_thetas)))}


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
        tail = g.iloc[-smooth:]
        finals.append({"run_id": run_id, "n_params": g["n_params"].iloc[0], "n_tokens": g["n_tokens"].iloc[-1],
                       "loss": tail["task_loss"].mean(), "accuracy": tail["accuracy"].mean()})
        rolled = g[["task_loss", "accuracy"]].rolling(smooth).mean().assign(run_id=run_id,
                                                                              n_tokens=g["n_tokens"].to_numpy())
        rolled = rolled.iloc[smooth - 1:]
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


def _fit_sigmoid(points: pd.DataFrame, chance: float, n_resamples: int, seed: int):
    x, y = points["task_loss"].to_numpy(float), points["accuracy"].to_numpy(float)
    one = np.ones((1, x.size))
    # Multi-start in two stages: every start for a few steps, then the best few to convergence (most of the
    # grid's starts crawl toward the same few basins; running them all out cost more than the bootstrap).
    starts = sg.default_starts(x, chance)
    theta, sse, _ = sg.fit_batched(x, y, chance, starts, one, max_iter=SCREEN_ITER)
    best = np.argsort(np.where(np.isfinite(sse), sse, np.inf))[:N_FINAL_STARTS]
    theta, sse, conv = sg.fit_batched(x, y, chance, theta[best], one)
    i = int(np.argmin(np.where(np.isfinite(sse), sse, np.inf)))
    theta_hat, ok = theta[i], bool(conv[i])
    if n_resamples < 2:
        return theta_hat, ok, np.empty((0, 3))
    runs, run_index = np.unique(points["run_id"].to_numpy(str), return_inverse=True)
    counts = np.random.default_rng(seed).multinomial(len(runs), np.full(len(runs), 1 / len(runs)),
                                                     size=n_resamples).astype(float)
    # Resamples start at the full-data optimum; 1e-8 (relative SSE) is ample for percentile intervals.
    th_b, _, conv_b = sg.fit_batched(x, y, chance, np.tile(theta_hat, (n_resamples, 1)), counts[:, run_index],
                                     ftol=BOOT_FTOL)
    return theta_hat, ok, th_b[conv_b]


def fit_task_law(history: EvalHistory, task: str, *, law="chinchilla", train_runs=None, smooth: int = 5,
                 checkpoints: str = "intermediate", skip_fraction: float = SKIP_FRACTION, n_resamples: int = 1000,
                 seed: int = 0, chance: float | None = None, feature: str | None = None) -> TaskLaw:
    """Fit the two steps for one task on the runs ``train_runs`` (default all) of ``history``.

    ``feature``: an LM-loss set (e.g. "c4_en") to chain through instead of the task loss — (N, D) → LM loss →
    accuracy, the paper's alternative intermediate feature (its C4-loss variant); the result's "task loss" is then that LM loss.
    ``checkpoints``: "intermediate" (final and intermediate checkpoints, as the paper) or "final" (one point per run).
    ``n_resamples`` < 2 gives point estimates only (no intervals)."""
    if not (isinstance(smooth, int) and smooth >= 1):
        raise InputError(f"smooth must be a whole number ≥ 1 of evaluations, got {smooth!r}")
    if checkpoints not in ("intermediate", "final"):
        raise InputError(f"checkpoints must be 'intermediate' or 'final', got {checkpoints!r}")
    if not 0 <= skip_fraction < 1:
        raise InputError(f"skip_fraction must be in [0, 1), got {skip_fraction}")
    c = chance if chance is not None else CHANCE.get(task)
    if c is None or not 0 <= c < 1:
        raise InputError(f"task '{task}': chance level unknown or not in [0, 1); give it (e.g. --chance {task}=0.25)")
    hist = history if train_runs is None else history.subset(train_runs)
    both = _paired(hist, task, feature)
    finals, points = _step_points(both, smooth, checkpoints, skip_fraction)
    law_cls = resolve_law(law)
    grid = TASK_LOSS_GRID if law_cls.name == "chinchilla" and feature is None else None
    step1 = fit(finals, law_cls, grid=grid)
    thetas = np.empty((0, law_cls.n_fit_params()))
    if n_resamples >= 2:
        # A resample that runs a coefficient off to ~1e300 (a flat direction of 12–16 runs) overflows the
        # bootstrap's summary std; its predictions stay finite and are kept, so the warning is silenced here.
        with np.errstate(over="ignore"):
            boot = bootstrap(finals, law_cls, n_resamples=n_resamples, seed=seed, fit_result=step1)
        names = law_cls.param_names()
        thetas = np.array([law_cls(**dict(zip(names, row))).theta()
                           for row in boot.samples[list(names)].to_numpy(float)])
    theta_hat, ok, sig_thetas = _fit_sigmoid(points, c, n_resamples, seed + 1)
    sig = sg.params_of(theta_hat, c)
    acc_series = hist.series(task, "accuracy")
    noise = checkpoint_noise(acc_series)
    loss_range = (float(points["task_loss"].min()), float(points["task_loss"].max()))
    # Step 1's own convergence is reported, not judged: on 12–16 runs its E often runs to 0 (a flat direction), which
    # the solver may end as "maximum iterations" or "stalled" at the same objective depending on the start grid.
    verdict = judge(sig, finals["accuracy"].to_numpy(float), noise, smooth, loss_range, ok)
    loss_scatter, run_scatter = _scatter(step1, points, sig)
    return TaskLaw(task=task, chance=c, law=step1.law, sigmoid=sig, verdict=verdict, noise=noise,
                   loss_scatter=loss_scatter, run_scatter=run_scatter, smooth=smooth,
                   loss_range=loss_range, converged=bool(ok and step1.converged), step1_message=step1.message,
                   step1_thetas=thetas,
                   sigmoid_thetas=sig_thetas, points=points, finals=finals)


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


def fit_task_laws(history: EvalHistory, tasks=None, *, chance: dict | None = None, workers: int = 1,
                  **kwargs) -> list[TaskLaw]:
    """``fit_task_law`` for each task (default: every task with both a task loss and an accuracy). ``workers`` > 1
    fits tasks in that many processes (tasks are independent; each keeps its own seed, so results are the same)."""
    both = [t for t in history.tasks("accuracy") if t in set(history.tasks("task_loss"))]
    chosen = list(tasks) if tasks else both
    unknown = [t for t in chosen if t not in both]
    if unknown:
        raise InputError(f"task '{unknown[0]}' has no task loss and accuracy in the histories "
                         f"(tasks: {', '.join(both) or 'none'})")
    if not (isinstance(workers, int) and workers >= 1):
        raise InputError(f"workers must be a whole number ≥ 1, got {workers!r}")
    chance = chance or {}
    jobs = [(history, t, dict(kwargs, chance=chance.get(t))) for t in chosen]
    if workers == 1 or len(jobs) == 1:
        return [_fit_job(job) for job in jobs]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        return list(pool.map(_fit_job, jobs))


def _fit_job(job) -> TaskLaw:
    history, task, kwargs = job
    return fit_task_law(history, task, **kwargs)
