"""CLI: ``scalinglab train CONFIG.json``: one run from its saved config, on one process or under torchrun."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from scalinglab.errors import InputError


def train_cmd(config: Path = typer.Argument(..., help="a run's config.json (the ladder stores one in each run "
                                                     "folder: <ladder>/runs/<run>/config.json)"),
              out: Path = typer.Option(None, "--out", help="run folder for checkpoints and result (default: the "
                                                           "config's folder)"),
              as_json: bool = typer.Option(False, "--json", help="print the result as JSON")):
    """Train (or resume) one run. Under `torchrun --nproc_per_node K` it trains on K processes with DDP.

    Example: torchrun --nproc_per_node 8 --no-python scalinglab train ladders/iso/runs/RUN/config.json
    """
    from scalinglab.train.config import TrainConfig

    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such config file", source=str(config)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not a JSON config ({exc})", source=str(config)) from None
    try:
        cfg = TrainConfig.from_dict(data)
    except TypeError as exc:  # a required field is missing
        raise InputError(f"incomplete config ({exc})", source=str(config)) from None
    run_dir = out or config.parent
    from scalinglab.train.distributed import is_distributed, train_distributed, world

    if is_distributed():
        result = train_distributed(cfg, run_dir)
    else:
        from scalinglab.train.trainer import train

        result = train(cfg, run_dir)
    if world()[0] != 0:
        return
    if as_json:
        print(json.dumps(result.to_dict()))
    else:
        print(f"{'finished' if result.completed else 'stopped'} at step {result.step}/{result.n_steps}: "
              f"val loss {result.final_val_loss:.6f}, {result.tokens_per_s:,.0f} tok/s, MFU {result.mfu:.1%} "
              f"({run_dir})")
    if not result.completed:
        sys.exit(130)


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
