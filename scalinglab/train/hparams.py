"""Default batch size and learning rate as functions of the non-embedding parameter count N.

Pure Python. A ladder that leaves ``batch_size`` / ``lr`` unset gets these, so every run of a given size is
trained the same way whatever its token budget (the schedule alone follows the budget).

- Learning rate: Kaplan et al. (2020), Appendix D.6, eq. (D.1): ``LR(N) ≈ 0.003239 − 0.0001395·ln N``, fitted on
  their models of 10³–10⁹ non-embedding parameters trained with Adam and warm-up then cosine decay.
- Batch size: DeepSeek-AI (Bi et al. 2024, "DeepSeek LLM", §3.1) fit the optimal batch in tokens as
  ``B_opt = 0.2920 · C^0.3271`` over compute C. We evaluate it at the compute-optimal budget of a model of N
  parameters, C = 6·N·(20·N), i.e. ~20 tokens per parameter (Hoffmann et al. 2022, Table 3), so the batch is a
  function of N alone; then round to whole sequences of ``seq_len`` tokens, at least one.
"""

from __future__ import annotations

import math

TOKENS_PER_PARAM = 20.0  # Hoffmann et al. (2022), compute-optimal ratio


def default_lr(n_params_non_embedding: float) -> float:
    """Peak AdamW learning rate for a model of N non-embedding parameters (Kaplan et al. 2020, eq. D.1)."""
    n = max(float(n_params_non_embedding), 1.0)
    # The fit is linear in ln N and crosses zero near N ≈ 1.2e10; keep a floor for models past its range.
    return max(0.003239 - 0.0001395 * math.log(n), 1e-4)


def default_batch_tokens(n_params_non_embedding: float) -> float:
    """Batch size in tokens for a model of N parameters (DeepSeek LLM's B_opt(C) at C = 120·N²)."""
    n = max(float(n_params_non_embedding), 1.0)
    compute = 6.0 * n * TOKENS_PER_PARAM * n
    return 0.2920 * compute ** 0.3271


def default_batch_size(n_params_non_embedding: float, seq_len: int) -> int:
    """Batch size in sequences of ``seq_len`` tokens: ``default_batch_tokens`` rounded, at least 1."""
    return max(1, round(default_batch_tokens(n_params_non_embedding) / seq_len))
