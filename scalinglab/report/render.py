"""The report page: one self-contained HTML document (inline CSS, figures as base64 SVG data URIs, no scripts or
external fonts) with a section per question a reader asks, each with a stable ``id``.

Sections: summary, trust ("how far to trust this"), fit, allocation, forecast (``report.forecast``), abilities
(``report.abilities``, with an eval history), figures, backtest, plan (when asked),
testtime (when counts are given), runs, notes.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from scalinglab.laws.objective import LOSSES
from scalinglab.report.abilities import abilities_html
from scalinglab.report.forecast import forecast_html
from scalinglab.report.html import CSS, esc, interval, key_values, ncell, nested, num, pct, table, tcell
from scalinglab.report.plotting import data_uri
from scalinglab.report.sources import run_labels

MAX_OTHER = 4
PARAM_MEANING = {"E": "irreducible loss (nats/token)", "A": "size term coefficient", "B": "data term coefficient",
                 "alpha": "loss falls as N^−alpha", "beta": "loss falls as D^−beta", "a": "N_opt ∝ C^a",
                 "b": "D_opt ∝ C^b"}


def _section(ident: str, title: str, body: str, cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<section id="{ident}"{klass}><h2>{esc(title)}</h2>{body}</section>'


def _summary(data) -> str:
    fit, runs = data.fit, data.runs
    held = data.input.held_out
    text = (f"<p class=\"sub\">Source <code>{esc(data.input.source)}</code>: {len(runs)} runs fitted, "
            + (f"{len(held)} held out (forecast, not fitted), " if held is not None else "")
            + f"{len(data.input.excluded)} excluded. Law <code>{esc(fit.law.name)}</code>: "
            f"<span class=\"formula\">{esc(fit.law.formula)}</span>.</p>")
    if data.optimal is not None:
        r = data.optimal.rows()[0]   # the budget nearest the data: the forecast to trust most
        iv = ""
        if data.boot is not None:
            n_iv = data.boot.interval(f"n_opt@{r['flops']:.3g}")
            l_iv = data.boot.interval(f"loss_opt@{r['flops']:.3g}")
            iv = (f" (N {interval(n_iv['lo_total'], n_iv['hi_total'])}, loss "
                  f"{interval(l_iv['lo_total'], l_iv['hi_total'])}, {data.boot.level:.0%} intervals)")
        text += (f"<p class=\"headline\" id=\"headline\">With <b>{num(r['flops'])} FLOP</b>, train "
                 f"<b>{num(r['n_params'])}</b> parameters on <b>{num(r['n_tokens'])}</b> tokens "
                 f"({num(r['tokens_per_param'], 3)} tokens per parameter) for a predicted loss of "
                 f"<b>{num(r['loss'])}</b> nats/token{iv}. Larger budgets are in the allocation table; read the "
                 f"box below before acting on any of them.</p>")
    return f'<section id="summary"><h1>Scaling-law report</h1>{text}</section>'


def _trust(data) -> str:
    t = data.trust
    rows = [[f'<td><span class="badge {esc(c.level)}">{esc(c.level)}</span></td>', tcell(c.topic), tcell(c.text)]
            for c in t.checks]
    body = table(["", "check", "finding"], rows, table_id="trust-checks")
    if t.budgets:
        brows = []
        for b in t.budgets:
            ratio = ncell(b.get("n_opt_ratio"), None if "n_opt_ratio" in b else "—")
            brows.append([ncell(b["flops"]), ncell(b["decades"], f"{b['decades']:.2f}"), ncell(b["n_opt"]),
                          tcell("—") if "n_opt_lo" not in b else f'<td class="num">'
                          f'{interval(b["n_opt_lo"], b["n_opt_hi"], 3)}</td>', ratio])
        body += ("<h3>Extrapolation and interval width per budget</h3>"
                 + table(["budget C (FLOP)", "decades beyond the largest run", "N_opt", "N_opt interval",
                          "interval ratio hi/lo"], brows, table_id="trust-budgets", numeric=(0, 1, 2, 3, 4)))
    body += (f"<p class=\"muted\">Fitted runs span {t.fitted_decades:.2f} decades of compute up to "
             f"{num(t.max_fitted_flops)} FLOP. Thresholds are rules of thumb (see scalinglab.report.trust).</p>")
    return _section("trust", "How far to trust this", body, f"trust-box {t.worst}")


def _fit(data) -> str:
    fit, boot = data.fit, data.boot
    status = "converged" if fit.converged else f"NOT converged: {fit.message}"
    objective = LOSSES.get(fit.loss, fit.loss) + (f", δ = {num(fit.delta)}" if fit.loss == "huber_log" else "")
    head = (f"<p><span class=\"formula\">{esc(fit.law.formula)}</span> fitted to {fit.n_points} runs by minimising "
            f"the <code>{esc(fit.loss)}</code> objective ({objective}) from {fit.n_starts} starts: "
            f"{esc(status)}.</p>")
    head += key_values([("objective (at the optimum)", fit.objective), ("R² of loss", fit.r_squared),
                        ("runs fitted", fit.n_points), ("starts", fit.n_starts),
                        ("near-optimal fits (within 3 %)", len(fit.near_optima))], table_id="fit-summary")
    rows = []
    quantities = list(fit.params)
    values = dict(fit.params)
    if boot is not None:
        values.update({q: e for q, e in zip(boot.table["quantity"], boot.table["estimate"]) if q in ("a", "b")})
    elif hasattr(fit.law, "a_exponent"):
        values.update(a=fit.law.a_exponent, b=fit.law.b_exponent)
    quantities += [q for q in ("a", "b") if q in values]
    for q in quantities:
        cells = [tcell(q), ncell(values[q])]
        if boot is not None:
            iv = boot.interval(q)
            cells += [ncell(iv["se"]), f'<td class="num">{interval(iv["lo"], iv["hi"])}</td>',
                      f'<td class="num">{interval(iv["near_lo"], iv["near_hi"])}</td>',
                      f'<td class="num">{interval(iv["lo_total"], iv["hi_total"])}</td>']
        rows.append(cells + [tcell(PARAM_MEANING.get(q, ""))])
    headers = ["parameter", "estimate"]
    if boot is not None:
        headers += ["s.e.", f"{boot.level:.0%} bootstrap", "near-optimal range", "interval (both)"]
    body = head + table(headers + ["meaning"], rows, table_id="fit-params", numeric=tuple(range(1, len(headers))))
    if boot is not None:
        body += (f"<p class=\"muted\">Bootstrap over runs: {boot.n_resamples} resamples (seed {boot.seed}), "
                 f"{boot.n_failed} failed to refit. “Interval (both)” covers the bootstrap interval and the spread "
                 f"across near-optimal fits.</p>")
    body += _approaches(data)
    return _section("fit", "Fitted law", body)


def _approaches(data) -> str:
    comp = data.approaches
    if comp is None:
        return ""
    rows = [[tcell(r.approach), ncell(r.a), f'<td class="num">{interval(r.a_lo, r.a_hi)}</td>', ncell(r.b),
             f'<td class="num">{interval(r.b_lo, r.b_hi)}</td>', ncell(r.n_points)] for r in comp.results]
    out = (f"<h3>Allocation exponents by Chinchilla's three approaches ({comp.level:.0%} intervals)</h3>"
           + table(["approach", "a (N_opt ∝ C^a)", "interval", "b (D_opt ∝ C^b)", "interval", "points"], rows,
                   table_id="approaches", numeric=(1, 2, 3, 4, 5)))
    out += "".join(f"<p class=\"muted\">approach {r.number}: {esc(r.note)}</p>"
                   for r in comp.results if r.note)
    out += "".join(f"<p class=\"muted\">skipped {esc(s)}</p>" for s in comp.skipped)
    out += "".join(f"<p><span class=\"badge warning\">disagree</span> {esc(d)}</p>" for d in comp.disagreements)
    return out


def _allocation(data) -> str:
    if data.optimal is None:
        return ""
    boot, max_c = data.boot, data.trust.max_fitted_flops
    rows = []
    for r in data.optimal.rows():
        c = r["flops"]
        cells = [ncell(c), ncell(np.log10(c / max_c), f"{np.log10(c / max_c):.2f}"), ncell(r["n_params"]),
                 ncell(r["n_tokens"]), ncell(r["tokens_per_param"], num(r["tokens_per_param"], 3)), ncell(r["loss"])]
        if boot is not None:
            for q in ("n_opt", "loss_opt"):   # D_opt's interval is C / (6 N_opt)'s, so it is not repeated
                iv = boot.interval(f"{q}@{c:.3g}")
                cells.append(f'<td class="num">{interval(iv["lo_total"], iv["hi_total"], 3)}</td>')
        rows.append(cells)
    headers = ["budget C (FLOP)", "decades beyond data", "N_opt (parameters)", "D_opt (tokens)", "tokens / param",
               "loss (nats/token)"]
    if boot is not None:
        headers += [f"N_opt {boot.level:.0%} interval", f"loss {boot.level:.0%} interval"]
    body = (f"<p>Method: {esc(data.optimal.method)}; C = 6·N·D.</p>"
            + table(headers, rows, table_id="allocation", numeric=tuple(range(len(headers)))))
    return _section("allocation", "Compute-optimal allocation", body)


def _figures(figures: dict) -> str:
    parts = []
    for name, (svg, caption) in figures.items():
        width = _svg_width(svg)
        size = f' width="{width}"' if width else ""
        parts.append(f'<figure id="fig-{esc(name)}"><img alt="{esc(caption)}"{size} src="{data_uri(svg)}">'
                     f"<figcaption>{esc(caption)}</figcaption></figure>")
    return _section("figures", "Figures", "".join(parts))


def _svg_width(svg: str) -> int | None:
    """Display width in CSS pixels: the figure's width in points × 1.5, so every figure shows its text at one size."""
    match = re.search(r'<svg[^>]*\swidth="([0-9.]+)pt"', svg[:2000])
    return round(float(match.group(1)) * 1.5) if match else None


