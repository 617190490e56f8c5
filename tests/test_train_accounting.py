"""Parameter and FLOP accounting of the GPT, checked against the built model and torch's FLOP counter."""

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from scalinglab.train.accounting import count_params, flops_per_token, training_flops
from scalinglab.train.config import ModelConfig
from scalinglab.train.model import GPT

SHAPES = [
    ModelConfig(n_layer=2, n_head=4, d_model=64, seq_len=32, vocab_size=256, positions="learned"),
    ModelConfig(n_layer=3, n_head=2, d_model=48, seq_len=64, vocab_size=300, positions="rotary", mlp_ratio=2),
]


@pytest.mark.parametrize("cfg", SHAPES, ids=["learned", "rotary"])
def test_param_count_matches_model(cfg):
    model = GPT(cfg)
    total, non_embedding = count_params(cfg)
    assert total == sum(p.numel() for p in model.parameters())
    embedding = model.wte.weight.numel() + (model.wpe.weight.numel() if model.wpe is not None else 0)
    assert non_embedding == total - embedding


@pytest.mark.parametrize("cfg", SHAPES, ids=["learned", "rotary"])
def test_full_flops_match_flop_counter_forward_backward(cfg):
    torch.manual_seed(0)
    model = GPT(cfg)
    batch = 2
    idx = torch.randint(0, cfg.vocab_size, (batch, cfg.seq_len))
    # FlopCounterMode has no formula for the fused CPU attention kernel; the math backend runs the same two
    # attention matmuls (QKᵀ and weights·V) as explicit bmm calls that it does count.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        loss = model(idx, idx)
        loss.backward()
    measured = counter.get_total_flops() / (batch * cfg.seq_len)
    _, full = flops_per_token(cfg)
    assert abs(full - measured) / measured < 0.02


def test_narrow_heads_on_cpu_skip_the_masked_quarter_of_attention():
    # head_dim 8 takes the model's explicit CPU attention, whose first half of queries never meets the second half
    # of keys: a quarter of the QKᵀ and weights·V matmuls (all masked weights) is skipped, 3·T·d per layer and
    # token of the 12·T·d that ``full`` counts forward and backward, as flash attention skips them on a GPU.
    cfg = ModelConfig(n_layer=2, n_head=3, d_model=24, seq_len=128, positions="rotary")
    torch.manual_seed(0)
    model = GPT(cfg)
    idx = torch.randint(0, cfg.vocab_size, (2, cfg.seq_len))
    with FlopCounterMode(display=False) as counter:
        model(idx, idx).backward()
    measured = counter.get_total_flops() / (2 * cfg.seq_len)
    _, full = flops_per_token(cfg)
    assert measured == pytest.approx(full - 3 * cfg.n_layer * cfg.seq_len * cfg.d_model, rel=1e-9)


def test_six_n_is_six_times_non_embedding_params():
    cfg = SHAPES[0]
    six_n, full = flops_per_token(cfg)
    assert six_n == 6 * count_params(cfg)[1]
    # full adds attention (4·T·d per layer) and the output layer (2·d·V), forward, times 3, on top of 6N's matmuls
    assert full > six_n
    assert training_flops(cfg, 1000) == (six_n * 1000, full * 1000)


def test_kaplan_approximation_for_a_wide_model():
    # Kaplan et al. (2020), Table 1: N ≈ 12·n_layer·d_model² for d_ff = 4·d_model.
    cfg = ModelConfig(n_layer=12, n_head=12, d_model=768, seq_len=1024, vocab_size=50257)
    _, non_embedding = count_params(cfg)
    assert abs(non_embedding - 12 * 12 * 768**2) / non_embedding < 0.001
