"""The trainer's accelerator paths, chosen by device: on CUDA bf16 autocast, flash attention through
``scaled_dot_product_attention`` and, when asked, ``torch.compile``; on a CPU fp32 and eager. AdamW is fused on
every device.

- **bf16 autocast**: matmuls in bf16, reductions and the loss in fp32 (Micikevicius et al. 2018 for mixed
  precision; bf16 keeps fp32's exponent range, so no loss scaling is needed).
- **Fused AdamW**: one kernel for the whole parameter update instead of a few per tensor group.
- **Flash attention** (Dao et al. 2022): ``model.causal_attention`` calls
  ``scaled_dot_product_attention(is_causal=True)``, which on CUDA dispatches bf16 inputs to the flash kernel by
  itself; ``tests/test_gpu_paths.py`` forces that kernel alone to check the model's call qualifies. Only on a CPU
  do heads narrower than 16 take explicit matmuls instead (faster there: ``model._CausalAttentionCPU``).
- **torch.compile**: off by default (``SCALINGLAB_COMPILE=1`` turns it on). Measured on this project's CPU models it
  is slower (87K vs 104K tokens/s, plus 29 s of compilation), so it is refused on a CPU unless
  ``SCALINGLAB_COMPILE=force``.
"""

from __future__ import annotations

import os

import torch

COMPILE_ENV = "SCALINGLAB_COMPILE"


def optimizer_options(device: torch.device) -> dict:
    # fused on every device: one kernel per parameter for the whole update instead of ~a dozen foreach passes; at
    # 15k-100k parameters on the CPU the optimiser step was ~8 % of a training step (benchmarks/train_speed.py)
    return {"fused": True}


def precision(device: torch.device):
    """The forward's context: bf16 autocast on CUDA, plain fp32 elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def wants_compile(device: torch.device) -> bool:
    value = os.environ.get(COMPILE_ENV, "0").strip().lower()
    if value == "force":
        return True
    return value in ("1", "true", "yes") and device.type == "cuda"


def maybe_compile(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    return torch.compile(module) if wants_compile(device) else module
