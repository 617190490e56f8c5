"""Typed, validated configuration of one training run: model shape, data, and optimisation.

Every config is a frozen dataclass that validates itself on construction (``InputError`` with a one-line
message) and round-trips through ``to_dict()`` / ``from_dict()`` so a run is reproducible from its saved
config. Defaults that depend on model size (batch size, learning rate) are documented functions of N in
``scalinglab.train.hparams``; a config stores ``None`` for them and the trainer resolves them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalinglab.errors import InputError

POSITIONS = ("learned", "rotary")
TOKENIZERS = ("byte", "gpt2", "bpe")
DEVICES = ("auto", "cpu", "cuda")
SCHEDULES = ("cosine", "wsd")  # see scalinglab.train.schedule
DECAY_SHAPES = ("1-sqrt", "linear")
# Vocabulary each tokenizer needs (bpe: DataConfig.bpe_vocab_size). GPT-2's BPE has 50257 entries.
GPT2_VOCAB_SIZE = 50257


def _int(name: str, value: Any, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise InputError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(name: str, value: Any, *, lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    bad = (not math.isfinite(v) or v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi))
    if bad:
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        raise InputError(f"{name} must be in {left}{lo:g}, {hi:g}{right}, got {value!r}")
    return v


def _choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    if value not in options:
        raise InputError(f"unknown {name} {value!r}; choose one of: {', '.join(options)}")
    return value


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _from_dict(cls, data: dict[str, Any], what: str):
    if not isinstance(data, dict):
        raise InputError(f"{what} must be a mapping, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"unknown {what} field(s): {', '.join(unknown)}")
    return cls(**data)


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the GPT: pre-LayerNorm blocks, causal attention, GELU MLP, tied embeddings."""

    n_layer: int
    n_head: int
    d_model: int
    seq_len: int = 256
    vocab_size: int = 256
    positions: str = "learned"
    mlp_ratio: int = 4
    rope_base: float = 10000.0
    init_std: float = 0.02

    def __post_init__(self) -> None:
        for name in ("n_layer", "n_head", "d_model", "seq_len", "vocab_size", "mlp_ratio"):
            _set(self, name, _int(name, getattr(self, name)))
        if self.d_model % self.n_head:
            raise InputError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        head_dim = self.d_model // self.n_head
        _set(self, "positions", _choice("positions", self.positions, POSITIONS))
        if self.positions == "rotary" and head_dim % 2:
            raise InputError(f"rotary positions need an even head size, got d_model/n_head = {head_dim}")
        _set(self, "rope_base", _float("rope_base", self.rope_base, lo=1.0, hi=1e12))
        _set(self, "init_std", _float("init_std", self.init_std, lo=0.0, hi=1.0, lo_open=True))

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return _from_dict(cls, data, "model config")


