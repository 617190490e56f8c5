"""Token data for training: the prepared (cached) token stream, its fixed held-out split, and batches.

The stream is built once per (corpus, tokenizer) and cached under ``cache_dir()`` as ``tokens.npy`` (uint8 for
bytes, uint16 for BPE) plus ``meta.json``, written to a temporary folder and renamed into place so a crash never
leaves half a cache. The held-out split is fixed by the corpus alone: the stream is cut into blocks and a
constant-seed draw of ``val_fraction`` of them is validation, whatever the run's seed. Training windows of
``seq_len + 1`` tokens are visited in a seed-determined random order, a fresh permutation per epoch; a run's data
position is just the number of windows consumed, so it resumes exactly.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalinglab.errors import InputError
from scalinglab.train import default_corpus, evals, sources, tokenization
from scalinglab.train.config import DataConfig

CACHE_VERSION = 1
SPLIT_SEED = 20220329  # constant: the held-out blocks never depend on a run's seed
BPE_TRAIN_CHARS = 20_000_000  # a trained BPE learns its merges from at most this much text


def cache_dir() -> Path:
    """``$SCALINGLAB_CACHE`` or ``~/.cache/scalinglab``."""
    return Path(os.environ.get("SCALINGLAB_CACHE") or Path.home() / ".cache" / "scalinglab").expanduser()


@dataclass(frozen=True)
class TokenData:
    """A tokenized corpus split into a training stream and a held-out stream."""

    train: np.ndarray
    val: np.ndarray
    token_bytes: np.ndarray  # bytes of text each token id stands for (for bits per byte)
    vocab_size: int
    n_tokens_total: int
    n_bytes_total: int
    folder: Path
    suite: tuple | None = None  # (TaskSuite, its token ids) when the config holds out the task suite


    def bytes_per_token(self) -> float:
        return self.n_bytes_total / max(self.n_tokens_total, 1)


def load_tokens(cfg: DataConfig) -> TokenData:
    """Prepared tokens for ``cfg`` (built and cached on first use) split into train / held-out."""
    folder = cache_dir() / f"tokens-{_cache_key(cfg)}"
    if not (folder / "meta.json").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with open(folder.with_name(f".{folder.name}.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # parallel ladder jobs: one builds, the others wait and reuse it
            if not (folder / "meta.json").is_file():
                _build(cfg, folder)
    meta = json.loads((folder / "meta.json").read_text())
    tokens = np.load(folder / "tokens.npy", mmap_mode="r")
    token_bytes = np.load(folder / "token_bytes.npy")
    train, val = split(tokens, cfg.val_fraction)
    return TokenData(train=train, val=val, token_bytes=token_bytes, vocab_size=int(meta["vocab_size"]),
                     n_tokens_total=int(meta["n_tokens"]), n_bytes_total=int(meta["n_bytes"]), folder=folder,
                     suite=evals.load_suite(folder) if cfg.holds_out_tasks else None)


def iter_corpus(cfg: DataConfig, held_out: frozenset[int] = frozenset()) -> Iterator[str]:
    """The configured corpus as documents, without those at the indices ``held_out`` (the task suite's, see
    ``evals.held_out_documents``), cut at ``max_bytes`` of UTF-8 text when set."""
    docs = default_corpus.iter_documents() if cfg.corpus == "default" else sources.iter_documents(
        cfg.corpus, cfg.text_field)
    if held_out:
        docs = (d for i, d in enumerate(docs) if i not in held_out)
    if cfg.max_bytes is None:
        yield from docs
        return
    budget = cfg.max_bytes
    for doc in docs:
        data = doc.encode("utf-8")
        if len(data) >= budget:
            if budget > 0:
                yield data[:budget].decode("utf-8", errors="ignore")
            return
        budget -= len(data) + len(tokenization.SEPARATOR)
        yield doc


def split(tokens: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Cut the stream into blocks (4096 tokens, fewer for small corpora) and hold out a fixed random share."""
    n = len(tokens)
    block = 4096 if n >= 4096 * 200 else max(16, n // 200)
    n_blocks = n // block
    if n_blocks < 2:
        raise InputError(f"corpus too small to split: {n} tokens (need at least {2 * block})")
    n_val = min(n_blocks - 1, max(1, round(val_fraction * n_blocks)))
    is_val = np.zeros(n_blocks, dtype=bool)
    is_val[np.random.default_rng(SPLIT_SEED).permutation(n_blocks)[:n_val]] = True
    blocks = np.arange(n_blocks)
    val = np.concatenate([tokens[i * block:(i + 1) * block] for i in blocks[is_val]])
    train_parts = [tokens[i * block:(i + 1) * block] for i in blocks[~is_val]]
    train_parts.append(tokens[n_blocks * block:])  # the remainder stays in training
    return np.concatenate(train_parts), val


class TrainWindows:
    """Training sequences in a seed-determined order: sequence ``i`` of the run is window ``perm_e[i mod W]`` of
    epoch ``e = i div W``, where W is the number of non-overlapping windows in the training stream."""

    def __init__(self, train: np.ndarray, seq_len: int, seed: int):
        self.train, self.seq_len, self.seed = train, seq_len, seed
        self.n_windows = (len(train) - 1) // seq_len
        if self.n_windows < 1:
            raise InputError(f"training split has {len(train)} tokens, fewer than one sequence of {seq_len + 1}")
        self._epoch, self._perm = -1, np.zeros(0, dtype=np.int64)

    def batch(self, first: int, count: int) -> np.ndarray:
        """Sequences ``first .. first+count-1`` as an int64 array of shape (count, seq_len + 1)."""
        out = np.empty((count, self.seq_len + 1), dtype=np.int64)
        for row, i in enumerate(range(first, first + count)):
            epoch, pos = divmod(i, self.n_windows)
            if epoch != self._epoch:
                self._epoch = epoch
                self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n_windows)
            start = int(self._perm[pos]) * self.seq_len
            out[row] = self.train[start:start + self.seq_len + 1]
        return out

    def epochs(self, n_sequences: int) -> float:
        return n_sequences / self.n_windows


