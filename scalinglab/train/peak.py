"""The device's measured dense-matmul throughput: the denominator of model FLOPs utilisation (MFU).

MFU = (model FLOPs per token × tokens per second) / peak, with the peak measured here on the same device,
thread count and dtype the training uses, rather than taken from a spec sheet (Chowdhery et al. 2022, "PaLM",
Appendix B, define MFU against peak throughput). Measured once per process for each setting.
"""

from __future__ import annotations

import time

import torch

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
