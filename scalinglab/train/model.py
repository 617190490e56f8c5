"""The GPT: pre-LayerNorm blocks, causal attention (``scaled_dot_product_attention``; on a CPU, explicit matmuls for
heads narrower than 16), GELU MLP, tied embeddings, learned or rotary positions. Its parameter and FLOP counts are
derived in ``scalinglab.train.accounting`` and tested against ``FlopCounterMode``; ``tests/test_train_model.py``
checks the CPU attention and rotary paths against the textbook formulas.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from scalinglab.train.config import ModelConfig


class Rotary(nn.Module):
    """Rotary position embedding (Su et al. 2021, "RoFormer") of the queries and keys in a fused (B, T, 3, H,
    head_dim) projection.

    Each adjacent pair (x₂ᵢ, x₂ᵢ₊₁) of a head is rotated by the angle t·θᵢ: one complex multiply by e^{i·t·θᵢ}
    instead of slicing, four multiplies and a stack. The values' phase is exactly 1, so one multiply covers the
    whole projection and leaves them bit for bit as they were (slicing out queries and keys instead cost a
    zero-fill, a copy and an add in every backward). The phases are stored for every head rather than broadcast
    over them: the multiply's inner loop then runs over all of a position's 3·d_model/2 pairs instead of one head's
    head_dim/2, 3-7x faster on a CPU at the ladder's sizes."""

    def __init__(self, n_head: int, head_dim: int, seq_len: int, base: float):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
        angles = torch.outer(torch.arange(seq_len, dtype=torch.float64), inv_freq)
        phase = torch.polar(torch.ones_like(angles), angles).to(torch.complex64)
        phase = torch.stack((phase, phase, torch.ones_like(phase)), dim=1)  # queries, keys, values
        self.register_buffer("phase", phase.unsqueeze(2).repeat(1, 1, n_head, 1), persistent=False)

    def forward(self, qkv: torch.Tensor) -> torch.Tensor:  # qkv: (B, T, 3, H, head_dim)
        t, dtype = qkv.shape[1], qkv.dtype
        pairs = torch.view_as_complex(qkv.float().unflatten(-1, (-1, 2)))  # bf16 has no complex type
        return torch.view_as_real(pairs * self.phase[:t]).flatten(-2).to(dtype)


