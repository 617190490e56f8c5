"""Training FLOPs: 6·N_active·D, the attention term, and mixture-of-experts bookkeeping."""

import pytest

from scalinglab.errors import InputError
from scalinglab.plan.flops import ModelSpec, training_flops

# Llama 1 7B: Touvron et al. 2023 (arXiv:2302.13971) Table 2 — 6.7B parameters, 32 layers, width 4096, 1.0T tokens,
# context 2048. Llama 3 8B: Dubey et al. 2024 (arXiv:2407.21783) Table 3 — 32 layers, width 4096; pre-trained on
# about 15T tokens with context 8192.
LLAMA1_7B = ModelSpec(n_params=6.7e9, n_layers=32, d_model=4096, n_heads=32, seq_len=2048)
LLAMA3_8B = ModelSpec(n_params=8.0e9, n_layers=32, d_model=4096, n_heads=32, seq_len=8192)


def test_llama3_8b_to_llama1_7b_training_flops_ratio():
    # The "20× the training FLOPs" comparison. 6ND alone: 8.0·15 / (6.7·1.0) = 17.91×. With the attention term
    # (6·L·s·d per token, Kaplan et al. 2020 Table 1) Llama 3's 4× longer context adds more: 19.53×.
    new = training_flops(LLAMA3_8B, 15e12)
    old = training_flops(LLAMA1_7B, 1.0e12)
    assert new.flops_6nd / old.flops_6nd == pytest.approx(17.91, rel=0.005)
    assert new.flops_with_attention / old.flops_with_attention == pytest.approx(19.53, rel=0.005)


def test_6nd_for_chinchilla_70b():
    # Hoffmann et al. 2022 (arXiv:2203.15556) Table 3: a 67B model at 1 Gopher-compute = 5.76e23 FLOPs; Chinchilla
    # itself, 70B on 1.4T tokens, is 6·70e9·1.4e12 = 5.88e23 FLOPs.
    assert training_flops(ModelSpec(70e9), 1.4e12).flops_6nd == pytest.approx(5.88e23, rel=1e-9)
    assert training_flops(ModelSpec(70e9), 1.4e12).flops_with_attention is None  # shape unknown


def test_moe_counts_active_parameters_and_expert_split():
    # Mixtral 8x7B (Jiang et al. 2024, arXiv:2401.04088): 46.7B total, 12.9B active, 8 experts, top-2.
    # Non-expert parameters implied: total − (total − active)/(1 − 2/8) = 1.63B, matching its attention
    # (32 layers × (2·4096² + 2·4096·1024) = 1.34B) plus embeddings and head (2·32000·4096 = 0.26B) = 1.60B.
    mixtral = ModelSpec(n_params=46.7e9, n_params_active=12.9e9, n_experts=8, experts_per_token=2)
    assert training_flops(mixtral, 1e12).flops_6nd == pytest.approx(6 * 12.9e9 * 1e12)
    assert mixtral.n_params - mixtral.n_params_expert == pytest.approx(1.60e9, rel=0.03)


@pytest.mark.parametrize("kwargs", [
    dict(n_params=0), dict(n_params=-7e9), dict(n_params=7e9, n_params_active=8e9),
    dict(n_params=7e9, n_params_active=2e9),  # MoE without experts
    dict(n_params=7e9, n_experts=4, experts_per_token=8),
])
def test_bad_models_are_rejected(kwargs):
    with pytest.raises(InputError):
        ModelSpec(**kwargs).n_params_expert


def test_bad_token_count_rejected():
    with pytest.raises(InputError, match="n_tokens"):
        training_flops(LLAMA1_7B, 0)
