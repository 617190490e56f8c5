"""What a config means in steps: batch size, learning rate, micro-batches, warm-up, the decay, evaluations.

Pure Python, so ladder design and wall-time estimates can call ``plan_run`` without torch. Two schedules:

- ``cosine``: linear warm-up, then cosine decay to ``min_lr`` spanning exactly the run's own token budget: Hoffmann
  et al. (2022, §3 and Appendix A/Figure A1) showed that a cosine cycle longer than the run (decaying for a larger
  budget than is trained) biases the fitted scaling law.
- ``wsd`` (warm-up, stable, decay): linear warm-up, the peak rate held constant, then a cooldown over the last
  ``decay_fraction`` of the run's steps, ``1-sqrt`` (lr·(1 − √p) at cooldown progress p) or ``linear``. Hägele et
  al. (2024, "Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations", arXiv:2405.18392) find a
  cooldown of ~20 % of the run with the 1−sqrt shape, decaying to zero, matches (or beats) a cosine run of the same
  length (§3, Figs. 3-5); hence the defaults ``decay_fraction`` 0.2, ``1-sqrt`` and, in the ladder's WSD design,
  ``min_lr_ratio`` 0. Up to its cooldown a WSD run's rate does not depend on its length (with a fixed
  ``warmup_tokens``), so runs of several lengths share one stable phase: a cooldown branched from a stable checkpoint
  at step ``decay_start`` is, bit for bit, the run trained from scratch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scalinglab.train.accounting import count_params
from scalinglab.train.config import TrainConfig
from scalinglab.train.hparams import default_batch_size, default_lr

ACTIVATION_BUDGET_BYTES = 1 << 30  # micro-batches are sized to keep saved activations under ~1 GiB
# Evaluation runs forward only, in chunks of up to 8192 tokens (fewer, larger kernels than the training
# micro-batch of ~6-20 sequences: the ladder's evaluations took ~12 % of a 15k-parameter run) whose logits stay
# under 64 MiB.
EVAL_CHUNK_TOKENS = 8192
EVAL_LOGITS_BYTES = 64 << 20
DEFAULT_N_EVALS = 8


@dataclass(frozen=True)
class RunPlan:
    batch_size: int  # sequences per optimiser step
    micro_batch_size: int  # sequences per forward/backward chunk (gradient accumulation)
    tokens_per_step: int
    n_steps: int
    lr: float  # peak learning rate
    min_lr: float
    warmup_steps: int
    eval_every_steps: int
    eval_chunk_size: int = 1  # held-out sequences per evaluation forward
    schedule: str = "cosine"
    decay_steps: int = 0  # wsd: steps of the cooldown, the run's last ones
    decay_shape: str = "1-sqrt"

    @property
    def n_tokens(self) -> int:
        return self.n_steps * self.tokens_per_step

    @property
    def decay_start(self) -> int:
        """wsd: the first cooldown step; the state after this many steps is the stable checkpoint a branch needs."""
        return self.n_steps - self.decay_steps if self.schedule == "wsd" else self.warmup_steps

    def lr_at(self, step: int) -> float:
        """Linear warm-up over ``warmup_steps``, then cosine decay reaching ``min_lr`` at the last step (``cosine``),
        or the peak until ``decay_start`` and a cooldown reaching ``min_lr`` at the last step (``wsd``)."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.schedule == "wsd":
            return self._wsd_lr(step)
        decay_steps = self.n_steps - self.warmup_steps - 1
        progress = 1.0 if decay_steps <= 0 else min(1.0, (step - self.warmup_steps) / decay_steps)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + math.cos(math.pi * progress))

    def _wsd_lr(self, step: int) -> float:
        if step < self.decay_start:
            return self.lr
        progress = (step - self.decay_start + 1) / self.decay_steps  # 1 at the last step
        fall = progress if self.decay_shape == "linear" else math.sqrt(progress)
        return self.min_lr + (self.lr - self.min_lr) * (1.0 - fall)


def plan_run(cfg: TrainConfig) -> RunPlan:
    """Resolve the defaults of ``cfg`` (functions of N) into a concrete step plan."""
    m = cfg.model
    _, n_non_emb = count_params(m)
    batch = cfg.batch_size or default_batch_size(n_non_emb, m.seq_len)
    tokens_per_step = batch * m.seq_len
    n_steps = max(1, round(cfg.n_tokens / tokens_per_step))
    lr = cfg.lr if cfg.lr is not None else default_lr(n_non_emb)
    if cfg.warmup_tokens is not None:  # fixed, so that WSD runs of every length share their stable phase
        warmup = min(n_steps, math.ceil(cfg.warmup_tokens / tokens_per_step))
    else:
        warmup = min(n_steps, math.ceil(cfg.warmup_fraction * n_steps))
    decay = min(n_steps - warmup, round(cfg.decay_fraction * n_steps)) if cfg.schedule == "wsd" else 0
    every_tokens = cfg.eval_every_tokens or cfg.n_tokens / DEFAULT_N_EVALS
    eval_every = max(1, round(every_tokens / tokens_per_step))
    micro = cfg.micro_batch_size or default_micro_batch(cfg, batch)
    return RunPlan(batch_size=batch, micro_batch_size=min(micro, batch), tokens_per_step=tokens_per_step,
                   n_steps=n_steps, lr=lr, min_lr=lr * cfg.min_lr_ratio, warmup_steps=warmup,
                   eval_every_steps=eval_every, eval_chunk_size=eval_chunk(cfg), schedule=cfg.schedule,
                   decay_steps=decay, decay_shape=cfg.decay_shape)


def eval_chunk(cfg: TrainConfig) -> int:
    """Held-out sequences per evaluation forward: ``EVAL_CHUNK_TOKENS`` worth, fewer if the logits would exceed
    ``EVAL_LOGITS_BYTES``; a function of the config only, so the summed loss (and its bits) is too."""
    m = cfg.model
    tokens = min(EVAL_CHUNK_TOKENS, EVAL_LOGITS_BYTES // (4 * m.vocab_size))
    return max(1, tokens // m.seq_len)


def default_micro_batch(cfg: TrainConfig, batch: int) -> int:
    """Largest chunk whose saved activations fit ``ACTIVATION_BUDGET_BYTES``: per token and layer about
    (9 + 2·mlp_ratio)·d floats, plus logits and their gradient (2·V) at the top. A function of the config only,
    so the arithmetic (and the loss bits) do not depend on the machine."""
    m = cfg.model
    floats_per_token = m.n_layer * (9 + 2 * m.mlp_ratio) * m.d_model + 2 * m.vocab_size + 4 * m.d_model
    tokens = ACTIVATION_BUDGET_BYTES // (4 * floats_per_token)
    return max(1, min(batch, tokens // m.seq_len))
