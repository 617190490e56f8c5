"""The GPT's CPU fast paths compute the textbook model: explicit attention for narrow heads, rotary over the fused
projection."""

import math

import pytest
import torch
import torch.nn.functional as F

from scalinglab.train.config import ModelConfig
from scalinglab.train import model as model_module
from scalinglab.train.model import GPT, Rotary, _CausalAttentionCPU, causal_attention


def _sdpa(qkv):
    b, t, _, h, d = qkv.shape
    y = F.scaled_dot_product_attention(*qkv.permute(2, 0, 3, 1, 4), is_causal=True)
    return y.transpose(1, 2).reshape(b, t, h * d)


@pytest.mark.parametrize("softmax", ["private", "public"])
@pytest.mark.parametrize("shape", [(2, 128, 3, 8), (3, 7, 2, 4), (1, 1, 1, 8)], ids=["ladder", "odd-T", "T=1"])
def test_explicit_cpu_attention_matches_sdpa_forward_and_backward(shape, softmax, monkeypatch):
    """Both in-place softmax implementations: torch's private kernels and the public fallback."""
    monkeypatch.setattr(model_module, "_softmax_in_place", getattr(model_module, f"_{softmax}_softmax_in_place"))
    monkeypatch.setattr(model_module, "_softmax_backward_in_place",
                        getattr(model_module, f"_{softmax}_softmax_backward_in_place"))
    b, t, h, d = shape
    torch.manual_seed(0)
    qkv = torch.randn(b, t, 3, h, d, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(b, t, h * d, dtype=torch.float64)
    want = _sdpa(qkv)
    (want_grad,) = torch.autograd.grad(want, qkv, grad)
    got = _CausalAttentionCPU.apply(qkv)
    (got_grad,) = torch.autograd.grad(got, qkv, grad)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(got_grad, want_grad, rtol=0, atol=1e-12)


def test_private_softmax_is_used_where_it_works_and_its_absence_falls_back(monkeypatch):
    works = model_module._private_softmax_works()
    assert (model_module._softmax_in_place is model_module._private_softmax_in_place) == works
    if torch.__version__.startswith("2.13."):  # the version set-up pins has the kernels: the fast path is on
        assert works
    monkeypatch.delattr(torch, "_softmax")
    assert not model_module._private_softmax_works()
    monkeypatch.undo()

    def changed_signature(*args, **kwargs):
        raise TypeError("_softmax_backward_data() got an unexpected keyword argument 'grad_input'")

    monkeypatch.setattr(torch, "_softmax_backward_data", changed_signature)
    assert not model_module._private_softmax_works()


def test_narrow_heads_on_cpu_take_the_explicit_path_and_wide_ones_sdpa():
    narrow, wide = (torch.randn(1, 16, 3, 2, d, requires_grad=True) for d in (8, 16))
    assert "_CausalAttentionCPUBackward" in _graph(causal_attention(narrow))
    assert not any("ScaledDotProduct" in name for name in _graph(causal_attention(narrow)))
    assert any("ScaledDotProduct" in name for name in _graph(causal_attention(wide)))


def _graph(out: torch.Tensor) -> set[str]:
    """Names of the autograd nodes behind ``out``."""
    names, todo = set(), [out.grad_fn]
    while todo:
        node = todo.pop()
        if node is not None and type(node).__name__ not in names:
            names.add(type(node).__name__)
            todo.extend(next_fn for next_fn, _ in node.next_functions)
    return names


def test_rotary_rotates_query_and_key_pairs_and_leaves_values_bit_for_bit():
    n_head, head_dim, t = 2, 8, 5
    rotary = Rotary(n_head, head_dim, seq_len=16, base=10000.0)
    qkv = torch.randn(3, t, 3, n_head, head_dim)
    out = rotary(qkv)
    assert torch.equal(out[:, :, 2], qkv[:, :, 2])
    # RoFormer (Su et al. 2021, §3.4.2): (x₀, x₁) at position m → (x₀·cos mθᵢ − x₁·sin mθᵢ, x₀·sin mθᵢ + x₁·cos mθᵢ)
    theta = 10000.0 ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angle = torch.arange(t, dtype=torch.float64)[:, None] * theta  # (T, head_dim/2)
    cos, sin = angle.cos()[None, :, None, None], angle.sin()[None, :, None, None]
    x0, x1 = qkv[:, :, :2, :, 0::2].double(), qkv[:, :, :2, :, 1::2].double()
    torch.testing.assert_close(out[:, :, :2, :, 0::2].double(), x0 * cos - x1 * sin, rtol=0, atol=1e-6)
    torch.testing.assert_close(out[:, :, :2, :, 1::2].double(), x0 * sin + x1 * cos, rtol=0, atol=1e-6)


def test_gpt_with_narrow_heads_trains_like_the_sdpa_model():
    """The whole model at the 15k ladder shape: loss and every gradient as with SDPA everywhere."""
    cfg = ModelConfig(n_layer=2, n_head=3, d_model=24, seq_len=32, positions="rotary")
    torch.manual_seed(0)
    model = GPT(cfg).double()
    idx = torch.randint(0, cfg.vocab_size, (4, cfg.seq_len))
    loss = model(idx[:, :-1], idx[:, 1:])
    grads = torch.autograd.grad(loss, list(model.parameters()))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_CausalAttentionCPU, "apply", _sdpa)
        want = model(idx[:, :-1], idx[:, 1:])
        want_grads = torch.autograd.grad(want, list(model.parameters()))
    assert math.isclose(loss.item(), want.item(), rel_tol=1e-12)
    for got, expected in zip(grads, want_grads):
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-14)