def _backtest(data) -> str:
    bt = data.backtest
    if bt is None:
        return ""
    labels = bt.table["run_id"].astype(str) if "run_id" in bt.table else [f"row {r}" for r in bt.table["row"]]
    rows = [[tcell(lab), ncell(r.n_params), ncell(r.n_tokens), ncell(r.flops), ncell(r.loss), ncell(r.predicted),
             ncell(r.rel_error, pct(r.rel_error)), ncell(r.extrapolation, f"{r.extrapolation:.2f}")]
            for lab, r in zip(labels, bt.table.itertuples())]
    body = (f"<p>Fitted on {bt.fit.n_points} runs with C ≤ {num(bt.cutoff_flops)} FLOP, then asked to predict the "
            f"{len(bt.table)} runs above the cut: median |relative error| {pct(bt.median_abs_rel_error)}, "
            f"max {pct(bt.max_abs_rel_error)}.</p>"
            + table(["run", "N", "D", "C", "loss", "predicted", "error", "× beyond fit"], rows,
                    table_id="backtest-runs", numeric=tuple(range(1, 8))))
    body += "".join(f"<p class=\"muted\">{esc(w)}</p>" for w in bt.warnings)
    return _section("backtest", "Backtest", body)


def _plans(data) -> str:
    if not data.plans:
        return ""
    body = "".join(f"<h3>Request: <code>{esc(p.request)}</code> (law: {esc(p.law)})</h3>{nested(p.result)}"
                   for p in data.plans)
    return _section("plan", "Planner", body)


