"""The report's abilities section: what the report's budgets buy in task accuracy, through the chained task laws.

Per task of the eval history (a ladder's own task suite, ``scalinglab.train.evals``, or ``--tasks`` files): the two
steps of ``scalinglab.tasks`` (Bhagia et al. 2024, arXiv:2412.04403, Sec. 3: task loss of (N, D), accuracy as a
sigmoid of task loss on final and intermediate checkpoints), the predictability verdict — refined by the items'
sampling noise when the number of items is known (``tasks.verdict.judge_items``) — and the chained forecast with its
interval at the compute-optimal (N, D) of each report budget. A backtest fits the runs below the ladder's largest
isoFLOP budget and forecasts the accuracy of the runs at it. Figures: accuracy against compute with the chained
forecasts, task loss against compute, accuracy against task loss with the sigmoid and the ladder's points.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalinglab.errors import InputError
from scalinglab.laws.approaches import isoflop_budgets
from scalinglab.laws.forms import FLOPS_PER_PARAM_TOKEN
from scalinglab.report.html import esc, interval, ncell, pct, table, tcell
from scalinglab.report.plotting import FLOPS_LABEL, finish, log_axis, new_figure, style
from scalinglab.tasks import CHANCE as KNOWN_CHANCE
from scalinglab.tasks import TaskForecast, TaskLaw, fit_task_law, run_finals
from scalinglab.tasks.verdict import judge_items

SMOOTH = 1               # a ladder of a few evaluations per run: its final evaluation (not the mean of the last 5)
MIN_FIT_RUNS = 4         # a backtest fits at least this many runs
TASK_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


@dataclass(frozen=True)
class TaskAbility:
    law: TaskLaw
    n_items: int | None
    forecasts: tuple[TaskForecast, ...]      # at the section's targets
    backtest: pd.DataFrame | None            # held-out runs: run_id, n_params, n_tokens, flops, actual, predicted,
    backtest_note: str | None = None         #   lo, hi, inside; or why there is none

    @property
    def task(self) -> str:
        return self.law.task

    def backtest_error(self) -> float | None:
        """Mean |predicted − actual| accuracy over the held-out runs."""
        if self.backtest is None:
            return None
        return float(np.mean(np.abs(self.backtest["predicted"] - self.backtest["actual"])))

    def to_dict(self) -> dict:
        out = {"task": self.task, "n_items": self.n_items, "law": self.law.to_dict(),
               "finals": self.law.finals.to_dict(orient="records"),
               "forecasts": [f.to_dict() for f in self.forecasts], "backtest_note": self.backtest_note,
               "backtest": None}
        if self.backtest is not None:
            out["backtest"] = {"runs": self.backtest.to_dict(orient="records"),
                               "mean_abs_error": self.backtest_error(),
                               "inside": int(self.backtest["inside"].sum()), "n": len(self.backtest)}
        return out


@dataclass(frozen=True)
class AbilitiesSection:
    tasks: tuple[TaskAbility, ...]
    labels: tuple[str, ...]                  # one per target (e.g. "report budget 1e+13")
    targets: tuple[tuple[float, float], ...]  # (N, D)
    level: float
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"level": self.level, "smooth": SMOOTH,
                "targets": [{"target": lab, "N": n, "D": d, "flops": FLOPS_PER_PARAM_TOKEN * n * d}
                            for lab, (n, d) in zip(self.labels, self.targets)],
                "tasks": [t.to_dict() for t in self.tasks], "notes": list(self.notes)}


def _backtest(history, task: str, chance: float, n_items, finals: pd.DataFrame, *, level, n_resamples, seed):
    flops = FLOPS_PER_PARAM_TOKEN * finals["n_params"].to_numpy(float) * finals["n_tokens"].to_numpy(float)
    labels = isoflop_budgets(flops)
    held = labels == labels.max()
    if held.all() or (~held).sum() < MIN_FIT_RUNS:
        return None, (f"no backtest: {int((~held).sum())} runs below the largest budget (needs "
                      f"{MIN_FIT_RUNS})")
    try:
        law = fit_task_law(history, task, train_runs=finals["run_id"][~held], smooth=SMOOTH, chance=chance,
                           n_resamples=n_resamples, seed=seed)
    except InputError as exc:
        return None, f"no backtest: {exc}"
    law = dataclasses.replace(law, verdict=judge_items(law.verdict, law.finals["accuracy"].to_numpy(float),
                                                       chance, n_items))
    rows = []
    for _, r in finals[held].iterrows():
        f = law.forecast(r["n_params"], r["n_tokens"], level=level, seed=seed)
        rows.append({"run_id": r["run_id"], "n_params": r["n_params"], "n_tokens": r["n_tokens"],
                     "flops": FLOPS_PER_PARAM_TOKEN * r["n_params"] * r["n_tokens"], "actual": r["accuracy"],
                     "predicted": f.accuracy.estimate, "lo": f.reported.lo, "hi": f.reported.hi,
                     "inside": bool(f.reported.lo <= r["accuracy"] <= f.reported.hi),
                     "predictable": f.verdict.predictable})
    return pd.DataFrame(rows), None


def abilities_section(history, *, targets, labels, chance: dict | None = None, n_items: dict | None = None,
                      level: float = 0.9, n_resamples: int = 200, seed: int = 0) -> AbilitiesSection:
    """Fit every task of ``history`` (an ``EvalHistory``) with both a task loss and an accuracy, and forecast it at
    ``targets`` ((N, D) pairs). A task of unknown chance, or whose fit fails, is left out with a note."""
    chance, n_items = dict(chance or {}), dict(n_items or {})
    both = [t for t in history.tasks("accuracy") if t in set(history.tasks("task_loss"))]
    out, notes = [], []
    for task in both:
        c = chance.get(task, KNOWN_CHANCE.get(task))
        if c is None:
            notes.append(f"task '{task}': chance level unknown, not fitted")
            continue
        try:
            law = fit_task_law(history, task, smooth=SMOOTH, chance=c, n_resamples=n_resamples, seed=seed)
        except InputError as exc:
            notes.append(f"task '{task}': {exc}")
            continue
        law = dataclasses.replace(law, verdict=judge_items(law.verdict, law.finals["accuracy"].to_numpy(float), c,
                                                           n_items.get(task)))
        forecasts = tuple(law.forecast(n, d, level=level, seed=seed) for n, d in targets)
        finals = run_finals(history, task, smooth=SMOOTH)
        bt, why = _backtest(history, task, c, n_items.get(task), finals, level=level, n_resamples=n_resamples,
                            seed=seed)
        out.append(TaskAbility(law=law, n_items=n_items.get(task), forecasts=forecasts, backtest=bt,
                               backtest_note=why))
    if not both:
        notes.append("the eval history has no task with both a task loss and an accuracy")
    return AbilitiesSection(tasks=tuple(out), labels=tuple(labels), targets=tuple(targets), level=level,
                            notes=tuple(notes))


# --- the page ---------------------------------------------------------------------------------------------------
def _verdict_cell(law: TaskLaw) -> str:
    v = law.verdict
    badge = '<span class="badge ok">predictable</span>' if v.predictable else \
        '<span class="badge warning">not predictable</span>'
    return f"<td>{badge} {esc(v.reason)}</td>"


def abilities_html(section: AbilitiesSection | None) -> str:
    if section is None:
        return ""
    level = f"{section.level:.0%}"
    head = "<h2>Abilities</h2>"
    if not section.tasks:
        return (f'<section id="abilities">{head}<p>No task could be fitted: '
                f"{esc('; '.join(section.notes))}</p></section>")
    rows = []
    for t in section.tasks:
        law, top = t.law, t.law.finals["accuracy"].max()
        bt = t.backtest
        bt_text = (f"{pct(t.backtest_error(), 1)} mean |error|, {int(bt['inside'].sum())}/{len(bt)} inside"
                   if bt is not None else (t.backtest_note or "—"))
        rows.append([tcell(t.task), ncell(law.chance, f"{law.chance:.3f}"), ncell(t.n_items),
                     ncell(top, f"{top:.3f}"), ncell(law.sigmoid.ceiling, f"{law.sigmoid.ceiling:.3f}"),
                     ncell(law.sigmoid.midpoint, f"{law.sigmoid.midpoint:.3f}"), tcell(bt_text),
                     _verdict_cell(law)])
    body = ("<p>Task accuracy forecast through task loss (bits per byte of the correct answer): step 1 fits task "
            "loss as a law of (N, D) on each run's final evaluation, step 2 accuracy as a sigmoid of task loss with "
            "its floor at chance, on the final and intermediate evaluations of every run (Bhagia et al. 2024, "
            "arXiv:2412.04403). A task whose ladder sits within noise of chance, or that sees only one arm of its "
            "sigmoid, is marked not predictable and its interval is [chance, 1]. The backtest fits the runs below "
            "the largest budget and forecasts the runs at it.</p>"
            + table(["task", "chance", "items", "best run", "ceiling", "midpoint (task loss)",
                     f"backtest of the largest budget ({level} intervals)", "verdict"], rows,
                    table_id="abilities-tasks", numeric=(1, 2, 3, 4, 5)))
    pred = []
    for t in section.tasks:
        for label, f in zip(section.labels, t.forecasts):
            rep = f.reported
            lo, hi = f.ladder_position
            pred.append([tcell(t.task), tcell(label), ncell(f.n_params), ncell(f.n_tokens),
                         ncell(f.task_loss.estimate), ncell(f.accuracy.estimate, f"{f.accuracy.estimate:.3f}"),
                         f'<td class="num">{interval(rep.lo, rep.hi, 3)}</td>',
                         tcell(f"{lo:.2f}–{hi:.2f} → {f.target_position:.2f}")])
    body += (f"<h3>Predicted accuracy at the report's budgets ({level} intervals)</h3>"
             + table(["task", "target", "N", "D", "task loss (bits/byte)", "accuracy", f"{level} interval",
                      "on the sigmoid: ladder → target"], pred, table_id="abilities-forecasts",
                     numeric=(2, 3, 4, 5, 6)))
    body += "".join(f'<p class="muted">note: {esc(n)}</p>' for n in section.notes)
    return f'<section id="abilities">{head}{body}</section>'


# --- the figures ------------------------------------------------------------------------------------------------
def _color(i: int) -> str:
    return TASK_COLORS[i % len(TASK_COLORS)]


def accuracy_vs_compute(section: AbilitiesSection):
    """Each run's final accuracy against its compute, the chained forecasts at the targets with their intervals
    (hollow when not predictable), and each task's chance level."""
    with style():
        fig, ax = new_figure()
        for i, t in enumerate(section.tasks):
            f = t.law.finals
            c = FLOPS_PER_PARAM_TOKEN * f["n_params"] * f["n_tokens"]
            ax.scatter(c, f["accuracy"], s=16, color=_color(i), zorder=3, label=t.task)
            tc = np.array([FLOPS_PER_PARAM_TOKEN * x.n_params * x.n_tokens for x in t.forecasts])
            est = np.array([x.accuracy.estimate for x in t.forecasts])
            lo = np.array([x.reported.lo for x in t.forecasts])
            hi = np.array([x.reported.hi for x in t.forecasts])
            face = _color(i) if t.law.verdict.predictable else "none"
            if tc.size:
                ax.errorbar(tc, est, yerr=[est - lo, hi - est], fmt="*", ms=9, mfc=face, mec=_color(i),
                            color=_color(i), capsize=3, zorder=4)
            ax.axhline(t.law.chance, color=_color(i), lw=0.8, ls=":")
        log_axis(ax, "x")
        ax.set(xlabel=FLOPS_LABEL, ylabel="accuracy", ylim=(0, 1.02),
               title="Task accuracy: ladder runs and chained forecasts (stars)")
        finish(fig, legend_from=ax)
    return fig