class _CausalAttentionCPU(torch.autograd.Function):
    """Causal softmax attention of a fused (B, T, 3, H, head_dim) projection as explicit batched matmuls; returns
    (B, T, H·head_dim).

    With heads narrower than 16 floats, CPU ``scaled_dot_product_attention`` is ~1.8x slower forward and backward
    than this (head_dim 8, the 15k model of benchmarks/train_speed.py). What makes the difference:
    - every product is ordered so that the narrow head_dim is a row count (``vᵀ·pᵀ`` rather than ``p·v``), where
      the CPU's matmul runs ~4x faster, so outputs and gradients come out transposed, (B·H, head_dim, T);
    - the queries' first half sees only the keys' first half, so a quarter of the (T, T) weights, all masked,
      is never computed;
    - the softmax and its gradient overwrite their inputs (torch's private out= kernels where this torch has them,
      ``_private_softmax_works``);
    - queries, keys and values come in and their gradients go out as one tensor in the projection's layout, one
      copy each way instead of an unbind, a stack and copies per tensor."""

    @staticmethod
    def forward(ctx, qkv):
        b, t, _, h, d = qkv.shape
        q, k, v = qkv.permute(2, 0, 3, 1, 4).reshape(3, b * h, t, d)
        scale, mask = 1.0 / math.sqrt(d), _causal_mask(t, qkv.dtype)
        y_t, weights = qkv.new_empty(b * h, d, t), []
        for rows in _query_blocks(t):
            keys = slice(0, rows.stop)
            p = torch.baddbmm(mask[rows, keys], q[:, rows], k[:, keys].transpose(1, 2), alpha=scale)
            _softmax_in_place(p)
            y_t[:, :, rows] = torch.bmm(v[:, keys].transpose(1, 2), p.transpose(1, 2))
            weights.append(p)
        ctx.save_for_backward(q, k, v, *weights)
        ctx.scale = scale
        return y_t.view(b, h, d, t).permute(0, 3, 1, 2).reshape(b, t, h * d)

    @staticmethod
    def backward(ctx, grad_y):
        q, k, v, *weights = ctx.saved_tensors
        n, t, d = q.shape
        b = grad_y.shape[0]
        g = grad_y.view(b, t, n // b, d).transpose(1, 2).reshape(n, t, d)
        grads_t = q.new_empty(3, n, d, t)
        grad_q_t, grad_k_t, grad_v_t = grads_t
        # The last block of queries sees every key: it writes the key and value gradients whole, the others add.
        for i, (rows, p) in enumerate(reversed(list(zip(_query_blocks(t), weights)))):
            keys = slice(0, rows.stop)
            ds = torch.bmm(g[:, rows], v[:, keys].transpose(1, 2))
            _softmax_backward_in_place(ds, p)
            grad_q_t[:, :, rows] = torch.bmm(k[:, keys].transpose(1, 2), ds.transpose(1, 2))
            if i == 0:
                torch.bmm(q[:, rows].transpose(1, 2), ds, out=grad_k_t)
                torch.bmm(g[:, rows].transpose(1, 2), p, out=grad_v_t)
            else:
                grad_k_t[:, :, keys] += torch.bmm(q[:, rows].transpose(1, 2), ds)
                grad_v_t[:, :, keys] += torch.bmm(g[:, rows].transpose(1, 2), p)
        grads_t[:2].mul_(ctx.scale)
        return grads_t.view(3, b, n // b, d, t).permute(1, 4, 0, 2, 3).contiguous()  # (B, T, 3, H, head_dim)


def _private_softmax_in_place(p: torch.Tensor) -> None:
    torch._softmax(p, -1, False, out=p)  # the out= form that torch.softmax lacks


def _private_softmax_backward_in_place(ds: torch.Tensor, p: torch.Tensor) -> None:
    torch._softmax_backward_data(ds, p, -1, p.dtype, grad_input=ds)


def _public_softmax_in_place(p: torch.Tensor) -> None:
    p.copy_(torch.softmax(p, -1))


def _public_softmax_backward_in_place(ds: torch.Tensor, p: torch.Tensor) -> None:
    ds.sub_((ds * p).sum(-1, keepdim=True)).mul_(p)  # dL/ds = p ⊙ (g − Σ g·p)


def _private_softmax_works() -> bool:
    """Whether this torch has the private in-place softmax kernels with the signatures used above (torch 2.13, the
    version set-up pins, does); other versions get the public ops, the same values up to rounding, one extra
    (T, T) buffer per block."""
    try:
        p = torch.tensor([[0.0, 1.0, float("-inf")]])
        ds = torch.ones_like(p)
        expected = torch.softmax(p, -1)
        _private_softmax_in_place(p)
        _private_softmax_backward_in_place(ds, p)
        return bool(torch.allclose(p, expected) and torch.allclose(ds, torch.zeros_like(ds)))
    except (AttributeError, TypeError, RuntimeError):
        return False


if _private_softmax_works():
    _softmax_in_place, _softmax_backward_in_place = _private_softmax_in_place, _private_softmax_backward_in_place
else:
    _softmax_in_place, _softmax_backward_in_place = _public_softmax_in_place, _public_softmax_backward_in_place


def _query_blocks(t: int) -> list[slice]:
    """The queries in two halves (one block for a single position)."""
    return [slice(0, t // 2), slice(t // 2, t)] if t > 1 else [slice(0, t)]


_MASKS: dict[tuple[int, torch.dtype], torch.Tensor] = {}


def _causal_mask(t: int, dtype: torch.dtype) -> torch.Tensor:
    """The additive (T, T) causal mask: 0 on and below the diagonal, -inf above."""
    if (t, dtype) not in _MASKS:
        _MASKS[t, dtype] = torch.full((t, t), float("-inf"), dtype=dtype).triu(1)
    return _MASKS[t, dtype]


def causal_attention(qkv: torch.Tensor) -> torch.Tensor:
    """Causal attention of a fused (B, T, 3, H, head_dim) projection, (B, T, H·head_dim) out:
    ``scaled_dot_product_attention`` (flash on CUDA), except for narrow heads on a CPU, where explicit matmuls are
    faster (``_CausalAttentionCPU``)."""
    if qkv.device.type == "cpu" and qkv.shape[-1] < 16:
        return _CausalAttentionCPU.apply(qkv)
    b, t, _, h, d = qkv.shape
    y = F.scaled_dot_product_attention(*qkv.permute(2, 0, 3, 1, 4), is_causal=True)
    return y.transpose(1, 2).reshape(b, t, h * d)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head, self.head_dim = cfg.n_head, cfg.head_dim
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)  # one fused matmul for Q, K and V
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        rotary = cfg.positions == "rotary"
        self.rotary = Rotary(cfg.n_head, cfg.head_dim, cfg.seq_len, cfg.rope_base) if rotary else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.n_head, self.head_dim)
        if self.rotary is not None:
            qkv = self.rotary(qkv)
        return self.proj(causal_attention(qkv))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))  # exact (erf) GELU: on CPU ~2× cheaper than the tanh approximation


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(cfg.d_model), CausalSelfAttention(cfg)
        self.ln2, self.mlp = nn.LayerNorm(cfg.d_model), MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.wpe = nn.Embedding(cfg.seq_len, cfg.d_model) if cfg.positions == "learned" else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self._init_weights()

    def _init_weights(self) -> None:
        # Small-std normal init (GPT-2; Radford et al. 2019). A N(0, 1) embedding tied to the output layer gives
        # huge initial logits and, on CPU, denormal-heavy gradients that run several times slower.
        std = self.cfg.init_std
        for name, p in self.named_parameters():
            if p.dim() < 2:
                continue
            # Residual-branch outputs scaled by 1/sqrt(2·n_layer) so the residual stream's variance stays
            # independent of depth (GPT-2, Radford et al. 2019, §2.3).
            scale = 1.0 / math.sqrt(2 * self.cfg.n_layer) if name.endswith("proj.weight") else 1.0
            nn.init.normal_(p, mean=0.0, std=std * scale)

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        """The final layer-normed states (B, T, d_model) that the tied output layer turns into logits."""
        t = idx.shape[1]
        x = self.wte(idx)
        if self.wpe is not None:
            x = x + self.wpe.weight[:t]
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits (B, T, V); with ``targets``, the mean cross-entropy in nats instead."""
        logits = F.linear(self.hidden(idx), self.wte.weight)  # tied output layer
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))
