"""Tiny, deterministic text corpora and run configs for tests (ours and the ladder's): seconds, not minutes."""

from __future__ import annotations

import random
from pathlib import Path

from scalinglab.train.config import DataConfig, ModelConfig, TrainConfig

_SENTENCES = [
    "The river rose slowly through the night and by morning the lower fields were under water.",
    "She kept the letters in a tin box under the stairs, tied with a faded blue ribbon.",
    "A scaling law is a simple formula that predicts how loss falls as models and data grow.",
    "The old clock in the hall had stopped at a quarter past four, and nobody had wound it since.",
    "Bread rises because yeast turns sugar into gas, which is trapped by the stretchy dough.",
    "He walked to the station every day, even in the rain, and always bought the same newspaper.",
    "Most birds that migrate fly at night, when the air is cool and calm.",
    "The committee met on Tuesday to decide which of the two bridges should be repaired first.",
    "Light from the nearest star other than the sun takes more than four years to reach us.",
    "They planted apple trees along the fence, hoping for fruit in three or four summers.",
    "A good map leaves out almost everything, and that is exactly what makes it useful.",
    "The children counted the boats in the harbour and argued about which one was the fastest.",
    "When the snow melted, the path to the village turned into a stream of brown mud.",
    "Every dictionary is a record of how people used words at one moment in history.",
    "The baker opened his shop before dawn, and the smell of warm loaves filled the street.",
    "Without careful measurement, a forecast is only a guess dressed up in numbers.",
]


def tiny_text(n_bytes: int = 40_000, seed: int = 0) -> str:
    """About ``n_bytes`` of English prose: paragraphs of shuffled sentences (same seed, same text)."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < n_bytes:
        paragraph = " ".join(rng.sample(_SENTENCES, k=rng.randint(2, 5)))
        parts.append(paragraph)
        size += len(paragraph) + 2
    return "\n\n".join(parts)


def write_tiny_corpus(folder: Path, n_bytes: int = 40_000, seed: int = 0) -> Path:
    """Write ``tiny_text`` to ``folder/tiny.txt`` and return the file's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.txt"
    path.write_text(tiny_text(n_bytes, seed), encoding="utf-8")
    return path


def tiny_train_config(corpus: Path, **changes) -> TrainConfig:
    """A run that trains in about a second on one thread: 2 layers, width 32, context 32."""
    model = ModelConfig(n_layer=2, n_head=2, d_model=32, seq_len=32)
    data = DataConfig(corpus=str(corpus), val_fraction=0.1)
    base = dict(model=model, data=data, n_tokens=16 * 32 * 12, batch_size=16, lr=1e-2, eval_every_tokens=16 * 32 * 4,
                eval_tokens=1024, ckpt_every_steps=3, threads=1)
    base.update(changes)
    return TrainConfig(**base)
