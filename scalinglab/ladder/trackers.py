"""Experiment trackers for ladder runs: ``--log-to tensorboard|mlflow|wandb`` (each an optional extra, off by default).

The driver logs, as it records the same numbers in the store: per run its config, the held-out loss (and bpb) at
each evaluation with the step axis in tokens, and at the end its final loss, throughput and MFU. A ladder is one
experiment (MLflow), one folder of runs (TensorBoard) or one project and group (W&B). Everything is written under
the ladder directory — a TensorBoard event folder ``<ladder>/tensorboard/<run_id>``, an MLflow store in one SQLite
file ``<ladder>/mlflow.db`` (MLflow 3 refuses its plain-folder store unless told to), W&B offline runs in
``<ladder>/wandb/offline-run-*`` — so nothing needs a network: ``tensorboard --logdir <ladder>/tensorboard``,
``mlflow ui --backend-store-uri sqlite:///<ladder>/mlflow.db`` read them, and
``wandb sync <ladder>/wandb/offline-run-*`` uploads the W&B runs when a network is there. A run resumed by a later invocation goes on logging into the same run
(W&B: a new offline segment with the same run id, which ``wandb sync`` joins).
"""

from __future__ import annotations

import json
from pathlib import Path

from scalinglab.errors import InputError

TRACKERS = ("tensorboard", "mlflow", "wandb")
FINAL = ("final_loss", "final_bpb", "tokens_per_s", "mfu")


def _flat(data: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = str(value)
    return out


class TensorBoardTracker:
    def __init__(self, ladder_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise InputError("--log-to tensorboard needs TensorBoard: pip install 'scalinglab[trackers]'") from None
        self._writer_type, self.root, self.writers = SummaryWriter, Path(ladder_dir) / "tensorboard", {}

    def start_run(self, run_id: str, config: dict) -> None:
        writer = self.writers.get(run_id) or self._writer_type(log_dir=str(self.root / run_id))
        self.writers[run_id] = writer
        writer.add_text("config", "```\n" + json.dumps(config, indent=1, sort_keys=True) + "\n```")

    def log(self, run_id: str, n_tokens: float, metrics: dict) -> None:
        writer = self.writers[run_id]
        for name, value in metrics.items():
            writer.add_scalar(name, value, global_step=int(n_tokens))
        writer.flush()

    def end_run(self, run_id: str, n_tokens: float, metrics: dict) -> None:
        self.log(run_id, n_tokens, {k: metrics[k] for k in FINAL if metrics.get(k) is not None})
        self.writers.pop(run_id).close()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()


class MLflowTracker:
    def __init__(self, ladder_dir: Path):
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise InputError("--log-to mlflow needs MLflow: pip install 'scalinglab[trackers]'") from None
        self.uri = f"sqlite:///{Path(ladder_dir).resolve() / 'mlflow.db'}"
        self.client = MlflowClient(tracking_uri=self.uri)
        name = Path(ladder_dir).resolve().name
        found = self.client.get_experiment_by_name(name)
        self.experiment = found.experiment_id if found else self.client.create_experiment(name)
        self.runs: dict[str, str] = {}

    def _find(self, run_id: str) -> str | None:
        hits = self.client.search_runs([self.experiment], filter_string=f"tags.run_id = '{run_id}'", max_results=1)
        return hits[0].info.run_id if hits else None

    def start_run(self, run_id: str, config: dict) -> None:
        existing = self._find(run_id)
        if existing is None:
            existing = self.client.create_run(self.experiment, run_name=run_id, tags={"run_id": run_id}).info.run_id
            params = _flat(config)
            for keys in [list(params)[i:i + 100] for i in range(0, len(params), 100)]:
                self.client.log_batch(existing, params=[_param(k, params[k]) for k in keys])
        else:
            self.client.update_run(existing, status="RUNNING")
        self.runs[run_id] = existing

    def log(self, run_id: str, n_tokens: float, metrics: dict) -> None:
        for name, value in metrics.items():
            self.client.log_metric(self.runs[run_id], name, float(value), step=int(n_tokens))

    def end_run(self, run_id: str, n_tokens: float, metrics: dict) -> None:
        self.log(run_id, n_tokens, {k: metrics[k] for k in FINAL if metrics.get(k) is not None})
        self.client.set_terminated(self.runs.pop(run_id), "FINISHED")

    def close(self) -> None:
        for mlflow_id in self.runs.values():
            self.client.set_terminated(mlflow_id, "KILLED")
        self.runs.clear()


class WandbTracker:
    """W&B in offline mode: one run per ladder run (its id ``<ladder>-<run_id>``), the ladder's name as project and
    group, tokens as the x-axis of every scalar (``n_tokens``, W&B's ``define_metric``)."""

    def __init__(self, ladder_dir: Path):
        try:
            import wandb
        except ImportError:
            raise InputError("--log-to wandb needs W&B: pip install 'scalinglab[wandb]'") from None
        self.wandb, self.dir = wandb, Path(ladder_dir).resolve()
        self.runs: dict = {}

    def start_run(self, run_id: str, config: dict) -> None:
        settings = self.wandb.Settings(mode="offline", silent=True, console="off", x_disable_stats=True,
                                       save_code=False)
        run = self.wandb.init(project=self.dir.name, group=self.dir.name, name=run_id,
                              id=_wandb_id(f"{self.dir.name}-{run_id}"), dir=str(self.dir), config=config,
                              resume="allow", reinit="create_new", settings=settings)
        run.define_metric("n_tokens")
        run.define_metric("*", step_metric="n_tokens")
        self.runs[run_id] = run

    def log(self, run_id: str, n_tokens: float, metrics: dict) -> None:
        self.runs[run_id].log({"n_tokens": int(n_tokens), **metrics})

    def end_run(self, run_id: str, n_tokens: float, metrics: dict) -> None:
        run = self.runs.pop(run_id)
        run.summary.update({k: metrics[k] for k in FINAL if metrics.get(k) is not None})
        run.finish()

    def close(self) -> None:
        for run in self.runs.values():
            run.finish(exit_code=1)  # stopped or interrupted: W&B marks it as not finished
        self.runs.clear()


def _wandb_id(name: str) -> str:
    """A W&B run id (letters, digits, '-', '_' only; at most 128 characters) for a ladder run."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:128]


def _param(key: str, value: str):
    from mlflow.entities import Param

    return Param(key, value[:6000])


def check_trackers(names) -> None:
    for name in names or ():
        if name not in TRACKERS:
            raise InputError(f"unknown tracker '{name}'; choose from: {', '.join(TRACKERS)}")


def make_trackers(names, ladder_dir: Path) -> list:
    """Trackers by name ("tensorboard", "mlflow", "wandb"); an unknown or uninstalled one is an ``InputError``."""
    check_trackers(names)
    kinds = {"tensorboard": TensorBoardTracker, "mlflow": MLflowTracker, "wandb": WandbTracker}
    return [kinds[name](ladder_dir) for name in names or ()]
