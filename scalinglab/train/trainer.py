"""The training loop: AdamW with warm-up and cosine or WSD decay over the run's own budget, held-out evaluation,
exact resumption from checkpoints, WSD cooldown branches from stable checkpoints, and throughput / MFU measurement.

``train(cfg, run_dir)`` is idempotent: a finished run returns its saved result; an interrupted one continues
from its last checkpoint and ends with bit-identical losses, because the checkpoint holds the model, the
optimiser state, the step (which fixes the data position and the learning rate) and the RNG state, and every
other quantity is a pure function of the config. Same config, same seed, same thread count → same loss bits
(a different thread count changes the summation order inside matmuls, hence the last bits: set ``threads``).
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from scalinglab.errors import InputError
from scalinglab.train import accel
from scalinglab.train import checkpoint as ckpt
from scalinglab.train.accounting import count_params, flops_per_token
from scalinglab.train.config import TrainConfig
from scalinglab.train.data import TrainWindows, eval_windows, load_tokens
from scalinglab.train.evals import NO_TASKS_NOTE, SuiteEvaluator
from scalinglab.train.model import GPT
from scalinglab.train.peak import device_peak_flops, measure_matmul_peak
from scalinglab.train.schedule import RunPlan, plan_run

__all__ = ["TrainResult", "measure_matmul_peak", "plan_run", "train"]
CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class TrainResult:
    """Outcome of ``train``; ``completed`` is False when the run stopped early (signal or ``should_stop``)."""

    n_params: int
    n_params_non_embedding: int
    n_tokens: int  # tokens trained so far (the planned total when completed)
    flops_6n: float  # 6·N_non-embedding·n_tokens
    flops_full: float  # every matmul, forward + backward, for n_tokens
    final_val_loss: float  # nats per token, last evaluation (nan before the first)
    final_val_bpb: float  # bits per byte of text, comparable across tokenizers
    tokens_per_s: float  # training throughput, evaluation excluded
    mfu: float  # full FLOPs per second / peak (a GPU's from the catalog, else measured: scalinglab.train.peak)
    curve: list[tuple[int, float]]  # (n_tokens, val_loss) at each evaluation
    completed: bool
    step: int = 0
    n_steps: int = 0
    batch_size: int = 0
    lr: float = 0.0
    train_loss: float = float("nan")
    elapsed_s: float = 0.0
    peak_flops: float = 0.0
    epochs: float = 0.0  # passes over the training split
    device: str = "cpu"
    threads: int = 1

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["curve"] = [list(point) for point in self.curve]
        return out


def train(cfg: TrainConfig, run_dir: Path | str, *, on_eval: Callable[[dict], None] | None = None,
          should_stop: Callable[[], bool] | None = None, min_checkpoint_seconds: float = 0.0) -> TrainResult:
    """Train (or resume, or just report) the run described by ``cfg`` in ``run_dir``.

    ``min_checkpoint_seconds`` skips a periodic checkpoint (every ``cfg.ckpt_every_steps``) until that much time
    has passed since the last one: a durable checkpoint (write, fsync, rename) costs 70-200 ms here, several
    percent of a tiny model's training at one per 50 steps. Stops (signal, ``should_stop``) always checkpoint, and
    no loss bit depends on where checkpoints fall; a SIGKILL loses at most the steps since the last one."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_config(cfg, run_dir)
    previous_threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.set_flush_denormal(True)  # denormal floats are ~8x slower on CPU and add nothing to a small model
    _keep_freed_memory()
    stopper = _Stopper(should_stop)
    try:
        with stopper:
            return _Run(cfg, run_dir, on_eval, stopper, min_checkpoint_seconds).run()
    finally:
        torch.set_num_threads(previous_threads)
        # Flushing denormals is process-wide (it also makes numpy treat 1e-320 as 0): off again for the caller
        torch.set_flush_denormal(False)