def eval_windows(val: np.ndarray, seq_len: int, eval_tokens: int) -> np.ndarray:
    """Fixed held-out sequences spread evenly over the held-out stream: (n, seq_len + 1) int64."""
    n_fit = (len(val) - 1) // seq_len
    if n_fit < 1:
        raise InputError(f"held-out split has {len(val)} tokens, fewer than one sequence of {seq_len + 1}; "
                         f"raise val_fraction or use a larger corpus")
    n = max(1, min(eval_tokens // seq_len, n_fit))
    starts = np.linspace(0, len(val) - seq_len - 1, n).astype(np.int64)
    return np.stack([np.asarray(val[s:s + seq_len + 1], dtype=np.int64) for s in starts])


def _cache_key(cfg: DataConfig) -> str:
    source = default_corpus.fingerprint() if cfg.corpus == "default" else sources.fingerprint(cfg.corpus)
    parts = {"version": CACHE_VERSION, "source": source, "tokenizer": cfg.tokenizer, "max_bytes": cfg.max_bytes,
             "text_field": cfg.text_field if cfg.corpus != "default" else None,
             "bpe_vocab_size": cfg.bpe_vocab_size if cfg.tokenizer == "bpe" else None}
    if cfg.holds_out_tasks:  # only then, so every earlier cache keeps its key
        parts["tasks"] = [evals.SUITE_SEED, evals.SUITE_VERSION]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _make_tokenizer(cfg: DataConfig, docs: Iterable[str]):
    if cfg.tokenizer == "byte":
        return tokenization.ByteTokenizer()
    if cfg.tokenizer == "gpt2":
        return tokenization.gpt2()
    return tokenization.train_bpe(_take_chars(docs, BPE_TRAIN_CHARS), cfg.bpe_vocab_size)


def _take_chars(docs: Iterable[str], limit: int) -> Iterator[str]:
    for doc in docs:
        if limit <= 0:
            return
        limit -= len(doc)
        yield doc


def _build(cfg: DataConfig, folder: Path) -> None:
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        suite, held = None, frozenset()
        if cfg.holds_out_tasks:
            suite = evals.build_suite()
            held = frozenset(evals.held_out_documents(list(default_corpus.iter_documents()), suite))
        tokenizer = _make_tokenizer(cfg, iter_corpus(cfg, held))
        n_bytes = 0

        def counted() -> Iterator[str]:
            nonlocal n_bytes
            for doc in iter_corpus(cfg, held):
                n_bytes += len(doc.encode("utf-8")) + len(tokenization.SEPARATOR)
                yield doc

        tokens = tokenizer.encode_documents(counted())
        if len(tokens) == 0:
            raise InputError(f"corpus {cfg.corpus} holds no text")
        np.save(tmp / "tokens.npy", tokens)
        np.save(tmp / "token_bytes.npy", tokenizer.token_bytes())
        if isinstance(tokenizer, tokenization.BPETokenizer):
            tokenizer.save(tmp / "tokenizer.json")
        if suite is not None:
            evals.save_suite(suite, tmp, tokenizer)
        meta = {"version": CACHE_VERSION, "corpus": cfg.corpus, "tokenizer": cfg.tokenizer,
                "vocab_size": tokenizer.vocab_size, "n_tokens": int(len(tokens)), "n_bytes": n_bytes,
                "max_bytes": cfg.max_bytes, "bits_per_token_max": math.log2(tokenizer.vocab_size)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished the same cache first; theirs is identical
            if not (folder / "meta.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
