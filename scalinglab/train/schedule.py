"""What a config means in steps: batch size, learning rate, micro-batches, warm-up, cosine decay, evaluations.

Pure Python, so ladder design and wall-time estimates can call ``plan_run`` without torch. The schedule spans
exactly the run's own token budget: Hoffmann et al. (2022, §3 and Appendix A/Figure A1) showed that a cosine
cycle longer than the run (decaying for a larger budget than is trained) biases the fitted scaling law.
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

    @property
    def n_tokens(self) -> int:
        return self.n_steps * self.tokens_per_step

    def lr_at(self, step: int) -> float:
        """Linear warm-up over ``warmup_steps``, then cosine decay reaching ``min_lr`` at the last step."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        decay_steps = self.n_steps - self.warmup_steps - 1
        progress = 1.0 if decay_steps <= 0 else min(1.0, (step - self.warmup_steps) / decay_steps)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + math.cos(math.pi * progress))


def plan_run(cfg: TrainConfig) -> RunPlan:
    """Resolve the defaults of ``cfg`` (functions of N) into a concrete step plan."""
    m = cfg.model
    _, n_non_emb = count_params(m)
    batch = cfg.batch_size or default_batch_size(n_non_emb, m.seq_len)
    tokens_per_step = batch * m.seq_len
    n_steps = max(1, round(cfg.n_tokens / tokens_per_step))
    lr = cfg.lr if cfg.lr is not None else default_lr(n_non_emb)
    warmup = min(n_steps, math.ceil(cfg.warmup_fraction * n_steps))
    every_tokens = cfg.eval_every_tokens or cfg.n_tokens / DEFAULT_N_EVALS
    eval_every = max(1, round(every_tokens / tokens_per_step))
    micro = cfg.micro_batch_size or default_micro_batch(cfg, batch)
    return RunPlan(batch_size=batch, micro_batch_size=min(micro, batch), tokens_per_step=tokens_per_step,
                   n_steps=n_steps, lr=lr, min_lr=lr * cfg.min_lr_ratio, warmup_steps=warmup,
                   eval_every_steps=eval_every, eval_chunk_size=eval_chunk(cfg))


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
