"""The device's peak dense-matmul throughput: the denominator of model FLOPs utilisation (MFU).

MFU = (model FLOPs per token × tokens per second) / peak (Chowdhery et al. 2022, "PaLM", Appendix B, define MFU
against peak throughput). On a GPU the peak is its maker's dense bf16 figure from the accelerator catalog
(``scalinglab/plan/accelerators.yaml``), found by the name ``torch.cuda.get_device_name`` reports, so MFU reads as
it does in papers; a GPU the catalog does not hold, and a CPU (which has no such figure), get the peak measured here
on the same device, thread count and dtype the training uses, once per process for each setting.

The catalog is read through ``scalinglab.plan.catalog``, a leaf module (YAML and errors only) that the planner
owns: the one home of accelerator figures, imported here lazily and only on a GPU.
"""

from __future__ import annotations

import re
import time

import torch

# Words in a device name that do not tell its peak apart (vendor, memory size and kind, the SXM form factor).
_NEUTRAL = re.compile(r"nvidia|amd|instinct|tesla|\d+gb|hbm\d?e?|sxm\d?")

_CACHE: dict[tuple, float] = {}


def measure_matmul_peak(threads: int | None = None, device: str = "cpu", dtype: torch.dtype = torch.float32,
                        size: int = 1024, seconds: float = 0.25, cached: bool = True) -> float:
    """Best sustained FLOP/s of a square ``size``×``size`` matmul (2·size³ FLOPs each) over a few rounds.
    ``cached=False`` measures again (benchmarks on a busy machine re-measure next to each timing)."""
    threads = threads or torch.get_num_threads()
    key = (threads, str(device), dtype, size)
    if cached and key in _CACHE:
        return _CACHE[key]
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        gen = torch.Generator(device="cpu").manual_seed(0)
        a = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
        b = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
        out = torch.empty(size, size, device=device, dtype=dtype)
        sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
        for _ in range(3):
            torch.mm(a, b, out=out)
        sync()
        best = 0.0
        for _ in range(3):
            reps, start = 0, time.perf_counter()
            while True:
                torch.mm(a, b, out=out)
                reps += 1
                sync()
                elapsed = time.perf_counter() - start
                if elapsed >= seconds / 3:
                    break
            best = max(best, 2.0 * size**3 * reps / elapsed)
    finally:
        torch.set_num_threads(previous)
    _CACHE[key] = best
    return best


def catalog_peak_flops(device_name: str, catalog=None) -> float | None:
    """Dense bf16 peak FLOP/s of the catalog entry for a device named as ``torch.cuda.get_device_name`` names it
    ("NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-40GB", "AMD Instinct MI300X"); None when no entry fits.

    The first word that is an entry's name or alias picks the chip; a following word that joins it into another
    entry picks the variant (``a100`` + ``40gb`` → ``a100-40gb``, ``h100`` + ``pcie`` → ``h100-pcie``); any other
    word that may change the peak (``NVL``, say) gives None rather than a wrong peak."""
    from scalinglab.plan.catalog import load_catalog

    catalog = load_catalog() if catalog is None else catalog
    names = {acc.name: acc for acc in catalog.values()}
    for acc in catalog.values():
        for alias in acc.aliases:
            names.setdefault(alias, acc)
    words = [w for w in re.split(r"[\s_/-]+", device_name.strip().lower()) if w]
    chip = next((i for i, w in enumerate(words) if w in names), None)
    if chip is None:
        return None
    rest = words[chip + 1:]
    for word in rest:
        if f"{words[chip]}-{word}" in names:
            return names[f"{words[chip]}-{word}"].bf16_flops
    if any(not _NEUTRAL.fullmatch(w) for w in rest):
        return None
    return names[words[chip]].bf16_flops


def device_peak_flops(device: torch.device | str, threads: int | None = None) -> float:
    """The MFU denominator for training on ``device``: the catalog's bf16 peak for a GPU it holds, else the
    measured matmul peak (bf16 on a GPU, fp32 on a CPU, the dtypes the trainer computes in)."""
    device = torch.device(device)
    if device.type == "cuda":
        peak = catalog_peak_flops(torch.cuda.get_device_name(device))
        if peak:
            return peak
        return measure_matmul_peak(threads, device=str(device), dtype=torch.bfloat16)
    return measure_matmul_peak(threads, device=str(device), dtype=torch.float32)