def _keep_freed_memory() -> None:
    """Stop glibc from returning freed activation buffers to the OS after every step.

    Its default serves allocations over 128 KiB-32 MiB with fresh ``mmap`` pages and trims the heap on free, so
    every step page-faults its activations in again: at 100k parameters ~1,250 minor faults per step and ~20 % of
    the step's CPU time (benchmarks/train_speed.py). Memory stays with the process, which is what a trainer wants.
    A no-op off glibc; changes no arithmetic."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameter numbers (malloc.h)
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)


class _Stopper:
    """Turns SIGTERM / SIGINT into a flag checked between steps (main thread only; elsewhere the caller's
    ``should_stop`` is the way to stop)."""

    def __init__(self, should_stop: Callable[[], bool] | None):
        self.should_stop, self.signalled, self._old = should_stop, False, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame):
        self.signalled = True

    def __call__(self) -> bool:
        return self.signalled or bool(self.should_stop and self.should_stop())


class _Run:
    def __init__(self, cfg: TrainConfig, run_dir: Path, on_eval, stopper: _Stopper,
                 min_checkpoint_seconds: float = 0.0):
        self.cfg, self.run_dir, self.on_eval, self.stop = cfg, run_dir, on_eval, stopper
        self.min_checkpoint_seconds, self.last_checkpoint = float(min_checkpoint_seconds), time.perf_counter()
        self.plan: RunPlan = plan_run(cfg)
        self.device = _device(cfg.device)
        self.threads = torch.get_num_threads()
        self.n_params, self.n_non_emb = count_params(cfg.model)
        self.flops_6n_tok, self.flops_full_tok = flops_per_token(cfg.model)

    def run(self) -> TrainResult:
        cfg, plan = self.cfg, self.plan
        data = load_tokens(cfg.data)
        if data.vocab_size > cfg.model.vocab_size:
            raise InputError(f"tokenizer has {data.vocab_size} ids but model vocab_size is {cfg.model.vocab_size}")
        self.data, self.windows = data, TrainWindows(data.train, cfg.model.seq_len, cfg.data.seed)
        self.eval_batch = torch.from_numpy(eval_windows(data.val, cfg.model.seq_len, cfg.eval_tokens))
        self.suite = None
        if data.suite is not None:
            self.suite = SuiteEvaluator(*data.suite, data.token_bytes, cfg.model.seq_len)
        elif cfg.data.tasks:
            print(NO_TASKS_NOTE.format(corpus=cfg.data.corpus), file=sys.stderr)
        torch.manual_seed(cfg.seed)
        self.model = GPT(cfg.model).to(self.device)
        self.opt = self._optimizer()
        state = self._restore()
        if state["completed"]:
            return self._result(state)
        self._train_from(state)
        return self._result(state)

    def _optimizer(self) -> torch.optim.Optimizer:
        # Weight decay on matrices only (embeddings and linear weights), not on LayerNorm gains and biases.
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": self.cfg.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=self.plan.lr, betas=(self.cfg.beta1, self.cfg.beta2),
                                 **accel.optimizer_options(self.device))

    def _restore(self) -> dict[str, Any]:
        state = ckpt.load_checkpoint(self.run_dir, map_location=self.device)
        if state is None and self.cfg.init_from is not None:
            return self._restore_branch_point()
        if state is None:
            return {"step": 0, "curve": [], "evals": [], "train_loss_sum": 0.0, "train_loss_count": 0,
                    "train_time_s": 0.0, "elapsed_s": 0.0, "last_train_loss": float("nan"), "completed": False}
        return self._load_state(state, self.run_dir / ckpt.CHECKPOINT_FILE)

    def _load_state(self, state: dict[str, Any], path: Path) -> dict[str, Any]:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise InputError(f"{path}: unknown checkpoint format")
        if state.get("threads", self.threads) != self.threads:
            warnings.warn(f"{self.run_dir}: resuming with {self.threads} threads, checkpointed with "
                          f"{state['threads']}; losses may differ from an uninterrupted run in the last bits")
        self.model.load_state_dict(state.pop("model"))
        self.opt.load_state_dict(state.pop("optimizer"))
        torch.set_rng_state(state.pop("torch_rng").cpu())
        return state

    def _restore_branch_point(self) -> dict[str, Any]:
        """A cooldown branch's first start: the stable checkpoint it names, which must be this run's own state at
        its ``decay_start`` (same model, data, batch, rates up to there), so the branch ends where this config
        trained from scratch would, bit for bit."""
        path = Path(self.cfg.init_from)
        path = path if path.is_absolute() else self.run_dir / path
        if not path.is_file():
            raise InputError(f"{path}: stable checkpoint not found (has the stable phase run?)")
        state = ckpt.load_file(path, map_location=self.device)
        parent = TrainConfig.from_dict(state.pop("config"))
        why = _branch_mismatch(parent, self.cfg, state["step"])
        if why:
            raise InputError(f"{path}: cannot branch this run from it: {why}")
        state = self._load_state(state, path)
        state.update(train_loss_sum=0.0, train_loss_count=0, train_time_s=0.0, elapsed_s=0.0,
                     start_step=state["step"], completed=False)
        state["curve"] = [p for p in state["curve"] if p[0] <= state["step"] * self.plan.tokens_per_step]
        state["evals"] = [r for r in state["evals"] if r["step"] <= state["step"]]
        return state

    def _save(self, state: dict[str, Any]) -> None:
        ckpt.save_checkpoint(self.run_dir, self._state_to_save(state))

    def _state_to_save(self, state: dict[str, Any]) -> dict[str, Any]:
        return {**state, "format": CHECKPOINT_FORMAT, "threads": self.threads, "config": self.cfg.to_dict(),
                "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "torch_rng": torch.get_rng_state()}

    def _train_from(self, state: dict[str, Any]) -> None:
        cfg, plan, model = self.cfg, self.plan, self._training_model()
        wall_start = time.perf_counter() - state["elapsed_s"]
        while state["step"] < plan.n_steps:
            step = state["step"]
            lr = plan.lr_at(step)
            for group in self.opt.param_groups:
                group["lr"] = lr
            t0 = time.perf_counter()
            batch = self._batch(step).to(self.device)
            model.train()
            loss_sum = 0.0
            for chunk in batch.split(plan.micro_batch_size):
                with self._autocast():
                    loss = model(chunk[:, :-1], chunk[:, 1:])
                (loss * (chunk.shape[0] / batch.shape[0])).backward()
                loss_sum += loss.item() * chunk.shape[0]
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip, foreach=True)
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            state["train_time_s"] += time.perf_counter() - t0
            state["train_loss_sum"] += loss_sum / batch.shape[0]
            state["train_loss_count"] += 1
            state["step"] = step = step + 1
            if not math.isfinite(loss_sum):
                raise FloatingPointError(f"training loss is {loss_sum} at step {step}; lower the learning rate")
            if step % plan.eval_every_steps == 0 or step == plan.n_steps:
                self._evaluate(state, time.perf_counter() - wall_start)
            state["elapsed_s"] = time.perf_counter() - wall_start
            if step * plan.tokens_per_step in cfg.snapshot_tokens:
                ckpt.save_snapshot(self.run_dir, step * plan.tokens_per_step, self._state_to_save(state))
            if step == plan.n_steps:
                state["completed"] = True
                self._save(state)
                ckpt.write_json(self.run_dir / ckpt.RESULT_FILE, self._result(state).to_dict())
            else:
                stopping = self.stop()
                due = (step % cfg.ckpt_every_steps == 0
                       and time.perf_counter() - self.last_checkpoint >= self.min_checkpoint_seconds)
                if stopping or due:
                    self._save(state)
                    self.last_checkpoint = time.perf_counter()
                if stopping:
                    return

    # Hooks that scalinglab.train.distributed overrides: the module that trains (a DDP wrapper there) and this
    # process's rows of the step's global batch.
    def _training_model(self) -> torch.nn.Module:
        return accel.maybe_compile(self.model, self.device)

    def _batch(self, step: int) -> torch.Tensor:
        return torch.from_numpy(self.windows.batch(step * self.plan.batch_size, self.plan.batch_size))

    def _autocast(self):
        """bf16 autocast on CUDA (matmuls in bf16, reductions and the loss in fp32); plain fp32 on CPU."""
        return accel.precision(self.device)

    @torch.inference_mode()
    def _evaluate(self, state: dict[str, Any], elapsed_s: float) -> None:
        model, plan = self.model, self.plan
        model.eval()
        nats, n_bytes = 0.0, 0
        token_bytes = torch.from_numpy(self.data.token_bytes)
        for chunk in self.eval_batch.split(plan.eval_chunk_size):
            chunk = chunk.to(self.device)
            with self._autocast():
                logits = model(chunk[:, :-1]).float()
            nats += F.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten(), reduction="sum").item()
            n_bytes += int(token_bytes[chunk[:, 1:].cpu()].sum())
        n_targets = self.eval_batch.shape[0] * (self.eval_batch.shape[1] - 1)
        val_loss = nats / n_targets
        val_bpb = nats / (math.log(2) * n_bytes)
        train_loss = state["train_loss_sum"] / max(state["train_loss_count"], 1)
        state["train_loss_sum"], state["train_loss_count"] = 0.0, 0
        state["last_train_loss"] = train_loss
        n_tokens = state["step"] * plan.tokens_per_step
        trained = (state["step"] - state.get("start_step", 0)) * plan.tokens_per_step  # a branch: its cooldown
        record = {"step": state["step"], "n_tokens": n_tokens, "train_loss": train_loss, "val_loss": val_loss,
                  "val_bpb": val_bpb, "tokens_per_s": trained / max(state["train_time_s"], 1e-9),
                  "elapsed_s": elapsed_s}
        if self.suite is not None:  # task → {"task_loss", "accuracy"} (scalinglab.train.evals)
            record["tasks"] = self.suite.evaluate(model, self.device, self._autocast)
        state["curve"].append([n_tokens, val_loss])
        state["evals"].append(record)
        if self.on_eval is not None:
            self.on_eval(dict(record))

    def _result(self, state: dict[str, Any]) -> TrainResult:
        plan = self.plan
        n_tokens = state["step"] * plan.tokens_per_step
        trained = (state["step"] - state.get("start_step", 0)) * plan.tokens_per_step  # a branch: its cooldown
        tokens_per_s = trained / state["train_time_s"] if state["train_time_s"] > 0 else 0.0
        peak = device_peak_flops(self.device, self.threads) if tokens_per_s else 0.0
        last = state["evals"][-1] if state["evals"] else {}
        return TrainResult(
            n_params=self.n_params, n_params_non_embedding=self.n_non_emb, n_tokens=n_tokens,
            flops_6n=self.flops_6n_tok * n_tokens, flops_full=self.flops_full_tok * n_tokens,
            final_val_loss=last.get("val_loss", float("nan")), final_val_bpb=last.get("val_bpb", float("nan")),
            tokens_per_s=tokens_per_s, mfu=self.flops_full_tok * tokens_per_s / peak if peak else 0.0,
            curve=[(int(t), float(v)) for t, v in state["curve"]], completed=bool(state["completed"]),
            step=state["step"], n_steps=plan.n_steps, batch_size=plan.batch_size, lr=plan.lr,
            train_loss=state["last_train_loss"], elapsed_s=state["elapsed_s"], peak_flops=peak,
            epochs=self.windows.epochs(state["step"] * plan.batch_size), device=str(self.device),
            threads=self.threads)


# Fields that may differ between a stable phase and a branch taken from it: none changes a step before the branch.
_BRANCH_FREE = ("n_tokens", "decay_fraction", "decay_shape", "min_lr_ratio", "snapshot_tokens", "init_from",
                "eval_every_tokens", "eval_tokens", "ckpt_every_steps", "threads", "device")


def _branch_mismatch(parent: TrainConfig, branch: TrainConfig, step: int) -> str:
    """Why ``branch`` cannot start from ``parent``'s state after ``step`` steps ('' when it can)."""
    a, b = parent.to_dict(), branch.to_dict()
    differ = sorted(k for k in set(a) | set(b) if k not in _BRANCH_FREE and a.get(k) != b.get(k))
    if differ:
        return f"its stable phase differs in {', '.join(differ)}"
    pp, bp = plan_run(parent), plan_run(branch)
    for name in ("batch_size", "micro_batch_size", "lr", "warmup_steps", "tokens_per_step"):
        if getattr(pp, name) != getattr(bp, name):
            return f"{name} differs ({getattr(pp, name)} vs {getattr(bp, name)})"
    if step != bp.decay_start:
        return f"it holds step {step}, the branch's cooldown starts after step {bp.decay_start}"
    if step > pp.decay_start:
        return f"step {step} is past the stable phase's own cooldown (from step {pp.decay_start})"
    return ""


def _check_config(cfg: TrainConfig, run_dir: Path) -> None:
    """A run folder belongs to one config: refuse to resume a different one."""
    path = run_dir / ckpt.CONFIG_FILE
    if path.is_file():
        saved = ckpt.read_json(path)
        if saved != _jsonable(cfg.to_dict()):
            raise InputError(f"{run_dir} holds a run with a different config; use a new run folder")
    else:
        ckpt.write_json(path, cfg.to_dict())


def _jsonable(data: dict[str, Any]) -> Any:
    return json.loads(json.dumps(data))


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' requested but no CUDA device is available")
    return torch.device(name)

