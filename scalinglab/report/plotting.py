"""Shared look of the report's figures: one colour per model size, readable log axes, legends outside the data,
and reproducible SVG/PNG bytes.

Figures are ``matplotlib.figure.Figure`` objects made without pyplot, so building them never needs a display or
changes a notebook's backend; in Jupyter a returned figure shows inline like any other.
"""

from __future__ import annotations

import base64
import io
import math
from contextlib import contextmanager

import matplotlib
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

LOSS_LABEL = "loss (nats/token)"
FLOPS_LABEL = "training compute C = 6ND (FLOP)"
PARAMS_LABEL = "parameters N"
TOKENS_LABEL = "training tokens D"
FIGSIZE = (6.4, 4.2)
STYLE = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.25, "grid.linewidth": 0.6, "axes.spines.top": False,
    "axes.spines.right": False, "svg.hashsalt": "scalinglab", "svg.fonttype": "path", "figure.dpi": 100,
}
EXCLUDED_STYLE = {"marker": "x", "color": "0.55", "s": 22, "linewidths": 1.0, "zorder": 2}


def _truncated(name: str, top: float = 0.9) -> ListedColormap:
    """A colormap without its palest end, so every colour stays visible on white."""
    return ListedColormap(matplotlib.colormaps[name](np.linspace(0.0, top, 256)), name=f"{name}_{top}")


SIZE_CMAP = _truncated("viridis")
COMPUTE_CMAP = _truncated("plasma", 0.85)


@contextmanager
def style():
    with matplotlib.rc_context(STYLE):
        yield


def new_figure(ncols: int = 1, figsize=FIGSIZE):
    """A figure laid out by ``finish`` with fixed margins in inches: cheaper than matplotlib's constrained layout
    (which measures every tick label twice per save) and the same for every figure of a kind."""
    fig = Figure(figsize=figsize)
    axes = fig.subplots(1, ncols)
    return fig, axes


# Margins in inches: room for tick labels + axis label on the left, the title on top, the x label at the bottom,
# a colour bar with its label on the right, and one line per legend row under the axes.
MARGIN = {"left": 0.8, "right": 0.25, "top": 0.35, "bottom": 0.55, "colorbar": 0.95, "legend_row": 0.18,
          "gap": 0.75}


def finish(fig, colors=None, legend_from=None, ncols: int = 2) -> None:
    """Place the axes, the colour bar (right) and the legend (below, outside the data) with fixed margins."""
    w, h = fig.get_size_inches()
    axes = [ax for ax in fig.axes]
    handles, labels = legend_from.get_legend_handles_labels() if legend_from is not None else ([], [])
    cols = max(1, min(ncols, len(handles)))
    rows = math.ceil(len(handles) / cols) if handles else 0
    right = MARGIN["right"] + (MARGIN["colorbar"] if colors is not None else 0.0)
    bottom = MARGIN["bottom"] + (rows * MARGIN["legend_row"] + 0.05 if rows else 0.0)
    n = len(axes)
    gap = MARGIN["gap"] / ((w - MARGIN["left"] - right - MARGIN["gap"] * (n - 1)) / n) if n > 1 else 0.2
    fig.subplots_adjust(left=MARGIN["left"] / w, right=1 - right / w, bottom=bottom / h, top=1 - MARGIN["top"] / h,
                        wspace=gap)
    if colors is not None:
        cax = fig.add_axes([1 - right / w + 0.12 / w, bottom / h, 0.13 / w, 1 - MARGIN["top"] / h - bottom / h])
        bar = fig.colorbar(ScalarMappable(norm=colors.norm, cmap=colors.cmap), cax=cax)
        bar.set_label(colors.label)
    if handles:
        fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.02 / h), ncols=cols, frameon=False,
                   handlelength=1.8, columnspacing=1.5)


class LogColors:
    """Colour by a positive quantity on a log scale (model size or compute), identical in every figure that shares
    the instance: build it once from all runs, pass it to each figure."""

    def __init__(self, values, cmap=SIZE_CMAP, label: str = PARAMS_LABEL):
        v = np.asarray(values, float)
        v = v[np.isfinite(v) & (v > 0)]
        lo, hi = (float(v.min()), float(v.max())) if v.size else (1.0, 10.0)
        if hi <= lo * 1.0001:
            lo, hi = lo / 1.5, hi * 1.5
        self.norm, self.cmap, self.label = LogNorm(lo, hi), cmap, label

    def __call__(self, values) -> np.ndarray:
        return self.cmap(self.norm(np.asarray(values, float)))


def size_colors(n_params) -> LogColors:
    return LogColors(n_params, SIZE_CMAP, PARAMS_LABEL)


def nice_ticks(lo: float, hi: float, target: int = 6) -> np.ndarray:
    """Round tick values (steps of 1, 2, 2.5 or 5 × 10^k) covering [lo, hi] with about ``target`` ticks."""
    span = hi - lo
    if not (span > 0 and math.isfinite(span)):
        return np.array([lo])
    raw = span / target
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    return np.round(np.arange(start, hi + step * 1e-6, step), 10)


def loss_axis(ax, values, *, axis: str = "y") -> None:
    """A log axis for loss with plain round tick labels (2, 2.5, 3 …) instead of 2×10⁰."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    lo, hi = float(v.min()) / 1.02, float(v.max()) * 1.02
    target = getattr(ax, f"{axis}axis")
    getattr(ax, f"set_{axis}scale")("log")
    getattr(ax, f"set_{axis}lim")(lo, hi)
    target.set_major_locator(FixedLocator(nice_ticks(lo, hi)))
    target.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    target.set_minor_formatter(NullFormatter())


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_label(value: float) -> str:
    """10¹⁸ or 3×10⁹ in plain Unicode (no mathtext: cheaper to lay out and reads the same)."""
    if not (value > 0 and math.isfinite(value)):
        return ""
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = value / 10.0 ** exponent
    power = "10" + str(exponent).translate(_SUPERSCRIPT)
    return power if abs(mantissa - 1) < 1e-6 else f"{mantissa:.2g}×{power}"


def log_axis(ax, axis: str = "x") -> None:
    """A log axis with ticks at decades (and at 2 and 5 when the data span less than two decades)."""
    getattr(ax, f"set_{axis}scale")("log")
    lo, hi = getattr(ax, f"get_{axis}lim")()
    subs = (1.0,) if math.log10(hi / lo) >= 2 else (1.0, 2.0, 5.0)
    target = getattr(ax, f"{axis}axis")
    target.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    target.set_major_formatter(FuncFormatter(lambda x, _: power_label(x)))
    target.set_minor_locator(LogLocator(base=10, subs=np.arange(2, 10) * 1.0, numticks=12))
    target.set_minor_formatter(NullFormatter())


def legend_below(fig, ax, ncols: int = 2) -> None:
    """The legend under the axes, outside the data area."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(ncols, len(handles)), frameon=False)


def figure_svg(fig: Figure) -> str:
    """The figure as SVG text, byte-for-byte reproducible (no date, fixed ids)."""
    buf = io.StringIO()
    with style():
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def figure_png(fig: Figure, dpi: int = 150) -> bytes:
    buf = io.BytesIO()
    with style():
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
