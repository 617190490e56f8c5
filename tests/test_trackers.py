"""Experiment trackers: what TensorBoard's event files, MLflow's file store and W&B's offline run files hold equals
the run store, run by run and point by point (a ladder of the synthetic trainer, seconds)."""

import json
import struct

import numpy as np
import pytest

from scalinglab.cli import main
from scalinglab.ladder import LadderSettings, RunStore, isoflop, register, run_ladder

SETTINGS = LadderSettings(seq_len=64, positions="rotary", evals_per_run=2, eval_tokens=1024)


def _ladder(path):
    store = RunStore(path)
    register(store, isoflop([2.5e10, 3.5e10], points=2, span=1.5, ctx=SETTINGS.shape_context()), SETTINGS)
    return store


def _store_curves(store):
    frame = store.curves_frame()
    return {run: dict(zip(g.n_tokens.astype(int), g.loss)) for run, g in frame.groupby("run_id")}


def test_tensorboard_scalars_equal_the_store(tmp_path):
    pytest.importorskip("tensorboard", reason="the tracker extra is not installed: pip install 'scalinglab[trackers]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with _ladder(tmp_path) as store:
        assert len(run_ladder(store, trainer="synthetic", show_progress=False, log_to=("tensorboard",)).done) == 4
        curves, runs = _store_curves(store), {r.run_id: r for r in store.runs("done")}
    assert sorted(p.name for p in (tmp_path / "tensorboard").iterdir()) == sorted(runs)
    for run_id, run in runs.items():
        events = EventAccumulator(str(tmp_path / "tensorboard" / run_id)).Reload()
        got = {e.step: e.value for e in events.Scalars("val_loss")}
        # TensorBoard keeps scalars as float32: the store's float64 losses rounded once.
        assert got == {t: float(np.float32(v)) for t, v in curves[run_id].items()}
        assert events.Scalars("final_loss")[-1].value == float(np.float32(run.metrics["final_loss"]))
        assert events.Scalars("tokens_per_s")[-1].value == float(np.float32(run.metrics["tokens_per_s"]))
        assert '"n_tokens"' in events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()


def test_mlflow_metrics_equal_the_store(tmp_path):
    pytest.importorskip("mlflow", reason="the tracker extra is not installed: pip install 'scalinglab[trackers]'")
    from mlflow.tracking import MlflowClient

    with _ladder(tmp_path) as store:
        assert len(run_ladder(store, trainer="synthetic", show_progress=False, log_to=("mlflow",)).done) == 4
        curves, runs = _store_curves(store), {r.run_id: r for r in store.runs("done")}
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(tmp_path.name)
    found = {r.data.tags["run_id"]: r for r in client.search_runs([experiment.experiment_id])}
    assert sorted(found) == sorted(runs)
    for run_id, run in runs.items():
        history = client.get_metric_history(found[run_id].info.run_id, "val_loss")
        assert {m.step: m.value for m in history} == curves[run_id]  # float64 both sides: exact
        assert found[run_id].data.metrics["final_loss"] == run.metrics["final_loss"]
        assert found[run_id].data.params["n_tokens"] == str(run.config["n_tokens"])
        assert found[run_id].info.status == "FINISHED"


def _wandb_records(path):
    """The protobuf records of a W&B offline run file (``run-<id>.wandb``): a LevelDB log (32 KiB blocks of
    records with a 7-byte header: CRC, length, type FULL/FIRST/MIDDLE/LAST) after W&B's 7-byte ``:W&B`` header."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, parts = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        parts = chunk if kind in (1, 2) else parts + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            yield record


def test_wandb_offline_scalars_equal_the_store(tmp_path):
    pytest.importorskip("wandb", reason="the W&B extra is not installed: pip install 'scalinglab[wandb]'")

    with _ladder(tmp_path) as store:
        assert len(run_ladder(store, trainer="synthetic", show_progress=False, log_to=("wandb",)).done) == 4
        curves, runs = _store_curves(store), {r.run_id: r for r in store.runs("done")}
    files = sorted((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == len(runs)  # offline runs, one per ladder run, under the ladder directory
    seen = {}
    for path in files:
        history, summary, config, name = {}, {}, {}, None
        for record in _wandb_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                name, group = record.run.display_name, record.run.run_group
                config = {u.key: json.loads(u.value_json) for u in record.run.config.update}
                assert group == tmp_path.name
            elif kind == "history":
                row = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
                history[row["n_tokens"]] = row["val_loss"]
            elif kind == "summary":
                summary.update({u.key or "/".join(u.nested_key): json.loads(u.value_json)
                                for u in record.summary.update})
        seen[name] = history
        run = runs[name]
        assert history == curves[name]  # JSON keeps every float64 bit: exact
        assert summary["final_loss"] == run.metrics["final_loss"]
        assert summary["tokens_per_s"] == run.metrics["tokens_per_s"]
        assert config["n_tokens"] == run.config["n_tokens"]
    assert sorted(seen) == sorted(runs)


def test_an_unknown_tracker_is_refused_before_anything_runs(tmp_path, capsys):
    assert main(["ladder", "run", str(tmp_path / "l"), "--preset", "test", "--trainer", "synthetic",
                 "--log-to", "neptune"]) == 2
    assert "unknown tracker 'neptune'" in capsys.readouterr().err
    assert not (tmp_path / "l").exists()


def test_the_core_imports_no_optional_extra():
    """Ray and the trackers are optional: importing the CLI and the ladder (and running locally) never loads them."""
    import subprocess
    import sys

    code = ("import sys, scalinglab.cli, scalinglab.ladder, scalinglab.train.trainer; "
            "print(sorted(m for m in ('ray', 'mlflow', 'tensorboard', 'wandb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