def _testtime(data) -> str:
    tt = data.testtime
    if tt is None:
        return ""
    parts = [f"<p>Per-problem sample counts from <code>{esc(tt.source)}</code>. pass@k is the unbiased estimator "
             "(Chen et al. 2021); intervals are 90 % over problems.</p>"]
    rows = []
    for m in tt.models:
        for k, mean, lo, hi in zip(m.k, m.pass_at_k, m.lo, m.hi):
            rows.append([tcell(m.model), ncell(k), ncell(mean), f'<td class="num">{interval(lo, hi)}</td>'])
    parts.append(table(["model", "k", "pass@k", "90 % interval"], rows, table_id="testtime-passk",
                       numeric=(1, 2, 3)))
    law_rows = [[tcell(m.model), ncell(m.n_problems), ncell(m.n_samples), ncell(m.law.law.a), ncell(m.law.law.b),
                 ncell(m.samples_for.get(0.5)), ncell(m.samples_for.get(0.9)), tcell(m.law.message)]
                for m in tt.models]
    parts.append("<h3>Coverage law exp(−a·k^(−b)) (Brown et al. 2024)</h3>"
                 + table(["model", "problems", "samples", "a", "b", "k for 50 %", "k for 90 %", "fit"], law_rows,
                         table_id="testtime-law", numeric=(1, 2, 3, 4, 5, 6)))
    return _section("testtime", "Test-time compute", "".join(parts))


