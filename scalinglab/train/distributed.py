"""One run on several processes: ``torchrun --nproc_per_node K scalinglab train CONFIG.json``.

DistributedDataParallel (gloo on CPU, nccl on CUDA) with the single-process run's global batch, learning-rate
schedule and data order: step ``s`` takes the same global batch of windows as ``scalinglab.train.trainer``, and rank
``r`` of ``K`` trains on its ``r``-th contiguous slice of ``batch_size / K`` rows (``batch_size`` must divide).
Each rank's loss is the mean over its rows and DDP averages the gradients, so the update is the global batch's
mean gradient; only the order of the fp32 sums differs from one process, hence the last bits of the loss.

Every rank starts from the same initialisation (same seed; DDP also broadcasts rank 0's weights) and evaluates the
same held-out windows on identical weights. Only rank 0 writes: the config, checkpoints, the result and the
metrics it reports; the other ranks skip checkpoints and leave their result in a scratch folder that is deleted.
A stop (signal or ``should_stop``) on any rank is agreed on by all of them at the end of the step, so they
checkpoint the same step together. Resume reads rank 0's checkpoint on every rank and needs the same world size
(the checkpoint records it), because the reduction order — and so the loss bits — depends on it.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist

from scalinglab.errors import InputError
from scalinglab.train import accel
from scalinglab.train.config import TrainConfig
from scalinglab.train.trainer import TrainResult, _check_config, _Run, _Stopper


def world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) outside torchrun."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)))


def is_distributed() -> bool:
    return world()[1] > 1


class _AgreedStop:
    """A stop seen by any rank is a stop for all: one all-reduce (max) of a flag per step."""

    def __init__(self, stopper: _Stopper, device: torch.device):
        self.stopper, self.device = stopper, device

    def __call__(self) -> bool:
        flag = torch.tensor([1.0 if self.stopper() else 0.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


class _DistributedRun(_Run):
    def __init__(self, cfg: TrainConfig, run_dir: Path, on_eval, stopper: _Stopper, rank: int, world_size: int):
        super().__init__(cfg, run_dir, on_eval if rank == 0 else None, stopper)
        if self.plan.batch_size % world_size:
            raise InputError(f"batch size {self.plan.batch_size} does not split over {world_size} processes; "
                             "use a world size that divides it")
        self.rank, self.world_size = rank, world_size
        self.stop = _AgreedStop(stopper, self.device)
        self.scratch = None if rank == 0 else tempfile.TemporaryDirectory(prefix=f"scalinglab-rank{rank}-")

    def _restore(self):
        state = super()._restore()
        saved = state.get("world_size", 1) if state["step"] else self.world_size
        if saved != self.world_size:
            raise InputError(f"{self.run_dir}: checkpointed with {saved} processes, resumed with {self.world_size}; "
                             "resume at the same world size")
        if self.scratch is not None:  # the checkpoint was read from the run folder; this rank writes elsewhere
            self.run_dir = Path(self.scratch.name)
        return state

    def _save(self, state) -> None:
        if self.rank == 0:
            super()._save({**state, "world_size": self.world_size})

    def _training_model(self) -> torch.nn.Module:
        ids = [torch.cuda.current_device()] if self.device.type == "cuda" else None
        return accel.maybe_compile(torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids), self.device)

    def _batch(self, step: int) -> torch.Tensor:
        rows = self.plan.batch_size // self.world_size
        return super()._batch(step)[self.rank * rows:(self.rank + 1) * rows]

    def _result(self, state) -> TrainResult:
        result = super()._result(state)
        # Throughput is the whole job's (global tokens over time); the peak is one process's device.
        return dataclasses.replace(result, mfu=result.mfu / self.world_size)


def train_distributed(cfg: TrainConfig, run_dir: Path | str, *, on_eval: Callable[[dict], None] | None = None,
                      should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """``trainer.train`` for one rank of a torchrun job; initialises and tears down the process group."""
    rank, world_size, local_rank = world()
    cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(local_rank)  # the trainer's "cuda" device is then this rank's GPU
    dist.init_process_group("nccl" if cuda else "gloo")
    run_dir = Path(run_dir)
    try:
        if rank == 0:
            run_dir.mkdir(parents=True, exist_ok=True)
            _check_config(cfg, run_dir)
        dist.barrier()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.set_flush_denormal(True)
        stopper = _Stopper(should_stop)
        with stopper:
            run = _DistributedRun(cfg, run_dir, on_eval, stopper, rank, world_size)
            result = run.run()
        dist.barrier()
        return result
    finally:
        dist.destroy_process_group()
