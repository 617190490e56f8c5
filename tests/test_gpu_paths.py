"""The CUDA paths of the trainer (``scalinglab.train.accel``): bf16 autocast, fused AdamW, flash attention through
SDPA, optional torch.compile, MFU against the catalog's bf16 peak. They run only where a GPU is; on a CPU the tests
say why they skip, one test checks that a CPU run takes none of these paths, and one that device names as torch
reports them find their catalog entry."""

import pytest
import torch

from scalinglab.train import accel
from scalinglab.train.config import ModelConfig
from scalinglab.train.model import GPT
from scalinglab.train.peak import catalog_peak_flops
from scalinglab.train.testing import tiny_train_config, write_tiny_corpus
from scalinglab.train.trainer import train

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: torch.cuda.is_available() is False")


def test_a_cpu_run_stays_fp32_with_fused_adamw_and_eager(monkeypatch):
    monkeypatch.setenv(accel.COMPILE_ENV, "1")  # asked for, but refused on a CPU (slower there)
    cpu = torch.device("cpu")
    assert accel.optimizer_options(cpu) == {"fused": True}  # fused is faster on CPU too (benchmarks/train_speed.py)
    with accel.precision(cpu):
        assert torch.nn.Linear(4, 4)(torch.ones(1, 4)).dtype == torch.float32
    model = torch.nn.Linear(4, 4)
    assert accel.maybe_compile(model, cpu) is model


@pytest.mark.parametrize("name, entry", [
    ("NVIDIA H100 80GB HBM3", "h100-sxm"), ("NVIDIA H100 PCIe", "h100-pcie"), ("NVIDIA H200", "h200"),
    ("NVIDIA B200", "b200"), ("NVIDIA A100-SXM4-80GB", "a100-80gb"), ("NVIDIA A100-SXM4-40GB", "a100-40gb"),
    ("AMD Instinct MI300X", "mi300x"),
    ("NVIDIA H100 NVL", None), ("NVIDIA GeForce RTX 4090", None), ("Tesla V100-SXM2-16GB", None),
])
def test_a_gpu_name_from_torch_finds_its_bf16_peak_in_the_catalog(name, entry):
    """Names as ``torch.cuda.get_device_name`` reports them; an unknown variant (H100 NVL has its own, lower peak)
    or device finds none, and MFU then falls back to the measured peak."""
    from scalinglab.plan.catalog import get_accelerator

    assert catalog_peak_flops(name) == (None if entry is None else get_accelerator(entry).bf16_flops)


@cuda
def test_cuda_training_uses_bf16_fused_adamw_and_reaches_a_sane_mfu(tmp_path):
    cfg = tiny_train_config(write_tiny_corpus(tmp_path), device="cuda", threads=None)
    result = train(cfg, tmp_path / "run")
    assert result.completed and result.device.startswith("cuda")
    assert result.final_val_loss < 5.0  # byte-level: ln(256) = 5.55 at initialisation
    assert 0.0 < result.mfu < 1.0
    listed = catalog_peak_flops(torch.cuda.get_device_name())
    if listed is not None:  # this GPU's maker's dense bf16 peak, from the catalog (else its measured peak)
        assert result.peak_flops == listed
        assert result.mfu == pytest.approx(result.flops_full / result.n_tokens * result.tokens_per_s / listed)
    assert accel.optimizer_options(torch.device("cuda")) == {"fused": True}
    with accel.precision(torch.device("cuda")):
        x = torch.ones(2, 8, device="cuda")
        assert torch.nn.Linear(8, 8).cuda()(x).dtype == torch.bfloat16


@cuda
def test_the_models_attention_runs_on_the_flash_kernel():
    from torch.nn.attention import SDPBackend, sdpa_kernel

    model = GPT(ModelConfig(n_layer=2, n_head=4, d_model=128, seq_len=64, positions="rotary")).cuda()
    idx = torch.randint(0, 256, (2, 64), device="cuda")
    with accel.precision(torch.device("cuda")), sdpa_kernel([SDPBackend.FLASH_ATTENTION]):  # flash only, or raise
        loss = model(idx[:, :-1], idx[:, 1:])
    loss.backward()
    assert torch.isfinite(loss)


@cuda
def test_compiled_training_matches_eager_within_bf16(tmp_path, monkeypatch):
    cfg = tiny_train_config(write_tiny_corpus(tmp_path), device="cuda", threads=None)
    eager = train(cfg, tmp_path / "eager").final_val_loss
    monkeypatch.setenv(accel.COMPILE_ENV, "1")
    compiled = train(cfg, tmp_path / "compiled").final_val_loss
    # bf16 matmuls carry 8 bits of mantissa (4e-3 relative); fusion changes rounding points, not the math.
    assert compiled == pytest.approx(eager, rel=2e-2)
