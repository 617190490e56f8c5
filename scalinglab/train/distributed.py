"""One run on several processes: ``torchrun --nproc_per_node K scalinglab train CONFIG.json``, or a ladder's run
with ``ladder run --procs-per-run K`` (``train_local_ranks``: the calling process is rank 0 and starts the others).

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
import datetime
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist

from scalinglab.errors import InputError
from scalinglab.train import accel
from scalinglab.train.config import TrainConfig
from scalinglab.train.trainer import TrainResult, _check_config, _keep_freed_memory, _Run, _Stopper

LOOPBACK = "127.0.0.1"
RANK_EXIT_SECONDS = 60.0  # after the last collective, how long the other ranks get to exit before they are killed
# A collective (or the rendezvous) waiting longer than this fails the run instead of hanging: the longest legitimate
# wait is the other ranks' for rank 0's durable checkpoint. Gloo's own default is 30 minutes.
LOCAL_RANKS_TIMEOUT = datetime.timedelta(minutes=5)


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
    def __init__(self, cfg: TrainConfig, run_dir: Path, on_eval, stopper: _Stopper, rank: int, world_size: int,
                 min_checkpoint_seconds: float = 0.0):
        super().__init__(cfg, run_dir, on_eval if rank == 0 else None, stopper, min_checkpoint_seconds)
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
                      should_stop: Callable[[], bool] | None = None, min_checkpoint_seconds: float = 0.0,
                      rank: int | None = None, world_size: int | None = None, local_rank: int | None = None,
                      store: dist.Store | None = None) -> TrainResult:
    """``trainer.train`` for one rank of a job; initialises and tears down the process group. Rank and world size
    come from torchrun's environment unless given (then with ``store``, the job's rendezvous)."""
    env_rank, env_world, env_local = world()
    rank = env_rank if rank is None else rank
    world_size = env_world if world_size is None else world_size
    local_rank = env_local if local_rank is None else local_rank
    cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(local_rank)  # the trainer's "cuda" device is then this rank's GPU
    group = {} if store is None else {"store": store, "rank": rank, "world_size": world_size,
                                      "timeout": LOCAL_RANKS_TIMEOUT}
    dist.init_process_group("nccl" if cuda else "gloo", **group)
    run_dir = Path(run_dir)
    try:
        if rank == 0:
            run_dir.mkdir(parents=True, exist_ok=True)
            _check_config(cfg, run_dir)
        dist.barrier()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.set_flush_denormal(True)
        _keep_freed_memory()
        stopper = _Stopper(should_stop)
        with stopper:
            run = _DistributedRun(cfg, run_dir, on_eval, stopper, rank, world_size, min_checkpoint_seconds)
            result = run.run()
        dist.barrier()
        return result
    finally:
        torch.set_flush_denormal(False)  # process-wide: off again for the caller (numpy would read 1e-320 as 0)
        dist.destroy_process_group()


def train_local_ranks(cfg: TrainConfig, run_dir: Path | str, n_procs: int, *, threads: int | None = None,
                      on_eval: Callable[[dict], None] | None = None, should_stop: Callable[[], bool] | None = None,
                      min_checkpoint_seconds: float = 0.0) -> TrainResult:
    """Train ``cfg`` on ``n_procs`` processes of this machine: this process is rank 0 (it alone writes, reports
    evaluations and sees stop requests; its stop is agreed on by all ranks), ranks 1… are started here as
    ``python -m scalinglab.train.distributed RUN_DIR`` with ``threads`` torch threads each. The rendezvous is a
    TCP store on a free port of 127.0.0.1, opened by this process before the others start (no port race); gloo
    talks over loopback too. The same global batch, schedule and data order as one process (module docstring)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_config(cfg, run_dir)  # the other ranks read the config from the run folder
    rendezvous = dist.TCPStore(LOOPBACK, 0, n_procs, is_master=True, wait_for_workers=False,
                               timeout=LOCAL_RANKS_TIMEOUT)
    interface = _loopback_interface()
    if interface:  # gloo's connections between the ranks (this process's too) stay on loopback
        os.environ["GLOO_SOCKET_IFNAME"] = interface
    env = dict(os.environ, WORLD_SIZE=str(n_procs), MASTER_ADDR=LOOPBACK, MASTER_PORT=str(rendezvous.port),
               **({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)} if threads else {}))
    ranks = [subprocess.Popen([sys.executable, "-m", "scalinglab.train.distributed", str(run_dir)],
                              env=dict(env, RANK=str(r), LOCAL_RANK=str(r)), stdin=subprocess.DEVNULL)
             for r in range(1, n_procs)]
    try:
        result = train_distributed(cfg, run_dir, on_eval=on_eval, should_stop=should_stop,
                                   min_checkpoint_seconds=min_checkpoint_seconds, rank=0, world_size=n_procs,
                                   local_rank=0, store=rendezvous)
        for rank, proc in enumerate(ranks, start=1):
            code = proc.wait(timeout=RANK_EXIT_SECONDS)
            if code:
                raise RuntimeError(f"rank {rank} of {n_procs} exited with code {code}")
        return result
    finally:
        for proc in ranks:  # a rank left after a failure (its collectives fail once rank 0 is gone) is ended here
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def _loopback_interface() -> str | None:
    """The loopback interface's name for gloo (``GLOO_SOCKET_IFNAME``), unless one is set already."""
    if os.environ.get("GLOO_SOCKET_IFNAME"):
        return os.environ["GLOO_SOCKET_IFNAME"]
    return "lo" if sys.platform.startswith("linux") else "lo0" if sys.platform == "darwin" else None


def _rank_main(run_dir: str) -> int:
    """A rank started by ``train_local_ranks``: its config from the run folder, rank and rendezvous from the
    environment."""
    import json

    cfg = TrainConfig.from_dict(json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8")))
    if os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    rank, world_size, _ = world()
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world_size, is_master=False,
                          timeout=LOCAL_RANKS_TIMEOUT)
    train_distributed(cfg, run_dir, store=store)
    return 0


if __name__ == "__main__":
    sys.exit(_rank_main(sys.argv[1]))
