"""Memory per device: model states under ZeRO, activations with/without recomputation, fits or not."""

import pytest

from scalinglab.errors import InputError
from scalinglab.plan.flops import ModelSpec
from scalinglab.plan.memory import ADAM_MIXED, Parallelism, activation_bytes, memory_per_device, model_state_bytes

# Llama 2 70B shape: 80 layers, width 8192, 64 heads, context 4096 (Touvron et al. 2023, arXiv:2307.09288).
LLAMA2_70B = ModelSpec(n_params=70e9, n_layers=80, d_model=8192, n_heads=64, seq_len=4096)
H100_BYTES = 80e9


@pytest.mark.parametrize("stage, published_gb", [(0, 120.0), (1, 31.4), (2, 16.6), (3, 1.9)])
def test_zero_paper_figure1(stage, published_gb):
    # Rajbhandari et al. 2020 (ZeRO, arXiv:1910.02054) Fig. 1: a 7.5B model, mixed-precision Adam (K = 12), 64 DP
    # ranks: 120 GB per device without ZeRO, 31.4 GB (P_os), 16.6 GB (P_os+g), 1.9 GB (P_os+g+p).
    states = model_state_bytes(ModelSpec(7.5e9), Parallelism(dp=64, zero_stage=stage), ADAM_MIXED)
    assert sum(states.values()) / 1e9 == pytest.approx(published_gb, rel=0.02)


def test_70b_with_full_adam_state_does_not_fit_one_80gb_device():
    report = memory_per_device(LLAMA2_70B, Parallelism(), H100_BYTES)
    assert not report.fits
    assert report.terms_bytes["weights"] == pytest.approx(140e9)  # 2 bytes × 70e9
    assert report.largest_term == "optimizer_states"  # 12 bytes × 70e9 = 840 GB


def test_70b_fits_with_zero3_over_64_devices_and_full_recomputation():
    report = memory_per_device(LLAMA2_70B, Parallelism(dp=64, zero_stage=3), H100_BYTES, recompute="full")
    assert report.fits
    assert report.total_bytes < 30e9  # 16 B × 70e9 / 64 = 17.5 GB of states + 2·s·h·L = 5.4 GB activations


def test_70b_on_64_devices_without_recomputation_does_not_fit_and_names_activations():
    report = memory_per_device(LLAMA2_70B, Parallelism(dp=64, zero_stage=3), H100_BYTES, recompute="none")
    assert not report.fits and report.largest_term == "activations"


def test_selective_recomputation_saves_70_percent_for_gpt3():
    # Korthikanti et al. 2022 (arXiv:2205.05198) Sec. 5: for GPT-3 (96 heads, width 12288, sequence 2048),
    # 5as/h = 80 of the 34 + 80 bytes per s·b·h, so selective recomputation cuts activation memory by 70 %.
    gpt3 = ModelSpec(n_params=175e9, n_layers=96, d_model=12288, n_heads=96, seq_len=2048)
    layout = Parallelism(tp=8, pp=8, dp=1)
    full = activation_bytes(gpt3, layout, recompute="none")
    selective = activation_bytes(gpt3, layout, recompute="selective")
    assert 1 - selective / full == pytest.approx(0.70, abs=0.01)
    assert activation_bytes(gpt3, layout, recompute="full") < selective


def test_tensor_parallel_with_sequence_parallel_divides_activations():
    one = activation_bytes(LLAMA2_70B, Parallelism(tp=1), recompute="none")
    eight = activation_bytes(LLAMA2_70B, Parallelism(tp=8), recompute="none")
    assert eight == pytest.approx(one / 8)
    assert activation_bytes(LLAMA2_70B, Parallelism(tp=8, sequence_parallel=False), recompute="none") > eight


def test_expert_parallelism_shards_only_the_experts():
    moe = ModelSpec(n_params=1.8e12, n_params_active=2.8e11, n_experts=16, experts_per_token=2)
    dense_share = moe.n_params - moe.n_params_expert
    one = model_state_bytes(moe, Parallelism(dp=16, ep=1))["weights"]
    sixteen = model_state_bytes(moe, Parallelism(dp=16, ep=16))["weights"]
    assert one == pytest.approx(2 * moe.n_params)
    assert sixteen == pytest.approx(2 * (dense_share + moe.n_params_expert / 16))


@pytest.mark.parametrize("kwargs", [dict(tp=0), dict(dp=6, ep=4), dict(zero_stage=4), dict(pp=1.5)])
def test_bad_parallelism_rejected(kwargs):
    with pytest.raises(InputError):
        Parallelism(**kwargs)


def test_activation_memory_needs_the_shape():
    with pytest.raises(InputError, match="n_layers"):
        memory_per_device(ModelSpec(7e9), Parallelism(), H100_BYTES)


def test_the_smallest_fitting_layout_fits_and_one_rank_fewer_does_not():
    report = memory_per_device(LLAMA2_70B, Parallelism(), H100_BYTES)
    fix = report.fix
    assert fix is not None and fix.total_bytes <= H100_BYTES
    again = memory_per_device(LLAMA2_70B, fix.parallelism, H100_BYTES, recompute=fix.recompute)
    assert again.fits and again.total_bytes == pytest.approx(fix.total_bytes)
    fewer = Parallelism(**{**vars(fix.parallelism), "dp": fix.parallelism.dp - 1})
    assert not memory_per_device(LLAMA2_70B, fewer, H100_BYTES, recompute=fix.recompute).fits


def test_without_a_shape_the_report_counts_model_states_and_says_so():
    # 16 bytes per parameter of mixed-precision Adam (ZeRO, Sec. 3.1): 7e9 parameters need 112 GB on one device.
    report = memory_per_device(ModelSpec(7e9), Parallelism(), H100_BYTES, require_shape=False)
    assert not report.activations_counted and report.total_bytes == pytest.approx(16 * 7e9)
    assert not report.fits and report.fix.parallelism.n_devices == 2  # ZeRO 3 over 2 ranks: 56 GB each
    assert memory_per_device(ModelSpec(7e9), Parallelism(), None, require_shape=False).fits is None


def test_activations_too_large_for_any_layout_leave_no_fix():
    huge_batch = memory_per_device(LLAMA2_70B, Parallelism(), H100_BYTES, micro_batch_size=4096)
    assert not huge_batch.fits and huge_batch.fix is None