def _other_columns(frame) -> list[str]:
    """The user's own text columns (up to MAX_OTHER), shown beside each run as they were given."""
    skip = {"row", "run_id", "n_params", "n_tokens", "flops", "loss"}
    text = [c for c in frame.columns if c not in skip and not pd.api.types.is_numeric_dtype(frame[c])]
    return text[:MAX_OTHER]


def _other_text(frame, i: int, columns) -> str:
    return "; ".join(f"{c}: {str(frame[c].iloc[i])[:40]}" for c in columns)


def _runs(data) -> str:
    runs, fit = data.runs, data.fit
    rel = np.expm1(fit.residuals)
    labels = run_labels(runs)
    other = _other_columns(runs.frame)
    rows, classes = [], []
    for i in range(len(runs)):
        n, d, c, loss = runs.n_params[i], runs.n_tokens[i], runs.flops[i], runs.loss[i]
        rows.append([tcell(labels[i]), ncell(n), ncell(d), ncell(c), ncell(loss), ncell(d / n, num(d / n, 3)),
                     ncell(rel[i], pct(rel[i])), tcell("fitted")] + ([tcell(_other_text(runs.frame, i, other))]
                                                                    if other else []))
        classes.append("")
    held = data.input.held_out
    checks = data.forecast.held_out if data.forecast is not None else ()
    for i, label in enumerate(() if held is None else run_labels(held)):
        n, d, c, loss = held.n_params[i], held.n_tokens[i], held.flops[i], held.loss[i]
        if checks:   # the error column holds the forecast's error at the run
            status = [ncell(checks[i].rel_error, pct(checks[i].rel_error)), tcell("held out: the forecast's error")]
        else:
            status = [tcell(""), tcell("held out: not fitted")]
        rows.append([tcell(label), ncell(n), ncell(d), ncell(c), ncell(loss), ncell(d / n, num(d / n, 3)), *status]
                    + ([tcell(_other_text(held.frame, i, other))] if other else []))
        classes.append("")
    for r in data.input.excluded.itertuples():
        tpp = r.n_tokens / r.n_params if r.n_params and r.n_tokens else None
        rows.append([tcell(r.run), ncell(r.n_params), ncell(r.n_tokens), ncell(r.flops), ncell(r.loss),
                     ncell(tpp, num(tpp, 3)), tcell(""), tcell(f"excluded: {r.reason}")] + ([tcell("")] if other
                                                                                            else []))
        classes.append("excluded")
    headers = ["run", "N", "D", "C (FLOP)", "loss", "tokens / param", "fit error", "status"] + (
        ["other columns"] if other else [])
    body = (f"<p>{len(runs)} runs fitted, " + (f"{len(held)} held out, " if held is not None else "")
            + f"and {len(data.input.excluded)} excluded (shaded, with the reason). "
            "Error is the fit's (predicted − actual) / actual loss.</p><div class=\"scroll\">"
            + table(headers, rows, table_id="runs-table", numeric=(1, 2, 3, 4, 5, 6), row_classes=classes)
            + "</div>")
    return _section("runs", "Runs", body)


def _notes(data) -> str:
    notes = list(data.runs.notes) + list(data.notes)
    if not notes:
        return ""
    return _section("notes", "Notes", "<ul class=\"notes\">" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")


def render_fragment(data) -> str:
    """The page's numbers without figures, as an HTML fragment (what a notebook shows for a ``ReportData``)."""
    return (f"<div class=\"scalinglab-report\"><style>{CSS}</style>"
            + "".join([_summary(data), _trust(data), _fit(data), _allocation(data), forecast_html(data),
                       abilities_html(data.abilities), _notes(data)])
            + "</div>")


def render_html(data, figures: dict, *, json_name: str | None = None) -> str:
    """The whole page. ``figures``: name → (SVG text, caption), in display order."""
    body = "".join([_summary(data), _trust(data), _fit(data), _allocation(data), forecast_html(data),
                    abilities_html(data.abilities), _figures(figures), _backtest(data),
                    _plans(data), _testtime(data), _runs(data), _notes(data)])
    foot = f"<p class=\"muted\">All numbers are also in <code>{esc(json_name)}</code>.</p>" if json_name else ""
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Scaling-law report — {esc(data.input.source)}</title><style>{CSS}</style></head>"
            f"<body><main>{body}<footer>{foot}<p class=\"muted\">Made by scalinglab report.</p></footer></main>"
            "</body></html>\n")
