"""Training FLOPs of a (dense or mixture-of-experts) transformer: 6·N_active·D, and the count with attention.

6·N·D counts the matmul FLOPs of the forward (2·N·D) and backward (4·N·D) passes (Kaplan et al. 2020,
arXiv:2001.08361, Sec. 2.1). For a mixture of experts only the parameters a token passes through count, so N is the
*active* parameter count. The attention scores and values add 2·n_layers·seq_len·d_model forward FLOPs per token
(Kaplan et al. 2020, Table 1, with d_attn = d_model), i.e. 6·n_layers·seq_len·d_model per trained token.
"""

from __future__ import annotations

from dataclasses import dataclass

from scalinglab.errors import InputError, require_positive
from scalinglab.laws import FLOPS_PER_PARAM_TOKEN



@dataclass(frozen=True)
class ModelSpec:
    """What the planner needs to know about a model. Shape fields are optional; without them the attention term and
    activation memory cannot be computed.

    ``n_params`` is the total parameter count (all experts); ``n_params_active`` the parameters used per token
    (equal to ``n_params`` for a dense model). ``n_experts``/``experts_per_token`` describe a mixture of experts.
    """

    n_params: float
    n_params_active: float | None = None
    n_layers: int | None = None
    d_model: int | None = None
    n_heads: int | None = None
    seq_len: int | None = None
    n_experts: int = 1
    experts_per_token: int = 1

    def __post_init__(self):
        require_positive("n_params", self.n_params)
        if self.n_params_active is not None:
            require_positive("n_params_active", self.n_params_active)
            if self.n_params_active > self.n_params:
                raise InputError(f"active parameters ({self.n_params_active:.4g}) exceed total parameters "
                                 f"({self.n_params:.4g})")
        for name in ("n_layers", "d_model", "n_heads", "seq_len"):
            value = getattr(self, name)
            if value is not None:
                require_positive(name, value)
        require_positive("n_experts", self.n_experts)
        require_positive("experts_per_token", self.experts_per_token)
        if self.experts_per_token > self.n_experts:
            raise InputError(f"experts_per_token ({self.experts_per_token}) exceeds n_experts ({self.n_experts})")
        if self.n_experts > self.experts_per_token and self.n_params_active in (None, self.n_params):
            raise InputError("a mixture of experts needs n_params_active below n_params (the parameters a token uses)")

    @property
    def active(self) -> float:
        return float(self.n_params if self.n_params_active is None else self.n_params_active)

    @property
    def is_moe(self) -> bool:
        return self.active < self.n_params

    @property
    def n_params_expert(self) -> float:
        """Parameters inside experts, from total = dense + experts and active = dense + experts·k/E."""
        if not self.is_moe:
            return 0.0
        share = self.experts_per_token / self.n_experts
        if share >= 1.0:
            raise InputError("active < total parameters needs n_experts > experts_per_token (e.g. --experts 16 --top-k 2)")
        return (self.n_params - self.active) / (1.0 - share)

    @property
    def has_shape(self) -> bool:
        return None not in (self.n_layers, self.d_model, self.seq_len)

    def attention_flops_per_token(self) -> float | None:
        """6·n_layers·seq_len·d_model training FLOPs per token for attention scores and values; None without shape."""
        if not self.has_shape:
            return None
        return FLOPS_PER_PARAM_TOKEN * float(self.n_layers) * float(self.seq_len) * float(self.d_model)

    def flops_per_token(self, include_attention: bool = True) -> float:
        """Training FLOPs per token: 6·N_active, plus the attention term when asked for and the shape is known."""
        base = FLOPS_PER_PARAM_TOKEN * self.active
        attention = self.attention_flops_per_token() if include_attention else None
        return base + (attention or 0.0)


@dataclass(frozen=True)
class TrainingFlops:
    n_tokens: float
    flops_6nd: float
    flops_with_attention: float | None  # None when the model's shape is unknown

    @property
    def flops(self) -> float:
        """The best available count: with attention when the shape is known, else 6·N_active·D."""
        return self.flops_6nd if self.flops_with_attention is None else self.flops_with_attention


def training_flops(model: ModelSpec, n_tokens: float) -> TrainingFlops:
    """Training FLOPs for ``n_tokens`` tokens: 6·N_active·D and, when the shape is known, the count with attention."""
    d = require_positive("n_tokens", n_tokens)
    attention = model.attention_flops_per_token()
    base = FLOPS_PER_PARAM_TOKEN * model.active * d
    return TrainingFlops(n_tokens=d, flops_6nd=base,
                         flops_with_attention=None if attention is None else base + attention * d)