def task_loss_vs_compute(section: AbilitiesSection):
    """Each run's final task loss against compute, and the step-1 law's forecasts at the targets."""
    with style():
        fig, ax = new_figure()
        for i, t in enumerate(section.tasks):
            f = t.law.finals
            c = FLOPS_PER_PARAM_TOKEN * f["n_params"] * f["n_tokens"]
            ax.scatter(c, f["loss"], s=16, color=_color(i), zorder=3, label=t.task)
            if t.forecasts:
                tc = [FLOPS_PER_PARAM_TOKEN * x.n_params * x.n_tokens for x in t.forecasts]
                ax.plot(tc, [x.task_loss.estimate for x in t.forecasts], "*--", color=_color(i), ms=8, lw=0.8)
        log_axis(ax, "x")
        log_axis(ax, "y")
        ax.set(xlabel=FLOPS_LABEL, ylabel="task loss (bits/byte of the correct answer)",
               title="Task loss: ladder runs and the step-1 law at the targets")
        finish(fig, legend_from=ax)
    return fig


def accuracy_vs_task_loss(section: AbilitiesSection):
    """The step-2 points (every evaluation used in the fit) and each task's fitted sigmoid."""
    with style():
        fig, ax = new_figure()
        for i, t in enumerate(section.tasks):
            p = t.law.points
            ax.scatter(p["task_loss"], p["accuracy"], s=10, color=_color(i), alpha=0.7, zorder=3, label=t.task)
            lo, hi = float(p["task_loss"].min()), float(p["task_loss"].max())
            span = max(hi - lo, 1e-3)
            x = np.linspace(lo - 0.3 * span, hi + 0.3 * span, 100)
            ax.plot(x, t.law.sigmoid(x), "-", color=_color(i), lw=1.2)
            ax.axhline(t.law.chance, color=_color(i), lw=0.8, ls=":")
        ax.invert_xaxis()
        ax.set(xlabel="task loss (bits/byte of the correct answer; lower is better →)", ylabel="accuracy",
               ylim=(0, 1.02), title="Accuracy as a sigmoid of task loss")
        finish(fig, legend_from=ax)
    return fig


def abilities_figures(section: AbilitiesSection | None) -> dict:
    if section is None or not section.tasks:
        return {}
    return {
        "abilities_accuracy": (accuracy_vs_compute(section),
                               f"Task accuracy against training compute: each run's final evaluation (points), the "
                               f"chained forecast at the report's budgets with its {section.level:.0%} interval "
                               "(stars; hollow when the task is not predictable from this ladder, whose interval is "
                               "then [chance, 1]); dotted lines are chance."),
        "abilities_task_loss": (task_loss_vs_compute(section),
                                "Task loss (bits per byte of the correct answer) against compute: the runs' final "
                                "evaluations and the step-1 law's forecast at the report's budgets."),
        "abilities_sigmoid": (accuracy_vs_task_loss(section),
                              "Accuracy against task loss: every evaluation the sigmoid was fitted on, and the "
                              "fitted sigmoid (floor at chance, dotted)."),
    }
