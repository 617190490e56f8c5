"""Atomic files in a run folder: the saved config, training checkpoints and the final result.

Every write goes to a temporary file in the same folder, is flushed to disk, then renamed over the target
(``os.replace`` is atomic on POSIX), so a run killed at any instant leaves either the old file or the new one.
Checkpoints are loaded with ``torch.load(weights_only=True)``: tensors, numbers, strings, lists and dicts only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"
RESULT_FILE = "result.json"
SNAPSHOT_DIR = "snapshots"  # a WSD stable phase's checkpoints, one per branch point


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def write_json(path: Path, data: Any) -> None:
    _atomic_write(path, lambda h: h.write(json.dumps(data, indent=1, sort_keys=True).encode("utf-8")))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    _atomic_write(Path(run_dir) / CHECKPOINT_FILE, lambda h: torch.save(state, h))


def load_checkpoint(run_dir: Path, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
    """The last checkpoint of ``run_dir``, or None if it has none."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        return None
    return torch.load(path, map_location=map_location, weights_only=True)


def snapshot_path(run_dir: Path, n_tokens: int) -> Path:
    """Where a stable phase in ``run_dir`` keeps its checkpoint after ``n_tokens`` trained tokens."""
    return Path(run_dir) / SNAPSHOT_DIR / f"tokens-{int(n_tokens)}.pt"


def save_snapshot(run_dir: Path, n_tokens: int, state: dict[str, Any]) -> Path:
    path = snapshot_path(run_dir, n_tokens)
    path.parent.mkdir(exist_ok=True)
    _atomic_write(path, lambda h: torch.save(state, h))
    return path


def load_file(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    return torch.load(path, map_location=map_location, weights_only=True)
