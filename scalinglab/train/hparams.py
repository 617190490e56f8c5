"""Default batch size and learning rate as functions of the non-embedding parameter count N.

Pure Python. A ladder that leaves ``batch_size`` / ``lr`` unset gets these, so every run of a given size is
trained the same way whatever its token budget (the schedule alone follows the budget).

- Learning rate: ``LR(N) = 0.103 · N^-0.230``, measured on the default corpus (byte tokens, context 128, rotary,
  AdamW β2 0.95, warm-up 10 % then cosine to 0.1×) by ``benchmarks/hparam_sweep.py``: the best peak LR at
  non-embedding sizes 6.3k, 37k and 154k (total 10k–175k) and budgets of 0.6M–2.4M tokens, one LR* per size (the
  geometric mean over its budgets), fitted as a power law (rms log residual 0.015; in total N the fit is
  0.152·N^-0.260, rms 0.027). Outside 6e3–2e5 non-embedding parameters it is an extrapolation. It replaces Kaplan et
  al. (2020) eq. D.1, ``0.003239 − 0.0001395·ln N``, which gives 0.0016–0.002 here, 3–8× below the measured
  optimum, and starved the larger, shorter ladder runs (Porian et al. 2024, arXiv:2406.19146: an LR tuned per
  size is one of the three factors behind the Kaplan/Chinchilla discrepancy).
- Batch size: DeepSeek-AI (Bi et al. 2024, "DeepSeek LLM", §3.1) fit the optimal batch in tokens as
  ``B_opt = 0.2920 · C^0.3271`` over compute C. We evaluate it at the compute-optimal budget of a model of N
  parameters, C = 6·N·(20·N), i.e. ~20 tokens per parameter (Hoffmann et al. 2022, Table 3), so the batch is a
  function of N alone; then round to whole sequences of ``seq_len`` tokens, at least one. The sweep checked it at
  the smallest size only: doubling the batch (half the steps) at the best LR was worse, 2.455 vs 2.275.
- Warm-up (``TrainConfig.warmup_fraction``, 10 % of the run's own steps): the same sweep with a 2 % warm-up made the
  larger LRs fall off a cliff in the ~450-step runs (175k params, LR 0.008: loss 2.168 at 2 % vs 1.949 at 10 %;
  37k non-embedding params on 2.4M tokens, LR 0.016: 2.094 vs 1.947), so the 2 % sweep's optimum (0.004) was an
  instability limit, not the best LR. Porian et al. (2024) also name warm-up length as a factor behind the
  Kaplan/Chinchilla discrepancy (there a too-long warm-up for small models).
"""

from __future__ import annotations

TOKENS_PER_PARAM = 20.0  # Hoffmann et al. (2022), compute-optimal ratio
LR_COEFFICIENT = 0.103  # benchmarks/hparam_sweep.py, fit of LR* = a · N^b on the default corpus
LR_EXPONENT = -0.230


def default_lr(n_params_non_embedding: float) -> float:
    """Peak AdamW learning rate for a model of N non-embedding parameters (measured rule, see module docstring)."""
    n = max(float(n_params_non_embedding), 1.0)
    return LR_COEFFICIENT * n ** LR_EXPONENT


def default_batch_tokens(n_params_non_embedding: float) -> float:
    """Batch size in tokens for a model of N parameters (DeepSeek LLM's B_opt(C) at C = 120·N²)."""
    n = max(float(n_params_non_embedding), 1.0)
    compute = 6.0 * n * TOKENS_PER_PARAM * n
    return 0.2920 * compute ** 0.3271


def default_batch_size(n_params_non_embedding: float, seq_len: int) -> int:
    """Batch size in sequences of ``seq_len`` tokens: ``default_batch_tokens`` rounded, at least 1."""
    return max(1, round(default_batch_tokens(n_params_non_embedding) / seq_len))