@dataclass(frozen=True)
class DataConfig:
    """Where the text comes from and how it becomes tokens.

    ``corpus`` is ``"default"`` (the packaged natural-language corpus, see docs/DATA.md) or a path to a text
    file, a folder of text files, a JSONL or Parquet file (``text_field`` column), or a Hugging Face dataset
    saved with ``save_to_disk``. The last ``val_fraction`` of the (unshuffled) token stream is the fixed
    held-out split; ``seed`` drives the order of training windows. ``tasks``: build the task suite of
    ``scalinglab.train.evals`` (default corpus only), hold its items out of the training stream and evaluate it at
    every evaluation; with another corpus no tasks are evaluated (the trainer says so).
    """

    corpus: str = "default"
    tokenizer: str = "byte"
    val_fraction: float = 0.01
    seed: int = 0
    text_field: str = "text"
    bpe_vocab_size: int = 4096
    max_bytes: int | None = None
    tasks: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.tasks, bool):
            raise InputError(f"tasks must be true or false, got {self.tasks!r}")
        if not isinstance(self.corpus, (str, Path)) or not str(self.corpus):
            raise InputError(f"corpus must be 'default' or a path, got {self.corpus!r}")
        _set(self, "corpus", str(self.corpus))
        if self.corpus != "default" and not Path(self.corpus).expanduser().exists():
            raise InputError(f"data path does not exist: {self.corpus}")
        _set(self, "tokenizer", _choice("tokenizer", self.tokenizer, TOKENIZERS))
        _set(self, "val_fraction", _float("val_fraction", self.val_fraction, lo=0.0, hi=0.5, lo_open=True))
        _set(self, "seed", _int("seed", self.seed, minimum=0))
        if not isinstance(self.text_field, str) or not self.text_field:
            raise InputError(f"text_field must be a non-empty string, got {self.text_field!r}")
        _set(self, "bpe_vocab_size", _int("bpe_vocab_size", self.bpe_vocab_size, minimum=260))
        if self.max_bytes is not None:
            _set(self, "max_bytes", _int("max_bytes", self.max_bytes))

    @property
    def vocab_size(self) -> int:
        """Number of token ids this tokenizer produces; the model's vocab_size must be at least this."""
        return {"byte": 256, "gpt2": GPT2_VOCAB_SIZE, "bpe": self.bpe_vocab_size}[self.tokenizer]

    @property
    def holds_out_tasks(self) -> bool:
        """Whether the task suite is built, held out of training and evaluated (the default corpus only)."""
        return self.tasks and self.corpus == "default"

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if not self.tasks:  # added later: left out when off, so earlier saved configs read as before
            del out["tasks"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataConfig:
        return _from_dict(cls, data, "data config")


_LATER_DEFAULTS = {"schedule": "cosine", "decay_fraction": 0.2, "decay_shape": "1-sqrt", "warmup_tokens": None,
                   "snapshot_tokens": [], "init_from": None}


@dataclass(frozen=True)
class TrainConfig:
    """One training run: model, data, token budget and optimiser settings.

    ``batch_size`` is in sequences of ``model.seq_len`` tokens; ``None`` means the rule
    ``hparams.default_batch_size``. ``lr`` ``None`` means ``hparams.default_lr`` (both functions of N).
    ``micro_batch_size`` splits a step into gradient-accumulation chunks (``None``: chosen from memory).
    The schedule (``cosine``: linear warm-up, cosine decay to ``min_lr_ratio·lr``; ``wsd``: warm-up, constant, a
    cooldown over the last ``decay_fraction`` of the steps, see ``scalinglab.train.schedule``) spans exactly this
    run's ``n_tokens``. ``warmup_tokens`` fixes the warm-up's length instead of ``warmup_fraction``.

    Cooldown branches: a ``wsd`` run with ``decay_fraction`` 0 is a stable phase; it saves a stable checkpoint
    (``snapshots/tokens-<n>.pt`` in its folder) when it has trained each of ``snapshot_tokens``. A run with
    ``init_from`` (such a file; relative to the run's folder) starts from it instead of from scratch; the
    checkpoint must be this run's own state at its ``decay_start`` (the trainer checks), so the branch ends bit for
    bit where the same run trained from scratch would.
    """

    model: ModelConfig
    data: DataConfig = field(default_factory=DataConfig)
    n_tokens: int = 1_000_000
    batch_size: int | None = None
    lr: float | None = None
    warmup_fraction: float = 0.1  # measured: 2 % made the best LRs unstable (see hparams.py)
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_every_tokens: int | None = None
    eval_tokens: int = 65536
    ckpt_every_steps: int = 50
    seed: int = 0
    threads: int | None = None
    device: str = "auto"
    micro_batch_size: int | None = None
    schedule: str = "cosine"
    decay_fraction: float = 0.2  # wsd: Hägele et al. 2024 (arXiv:2405.18392), a 20 % cooldown matches cosine
    decay_shape: str = "1-sqrt"  # wsd: their best shape (§3.1); or "linear"
    warmup_tokens: int | None = None
    snapshot_tokens: tuple[int, ...] = ()
    init_from: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            _set(self, "model", ModelConfig.from_dict(self.model))
        if isinstance(self.data, dict):
            _set(self, "data", DataConfig.from_dict(self.data))
        if not isinstance(self.model, ModelConfig):
            raise InputError(f"model must be a ModelConfig, got {type(self.model).__name__}")
        if not isinstance(self.data, DataConfig):
            raise InputError(f"data must be a DataConfig, got {type(self.data).__name__}")
        if self.model.vocab_size < self.data.vocab_size:
            raise InputError(f"model vocab_size ({self.model.vocab_size}) is smaller than the "
                             f"{self.data.tokenizer} tokenizer's ({self.data.vocab_size})")
        _set(self, "n_tokens", _int("n_tokens", self.n_tokens))
        for name in ("batch_size", "micro_batch_size", "eval_every_tokens", "threads"):
            if getattr(self, name) is not None:
                _set(self, name, _int(name, getattr(self, name)))
        if self.lr is not None:
            _set(self, "lr", _float("lr", self.lr, lo=0.0, hi=10.0, lo_open=True))
        _set(self, "warmup_fraction", _float("warmup_fraction", self.warmup_fraction, lo=0.0, hi=1.0))
        _set(self, "min_lr_ratio", _float("min_lr_ratio", self.min_lr_ratio, lo=0.0, hi=1.0))
        _set(self, "weight_decay", _float("weight_decay", self.weight_decay, lo=0.0, hi=10.0))
        _set(self, "beta1", _float("beta1", self.beta1, lo=0.0, hi=1.0, hi_open=True))
        _set(self, "beta2", _float("beta2", self.beta2, lo=0.0, hi=1.0, hi_open=True))
        _set(self, "grad_clip", _float("grad_clip", self.grad_clip, lo=0.0, hi=1e6))
        _set(self, "eval_tokens", _int("eval_tokens", self.eval_tokens))
        _set(self, "ckpt_every_steps", _int("ckpt_every_steps", self.ckpt_every_steps))
        _set(self, "seed", _int("seed", self.seed, minimum=0))
        _set(self, "device", _choice("device", self.device, DEVICES))
        self._check_schedule()

    def _check_schedule(self) -> None:
        _set(self, "schedule", _choice("schedule", self.schedule, SCHEDULES))
        _set(self, "decay_fraction", _float("decay_fraction", self.decay_fraction, lo=0.0, hi=1.0))
        _set(self, "decay_shape", _choice("decay_shape", self.decay_shape, DECAY_SHAPES))
        if self.warmup_tokens is not None:
            _set(self, "warmup_tokens", _int("warmup_tokens", self.warmup_tokens, minimum=0))
        if isinstance(self.snapshot_tokens, (str, bytes)) or not hasattr(self.snapshot_tokens, "__iter__"):
            raise InputError(f"snapshot_tokens must be a list of token counts, got {self.snapshot_tokens!r}")
        points = tuple(sorted({_int("snapshot_tokens", t) for t in self.snapshot_tokens}))
        _set(self, "snapshot_tokens", points)
        if points and points[-1] > self.n_tokens:
            raise InputError(f"snapshot at {points[-1]:,} tokens is beyond the run's {self.n_tokens:,}")
        if (points or self.init_from is not None) and self.schedule != "wsd":
            raise InputError("stable checkpoints and branches need schedule 'wsd' (a cosine run has no stable phase)")
        if self.init_from is not None and (not isinstance(self.init_from, str) or not self.init_from):
            raise InputError(f"init_from must be a checkpoint path, got {self.init_from!r}")

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["model"], out["data"] = self.model.to_dict(), self.data.to_dict()
        out["snapshot_tokens"] = list(self.snapshot_tokens)
        # Fields added with WSD are left out at their defaults, so a cosine run's saved config (and the ladder
        # store's copy of it) reads exactly as before they existed, and old runs still resume.
        for name, default in _LATER_DEFAULTS.items():
            keep = self.schedule == "wsd" and name in ("schedule", "decay_fraction", "decay_shape")
            if out[name] == default and not keep:
                del out[name]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _from_dict(cls, data, "train config")

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)
