"""Ladder designs: which (N, D) pairs to train, and the rule that turns a target N into a GPT shape.

Four designs, each a list of ``RunSpec`` rows:

- ``grid``: sizes × tokens-per-parameter ratios (D = r·N), the Kaplan-style sweep.
- ``isoflop``: for each compute budget C, sizes log-spaced around the N at a chosen tokens-per-parameter ratio
  (default the Chinchilla-optimal D ≈ 20·N, Hoffmann et al. 2022 Table 3) spanning ``span``× either side, with
  D = C / (6·N) so every run in a group spends exactly C (Hoffmann et al. 2022, approach 2).
- ``chinchilla``: sizes × multiples of the Chinchilla ratio (D = m·20·N).
- ``wsd`` (``scalinglab.ladder.wsd``): the points of an isoFLOP grid (or sizes × ratios) as cooldown branches of one
  warm-up–stable–decay stable run per size.

Shape rule (``shape_for``): a GPT's loss depends on N far more than on its depth/width split — Kaplan et al. 2020
(Sec. 3.1, Fig. 5) find the loss within a few percent across aspect ratios d_model/n_layer from ~10 to ~200 — so we
choose, among shapes whose total parameter count is within ``tolerance`` of the target, the one whose aspect ratio is
closest to ``ASPECT`` (32 here, on the wide side, because a CPU runs wide matmuls at a higher fraction of peak than
many small layers); if none is within tolerance, the closest count wins. Only aspect ratios in ``ASPECT_RANGE``
(Kaplan's flat region) are considered, so a tiny model is never seven layers of width 16, and at least
``MIN_LAYERS`` = 2 layers. Kaplan et al. (2020, Fig. 6) find that, counted without embeddings, only models with
fewer than two layers or extreme depth-to-width ratios stray markedly from the common trend; a one-layer model
also cannot form induction heads, which compose two attention layers (Olsson et al. 2022, arXiv:2209.11895). On the
default corpus our one-layer runs sat off the surface fitted to the rest (at 5e11 FLOPs a one-layer 20.7k model
beat a two-layer 10.4k one trained on twice the tokens, 2.011 vs 2.105), and dropping them from the fit moved the
10x forecast from +11.6 % to +4.6 %. Widths are multiples of 8, so that sizes between two-layer models of width 16
(10k parameters with byte tokens) and 32 (33k) exist; heads are 32 wide (16, or 8, for widths that are not
multiples of 32, or of 16). N is the total parameter count (embeddings
included), the convention under which small-scale fits agree with Chinchilla (Pearce & Song 2024, arXiv:2406.12907).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from scalinglab.errors import InputError, require_positive

ASPECT = 32.0
ASPECT_RANGE = (8.0, 96.0)
MIN_LAYERS = 2
WIDTH_STEP = 8
# the smallest shape the rule can return: MIN_LAYERS layers of the narrowest width within ASPECT_RANGE
SMALLEST_SHAPE = (MIN_LAYERS, WIDTH_STEP * math.ceil(ASPECT_RANGE[0] * MIN_LAYERS / WIDTH_STEP))
MAX_LAYERS = 32
MAX_WIDTH = 4096
CHINCHILLA_TOKENS_PER_PARAM = 20.0  # Hoffmann et al. 2022, Table 3: D_opt ≈ 20·N_opt
DESIGNS = ("grid", "isoflop", "chinchilla", "wsd")
WSD_DECAY_FRACTION = 0.2  # Hägele et al. 2024 (arXiv:2405.18392): a 20 % cooldown matches a cosine run
WSD_WARMUP_FRACTION = 0.1  # of the shortest branch's steps, as the trainer's warmup_fraction for one run


@dataclass(frozen=True)
class RunSpec:
    """One planned run: its shape, token budget and the exact counts from ``scalinglab.train.accounting``."""

    run_id: str
    group: str
    n_layer: int
    n_head: int
    d_model: int
    n_tokens: int
    n_params: int
    n_params_non_embedding: int
    flops_6n: float
    flops_full: float
    seed: int = 0
    # WSD cooldown branches (see ``wsd``): role "stable" trains a shared stable phase, "branch" a cooldown from
    # its checkpoint after ``branch_tokens``; a plain run is "run". batch_size / warmup_tokens 0: the usual rules.
    role: str = "run"
    parent: str = ""
    branch_tokens: int = 0
    snapshot_tokens: tuple[int, ...] = ()
    batch_size: int = 0
    warmup_tokens: int = 0
    decay_fraction: float = 0.0
    flops_spent: float | None = None  # full FLOPs this point costs, stable phase counted once (None: flops_full)
    # Trained like any run but kept out of every fit: its loss checks the forecast made from the others (exported as
    # the Runs table's ``held_out`` column). Not part of the training config: marking a run changes no result.
    held_out: bool = False

    @property
    def tokens_per_param(self) -> float:
        return self.n_tokens / self.n_params

    @property
    def train_tokens(self) -> int:
        """Tokens this run trains itself (a branch starts at its branch point)."""
        return self.n_tokens - self.branch_tokens

    @property
    def spent_flops(self) -> float:
        return self.flops_full if self.flops_spent is None else self.flops_spent

    def to_dict(self) -> dict:
        return asdict(self) | {"tokens_per_param": self.tokens_per_param}

    @classmethod
    def from_dict(cls, row: dict) -> "RunSpec":
        """The inverse of ``to_dict`` (a stored run's ``spec``): the derived ``tokens_per_param`` is dropped."""
        fields = {k: v for k, v in row.items() if k != "tokens_per_param"}
        if "snapshot_tokens" in fields:
            fields["snapshot_tokens"] = tuple(fields["snapshot_tokens"])
        return cls(**fields)


@dataclass(frozen=True)
class ShapeContext:
    """The parts of the model shape the ladder does not vary."""

    seq_len: int = 256
    vocab_size: int = 256
    positions: str = "learned"

    def model_config(self, n_layer: int, d_model: int):
        from scalinglab.train.config import ModelConfig

        head = 32 if d_model % 32 == 0 else 16 if d_model % 16 == 0 else 8
        return ModelConfig(n_layer=n_layer, n_head=max(1, d_model // head), d_model=d_model, seq_len=self.seq_len,
                           vocab_size=self.vocab_size, positions=self.positions)


@lru_cache(maxsize=None)
def _counts(ctx: ShapeContext, n_layer: int, d_model: int) -> tuple[int, int, float, float]:
    from scalinglab.train.accounting import count_params, flops_per_token

    cfg = ctx.model_config(n_layer, d_model)
    total, non_emb = count_params(cfg)
    six_n, full = flops_per_token(cfg)
    return int(total), int(non_emb), float(six_n), float(full)


def shape_for(target_n: float, ctx: ShapeContext = ShapeContext(), tolerance: float = 0.1) -> tuple[int, int]:
    """(n_layer, d_model) for a target total parameter count, by the rule in the module docstring."""
    target = require_positive("target model size", target_n)
    best_in, best_any = None, None
    for n_layer in range(MIN_LAYERS, MAX_LAYERS + 1):
        for d_model in range(WIDTH_STEP, MAX_WIDTH + 1, WIDTH_STEP):
            if not ASPECT_RANGE[0] <= d_model / n_layer <= ASPECT_RANGE[1]:
                continue
            total = _counts(ctx, n_layer, d_model)[0]
            miss = abs(math.log(total / target))
            aspect_miss = abs(math.log(d_model / n_layer / ASPECT))
            if miss <= tolerance and (best_in is None or aspect_miss < best_in[0]):
                best_in = (aspect_miss, n_layer, d_model)
            if best_any is None or miss < best_any[0]:
                best_any = (miss, n_layer, d_model)
            if total > target * 2:
                break
    if best_in is None and best_any[0] > 0.5:
        raise InputError(f"no GPT shape within 2x of {target:.3g} parameters (smallest/largest reachable sizes "
                         f"are {_counts(ctx, *SMALLEST_SHAPE)[0]:,} / "
                         f"{_counts(ctx, MAX_LAYERS, MAX_WIDTH)[0]:,})")
    _, n_layer, d_model = best_in or best_any
    return n_layer, d_model


def make_spec(group: str, n_layer: int, d_model: int, n_tokens: float, ctx: ShapeContext, seed: int = 0) -> RunSpec:
    if not math.isfinite(n_tokens):  # e.g. --tokens-per-param 1e308 times N
        raise InputError(f"{group}: {n_tokens} training tokens is not a finite number; lower the tokens per "
                         "parameter or the budget")
    total, non_emb, six_n, full = _counts(ctx, n_layer, d_model)
    # Whole sequences only: the trainer consumes tokens in windows of seq_len.
    d = max(ctx.seq_len, int(round(n_tokens / ctx.seq_len)) * ctx.seq_len)
    cfg = ctx.model_config(n_layer, d_model)
    run_id = f"{group}-L{n_layer}d{d_model}-D{_short(d)}" + (f"-s{seed}" if seed else "")
    return RunSpec(run_id=run_id, group=group, n_layer=n_layer, n_head=cfg.n_head, d_model=d_model, n_tokens=d,
                   n_params=total, n_params_non_embedding=non_emb, flops_6n=six_n * d, flops_full=full * d,
                   seed=seed)


def _short(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.0f}"


def _group_name(prefix: str, value: float) -> str:
    return f"{prefix}{value:.2g}".replace("+", "")


def grid(sizes, tokens_per_param, ctx: ShapeContext = ShapeContext(), seed: int = 0) -> list[RunSpec]:
    """Sizes × tokens-per-parameter ratios: D = r·N for every N and r."""
    sizes, ratios = _positive_list("sizes", sizes), _positive_list("tokens per parameter", tokens_per_param)
    out = []
    for n in sizes:
        n_layer, d_model = shape_for(n, ctx)
        total = _counts(ctx, n_layer, d_model)[0]
        for r in ratios:
            out.append(make_spec(_group_name("tpp", r), n_layer, d_model, r * total, ctx, seed))
    return _unique(out)


def chinchilla(sizes, multiples=(0.5, 1.0, 2.0), ctx: ShapeContext = ShapeContext(), seed: int = 0) -> list[RunSpec]:
    """Sizes × multiples of the Chinchilla ratio: D = m·20·N."""
    mults = _positive_list("Chinchilla multiples", multiples)
    return grid(sizes, [m * CHINCHILLA_TOKENS_PER_PARAM for m in mults], ctx, seed)


MAX_SPAN = 1e6


def isoflop(budgets, points: int = 5, span: float = 4.0, ctx: ShapeContext = ShapeContext(), seed: int = 0,
            center_tokens_per_param: float = CHINCHILLA_TOKENS_PER_PARAM,
            min_tokens_per_param: float = 0.0, max_tokens_per_param: float = math.inf) -> list[RunSpec]:
    """For each FLOP budget C, ``points`` sizes log-spaced over [N*/span, N*·span] around N* = sqrt(C/(6·r)), with
    r = ``center_tokens_per_param`` (20 by default, Chinchilla's ratio; tiny byte-level models want more).
    Sizes whose run would see fewer than ``min_tokens_per_param`` or more than ``max_tokens_per_param`` tokens per
    parameter are dropped (see the `small` preset for why a ladder of tiny models wants both)."""
    r = require_positive("center tokens per parameter", center_tokens_per_param)
    budgets = _positive_list("FLOP budgets", budgets)
    if int(points) != points or points < 1:
        raise InputError(f"points per budget must be a whole number >= 1, got {points!r}")
    # A span of 1e6 already covers 12 decades of model size, far past every reachable GPT shape; the cap keeps
    # N*·span finite (span=1e308 overflowed) and turns a typo into a clear message.
    if not 1 <= span <= MAX_SPAN:
        raise InputError(f"span must be between 1 and {MAX_SPAN:.0e}, got {span!r}")
    smallest = _counts(ctx, *SMALLEST_SHAPE)[0]
    out = []
    for c in budgets:
        n_star = math.sqrt(c / (6.0 * r))
        targets = n_star * np.geomspace(1 / span, span, int(points)) if points > 1 else [n_star]
        # Sizes below the smallest GPT (SMALLEST_SHAPE) are dropped; the plan table shows what remains.
        targets = [n for n in targets if n >= 0.9 * smallest]
        if len(targets) < min(2, points):
            raise InputError(f"FLOP budget {c:.3g} is too small for an isoFLOP curve: its sizes fall below the "
                             f"smallest model ({smallest:,} parameters); raise the budget or lower --span")
        shapes = []
        for n in targets:
            shape = shape_for(float(n), ctx)
            if shape not in shapes:
                shapes.append(shape)
        for n_layer, d_model in shapes:
            total = _counts(ctx, n_layer, d_model)[0]
            if not min_tokens_per_param * total <= c / (6.0 * total) <= max_tokens_per_param * total:
                continue
            out.append(make_spec(_group_name("C", c), n_layer, d_model, c / (6.0 * total), ctx, seed))
    return _unique(out)


def _positive_list(name: str, values) -> list[float]:
    if values is None:
        raise InputError(f"{name}: give at least one value")
    values = [values] if np.isscalar(values) else list(values)
    if not values:
        raise InputError(f"{name}: give at least one value")
    return [require_positive(name, v) for v in values]


def _unique(specs: list[RunSpec]) -> list[RunSpec]:
    seen, out = set(), []
    for s in specs:
        if s.run_id not in seen:
            seen.add(s.run_id)
            out.append(s)
    return out


def parse_numbers(text: str, name: str) -> list[float]:
    """'1e11,3e11,1e12' or '1e11:1e13:5' (log-spaced, inclusive) → list of floats; one-line error otherwise."""
    text = (text or "").strip()
    try:
        if ":" in text:
            lo, hi, k = text.split(":")
            if not 1 <= int(k) <= 1000:  # a ladder of more values than that is a typo, and would not fit in memory
                raise InputError(f"{name}: the count in lo:hi:count must be 1 … 1000, got {k}")
            lo, hi = require_positive(name, lo), require_positive(name, hi)
            with np.errstate(over="ignore"):  # geomspace's 10**log10(hi) can round past the largest double
                values = np.geomspace(lo, hi, int(k))
            if not np.all(np.isfinite(values)):
                raise InputError(f"{name}: {text!r} reaches past the largest floating-point number")
            return [float(x) for x in values]
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"{name}: cannot read {text!r}; use a comma list like 1e11,1e12 or lo:hi:count") from None
