"""Exact parameter and training-FLOP accounting for the GPT in ``scalinglab.train.model``.

Pure Python (no torch at import) so ladder design can size thousands of candidate models cheaply.

Parameters, per block (d = d_model, r = mlp_ratio, no linear biases, LayerNorms with weight and bias):
fused QKV 3d², output projection d², MLP 2·r·d², two LayerNorms 4d; plus a final LayerNorm 2d, the token
embedding V·d (tied with the output layer, counted once) and, for learned positions, T·d.
"Non-embedding" drops the token and position embeddings, as Kaplan et al. (2020, §2.1) define N.

FLOPs per trained token (one multiply-add = 2 FLOPs; backward = 2 × forward):
- ``six_n``: 6·N with N the non-embedding parameter count, the C ≈ 6N per token of Kaplan et al. (2020, eq. 2.1
  and Table 1).
- ``full``: every matrix multiply the model executes, forward and backward: per block the linear layers
  2·(4 + 2r)·d² and attention 4·T·d (scores QKᵀ and the weighted sum over all T key positions, as
  Hoffmann et al. 2022, Appendix F, count them), plus the output layer 2·d·V; times 3 for forward+backward.
  Element-wise work (LayerNorm, softmax, GELU, rotary) is left out, as in both papers' matmul counts; it is
  under 1 % for these shapes. This is the count ``torch.utils.flop_counter.FlopCounterMode`` reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scalinglab.train.config import ModelConfig


def count_params(cfg: ModelConfig) -> tuple[int, int]:
    """Return ``(n_params_total, n_params_non_embedding)`` of the model built from ``cfg``."""
    d, r = cfg.d_model, cfg.mlp_ratio
    per_block = 3 * d * d + d * d + 2 * r * d * d + 4 * d
    non_embedding = cfg.n_layer * per_block + 2 * d
    embedding = cfg.vocab_size * d + (cfg.seq_len * d if cfg.positions == "learned" else 0)
    return non_embedding + embedding, non_embedding


def forward_flops_per_token(cfg: ModelConfig) -> float:
    """Matmul FLOPs of one forward pass, per token, at full context ``seq_len``."""
    d, r, t = float(cfg.d_model), float(cfg.mlp_ratio), float(cfg.seq_len)
    linear = 2.0 * (4.0 + 2.0 * r) * d * d
    attention = 4.0 * t * d
    return cfg.n_layer * (linear + attention) + 2.0 * d * cfg.vocab_size


def flops_per_token(cfg: ModelConfig) -> tuple[float, float]:
    """Training FLOPs per token: ``(six_n, full)``; see the module docstring for what each counts."""
    _, non_embedding = count_params(cfg)
    return 6.0 * non_embedding, 3.0 * forward_flops_per_token(cfg)


def training_flops(cfg: ModelConfig, n_tokens: float) -> tuple[float, float]:
    """Training FLOPs of a run of ``n_tokens``: ``(6·N·D, full)``."""
    six_n, full = flops_per_token(cfg)
    return six_n * float(n_tokens), full * float(n_tokens)
