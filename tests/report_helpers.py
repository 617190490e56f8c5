"""Helpers for the report tests: a tiny ladder with known losses, and a reader for the report's HTML tables."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np

from scalinglab.ladder import LadderSettings, RunStore, isoflop, register

SETTINGS = LadderSettings(seq_len=64, positions="rotary", evals_per_run=4, eval_tokens=1024)
# Hoffmann et al. 2022's exponents on byte-level-like constants (the ladder's synthetic trainer uses the same).
TRUE_LAW = {"E": 1.0, "A": 60.0, "B": 150.0, "alpha": 0.34, "beta": 0.28}
FAILED_ERROR = "CUDA out of memory <at step 7>"


def _law(n, d):
    return TRUE_LAW["E"] + TRUE_LAW["A"] / n ** TRUE_LAW["alpha"] + TRUE_LAW["B"] / d ** TRUE_LAW["beta"]


def make_tiny_ladder(path, *, seed: int = 0) -> dict:
    """3 isoFLOP budgets × 4 sizes with losses from TRUE_LAW (0.3 % noise) and 5-point curves; the last run of the
    design fails, and one run diverges (its final loss jumps 25 % above its curve). Returns the two special ids and
    the number of runs the design planned (isoflop drops sizes no shape can reach)."""
    rng = np.random.default_rng(seed)
    specs = isoflop([3e10, 1e11, 3e11], points=4, span=3.0, ctx=SETTINGS.shape_context())
    with RunStore(path) as store:
        register(store, specs, SETTINGS)
        runs = store.runs()
        failed, diverged = runs[-1].run_id, runs[5].run_id
        for run in runs[:-1]:
            n, d = float(run.spec["n_params"]), float(run.spec["n_tokens"])
            noise = float(np.exp(0.003 * rng.standard_normal()))
            curve = [(d * f, float(_law(n, d * f)) * noise) for f in (0.2, 0.4, 0.6, 0.8, 1.0)]
            final = curve[-1][1]
            if run.run_id == diverged:
                final = curve[-1][1] * 1.25
                curve[-1] = (d, final)
            store.mark_running(run.run_id)
            store.finish(run.run_id, {"n_params": n, "n_tokens": d, "final_loss": final, "wall_seconds": 1.0},
                         curve)
        store.mark_running(failed)
        store.mark_stopped(failed, "failed", FAILED_ERROR)
    return {"failed": failed, "diverged": diverged, "n_planned": len(runs)}


class Page(HTMLParser):
    """Collects section ids; per table id (``_K`` for the K-th table without one) its rows of (text, data-value)
    cells; img sources by figure id; and how many script elements the page has."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.sections, self.tables, self.images, self.scripts = [], {}, {}, 0
        self._table = self._row = self._cell = None
        self._figure = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id"))
        elif tag == "script":
            self.scripts += 1
        elif tag == "table":
            self._table = self.tables.setdefault(a.get("id") or f"_{len(self.tables)}", [])
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = ["", a.get("data-value")]
        elif tag == "figure":
            self._figure = a.get("id")
        elif tag == "img" and self._figure:
            self.images[self._figure] = a.get("src", "")

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append((self._cell[0].strip(), self._cell[1]))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "figure":
            self._figure = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data


def shown(html_number: str) -> str:
    """The text a reader sees for a number formatted by ``scalinglab.report.html.num`` (superscripts flattened)."""
    return html_number.replace("<sup>", "").replace("</sup>", "")


_CACHE: dict = {}


def tiny_ladder_report(tmp_path_factory):
    """The tiny ladder's report (with a planner request and PNG files), built once per test session."""
    if "ladder" not in _CACHE:
        from scalinglab.report import ReportOptions, write_report

        root = tmp_path_factory.mktemp("tiny_ladder")
        ids = make_tiny_ladder(root / "ladder")
        files = write_report(root / "ladder", root / "report.html", png=True,
                             options=ReportOptions(n_resamples=100, plans=("flops=1e13",),
                                                     forecast_law="chinchilla", forecast_resamples=20))
        _CACHE["ladder"] = (files, ids)
    return _CACHE["ladder"]
