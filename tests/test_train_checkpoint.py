"""Checkpoint files are replaced atomically: a crash in the middle of a write leaves the previous one intact."""

import pytest
import torch

from scalinglab.train import checkpoint as ckpt


def test_crash_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    ckpt.save_checkpoint(tmp_path, {"step": 3, "w": torch.arange(4.0)})
    real_save = torch.save

    def crashing_save(obj, handle):
        real_save(obj, handle)
        handle.truncate(10)  # half-written file on disk, then the process "dies"
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError):
        ckpt.save_checkpoint(tmp_path, {"step": 6, "w": torch.zeros(4)})
    state = ckpt.load_checkpoint(tmp_path)
    assert state["step"] == 3 and torch.equal(state["w"], torch.arange(4.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == [ckpt.CHECKPOINT_FILE]  # no temporary file left


class NotAllowed:
    """An arbitrary object: unpickling it would run code, so weights_only loading must refuse it."""


def test_checkpoint_loads_with_weights_only(tmp_path):
    ckpt.save_checkpoint(tmp_path, {"obj": NotAllowed()})
    with pytest.raises(Exception, match="[Ww]eights only"):
        ckpt.load_checkpoint(tmp_path)
    assert ckpt.load_checkpoint(tmp_path / "empty") is None
