"""CLI: ``scalinglab ladder plan|run|status|export`` and the top-level ``scalinglab demo``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from scalinglab.ladder.display import duration as _duration
from scalinglab.ladder.display import show_plan

from scalinglab.errors import InputError

ladder_app = typer.Typer(
    help="Design, train and export ladders of GPT runs.\n\n"
         "Example: scalinglab ladder run ladders/iso --design isoflop --budgets 1e11:1e12:3 --points 5",
    no_args_is_help=True,
)

_DESIGN = typer.Option("isoflop", "--design", help="grid (sizes × tokens-per-param), isoflop (budgets × sizes), "
                                                   "chinchilla (sizes × multiples of 20 tokens/param) or wsd "
                                                   "(cooldown branches of one stable run per size: --budgets, or "
                                                   "--sizes with --tokens-per-param)")
_PRESET = typer.Option(None, "--preset", help="a demo ladder instead of a design: wsd, tiny, small, forecast, "
                                            "medium, large")
_SIZES = typer.Option(None, "--sizes", help="model sizes N (total params): '5e4,1e5,2e5' or log-spaced 'lo:hi:count'")
_TPP = typer.Option(None, "--tokens-per-param", help="grid design: D/N ratios (default 10,20,40); isoflop design: "
                                                  "the one ratio its sizes centre on (default 20)")
_BUDGETS = typer.Option(None, "--budgets", help="isoflop design: FLOP budgets, e.g. '1e11:1e12:3'")
_POINTS = typer.Option(5, "--points", help="isoflop design: sizes per budget")
_SPAN = typer.Option(4.0, "--span", help="isoflop design: sizes span N*/span … N*·span around N* = sqrt(C/120)")
_MULTIPLES = typer.Option("0.5,1,2", "--multiples", help="chinchilla design: multiples of 20 tokens/param")
_CORPUS = typer.Option("default", "--corpus", help="'default' or a path to text/JSONL/Parquet/HF dataset")
_TOKENIZER = typer.Option("byte", "--tokenizer", help="byte, gpt2 or bpe")
_SEQ = typer.Option(256, "--seq-len", help="context length")
_POSITIONS = typer.Option("learned", "--positions", help="learned or rotary position encoding")
_SEED = typer.Option(0, "--seed", help="seed for data order and initialisation")
_JOBS = typer.Option(2, "--jobs", help="runs trained at once (one per core is fastest for small models)")
_THREADS = typer.Option(1, "--threads", help="torch threads per run")
_JSON = typer.Option(False, "--json", help="machine-readable output")
_DECAY = typer.Option(0.2, "--decay-fraction", help="wsd design: cooldown share of each point's tokens (Hägele et "
                                                   "al. 2024: 0.2)")
_MIN_TPP = typer.Option(0.0, "--min-tpp", help="wsd design: fewest tokens per parameter a point may have")
_MAX_TPP = typer.Option(float("inf"), "--max-tpp", help="wsd design: most tokens per parameter a point may have")
_EXECUTOR = typer.Option("local", "--executor", help="local (worker processes on this machine) or ray (tasks on a "
                                                     "Ray cluster; pip install 'scalinglab\\[ray]')")
_ADDRESS = typer.Option(None, "--address", help="ray executor: 'auto' (this machine's cluster) or HOST:PORT of its "
                                                "head; default: start Ray on this machine")
_CPUS_PER_RUN = typer.Option(1, "--cpus-per-run", help="ray executor: CPUs (= torch threads) per run")
_GPUS_PER_RUN = typer.Option(0, "--gpus-per-run", help="ray executor: GPUs per run")
_PROCS_PER_RUN = typer.Option(1, "--procs-per-run", help="processes per run (DDP on one machine, same global batch as "
                                                        "one process; each takes --threads / --cpus-per-run cores)")
_LOG_TO = typer.Option("", "--log-to", help="experiment trackers, comma-separated: tensorboard, mlflow, wandb "
                                           "(offline; all written under the ladder directory; pip install "
                                           "'scalinglab\\[trackers]' or 'scalinglab\\[wandb]')")
_TASKS = typer.Option(False, "--tasks", help="evaluate the task suite (spelling, gloss_headword, fortune_ending; "
                                             "default corpus only, its items held out of training) at every "
                                             "evaluation; `ladder export` then writes history.csv")


def _design(design, preset, sizes, tpp, budgets, points, span, multiples, corpus, tokenizer, seq_len, positions,
            seed, wsd_options=None, tasks=False):
    from scalinglab.ladder import LadderSettings, chinchilla, grid, isoflop
    from scalinglab.ladder.design import parse_numbers

    if preset is not None:
        from scalinglab.demo.presets import get_preset

        p = get_preset(preset)
        given = [flag for flag, v in (("--sizes", sizes), ("--budgets", budgets), ("--multiples", multiples != _MULTIPLES.default and multiples)) if v]
        if given:
            raise InputError(f"--preset {preset} fixes the design; drop {', '.join(given)} or the preset")
        if corpus != "default":  # the preset's design on the user's corpus
            import dataclasses

            return p.specs(), dataclasses.replace(p.settings, corpus=corpus)
        return p.specs(), p.settings
    settings = LadderSettings(corpus=corpus, tokenizer=tokenizer, seq_len=seq_len, positions=positions, seed=seed,
                              tasks=tasks)
    if settings.task_note:
        print(f"note: {settings.task_note}", file=sys.stderr)
    ctx = settings.shape_context()
    if design == "wsd":
        from scalinglab.ladder.wsd import design_from_options

        return design_from_options(settings, sizes, tpp, budgets, points, span, **(wsd_options or {})), settings
    if design == "isoflop":
        if not budgets:
            raise InputError("the isoflop design needs --budgets, e.g. --budgets 1e11:1e12:3")
        center = parse_numbers(tpp or "20", "--tokens-per-param")
        if len(center) != 1:
            raise InputError("the isoflop design takes one --tokens-per-param value (the ratio its sizes centre on)")
        return isoflop(parse_numbers(budgets, "--budgets"), points=points, span=span, ctx=ctx, seed=seed,
                       center_tokens_per_param=center[0]), settings
    if design in ("grid", "chinchilla"):
        if not sizes:
            raise InputError(f"the {design} design needs --sizes, e.g. --sizes 5e4,1e5,2e5")
        n = parse_numbers(sizes, "--sizes")
        if design == "grid":
            return grid(n, parse_numbers(tpp or "10,20,40", "--tokens-per-param"), ctx, seed), settings
        return chinchilla(n, parse_numbers(multiples, "--multiples"), ctx, seed), settings
    raise InputError(f"unknown design '{design}'; choose one of: grid, isoflop, chinchilla, wsd")


@ladder_app.command("plan")
def plan_cmd(design: str = _DESIGN, preset: str = _PRESET, sizes: str = _SIZES, tokens_per_param: str = _TPP,
             budgets: str = _BUDGETS, points: int = _POINTS, span: float = _SPAN, multiples: str = _MULTIPLES,
             corpus: str = _CORPUS, tokenizer: str = _TOKENIZER, seq_len: int = _SEQ, positions: str = _POSITIONS,
             seed: int = _SEED,
             jobs: int = _JOBS, threads: int = _THREADS, as_json: bool = _JSON, decay_fraction: float = _DECAY,
             min_tpp: float = _MIN_TPP, max_tpp: float = _MAX_TPP, tasks: bool = _TASKS):
    """Show a ladder's runs, FLOPs and estimated wall time without running anything.

    Example: scalinglab ladder plan --design grid --sizes 5e4:4e5:4 --tokens-per-param 10,20,40
    """
    specs, settings = _design(design, preset, sizes, tokens_per_param, budgets, points, span, multiples, corpus,
                              tokenizer, seq_len, positions, seed,
                              dict(decay_fraction=decay_fraction, min_tpp=min_tpp, max_tpp=max_tpp), tasks)
    eval_tokens = settings.evals_per_run * settings.eval_tokens
    show_plan(specs, jobs, threads, Console(), as_json=as_json and design != "wsd", eval_tokens=eval_tokens)
    if design == "wsd":
        from scalinglab.ladder.wsd import show_saving

        show_saving(specs, jobs, threads, Console(), as_json=as_json, eval_tokens=eval_tokens)


@ladder_app.command("run")
def run_cmd(ladder_dir: Path = typer.Argument(..., help="directory holding the ladder (created if new)"),
            design: str = _DESIGN, preset: str = _PRESET, sizes: str = _SIZES, tokens_per_param: str = _TPP,
            budgets: str = _BUDGETS, points: int = _POINTS, span: float = _SPAN, multiples: str = _MULTIPLES,
            corpus: str = _CORPUS, tokenizer: str = _TOKENIZER, seq_len: int = _SEQ, positions: str = _POSITIONS,
             seed: int = _SEED,
            jobs: int = _JOBS, threads: int = _THREADS, decay_fraction: float = _DECAY, min_tpp: float = _MIN_TPP,
            max_tpp: float = _MAX_TPP,
            trainer: str = typer.Option("torch", "--trainer", help="torch (real training) or synthetic (a known "
                                                                   "law, for trying the pipeline in seconds)"),
            retry_failed: bool = typer.Option(False, "--retry-failed", help="run failed runs again"),
            quiet: bool = typer.Option(False, "--quiet", help="no live progress bars"),
            executor: str = _EXECUTOR, address: str = _ADDRESS, cpus_per_run: int = _CPUS_PER_RUN,
            gpus_per_run: int = _GPUS_PER_RUN, log_to: str = _LOG_TO, procs_per_run: int = _PROCS_PER_RUN,
            tasks: bool = _TASKS):
    """Train a ladder. Re-running skips finished runs and resumes interrupted ones; Ctrl-C stops cleanly.

    Example: scalinglab ladder run ladders/iso --design isoflop --budgets 1e11:1e12:3 ; then again with no
    design options to resume.
    """
    from scalinglab.ladder import LadderSettings, RunStore, register, run_ladder
    from scalinglab.ladder.design import RunSpec

    console = Console()
    has_design = preset is not None or sizes is not None or budgets is not None
    if has_design:  # validate the design before anything is written
        specs, settings = _design(design, preset, sizes, tokens_per_param, budgets, points, span, multiples,
                                  corpus, tokenizer, seq_len, positions, seed,
                                  dict(decay_fraction=decay_fraction, min_tpp=min_tpp, max_tpp=max_tpp), tasks)
        _check_corpus(settings, specs, trainer, console)
    trackers = tuple(t.strip() for t in log_to.split(",") if t.strip())
    from scalinglab.ladder.trackers import check_trackers

    check_trackers(trackers)
    from scalinglab.ladder.executor import check_procs_per_run

    # fails fast, writes nothing
    runner = _executor(executor, address, cpus_per_run, gpus_per_run, jobs, threads, procs_per_run)
    if has_design:
        _refuse_with(runner, check_procs_per_run, procs_per_run,
                     [(s.run_id, settings.train_config(s)) for s in specs], trainer)
    store = RunStore(ladder_dir, create=has_design)
    if has_design:
        new = register(store, specs, settings)
        console.print(f"{new} new run(s) added to {ladder_dir}")
    elif not store.runs():
        raise InputError("empty ladder: give a design (--budgets, --sizes or --preset)", source=str(ladder_dir))
    statuses = ("pending", "interrupted", "running") + (("failed",) if retry_failed else ())
    todo = [RunSpec.from_dict(r.spec) for r in store.runs(statuses)]
    _refuse_with(runner, check_procs_per_run, procs_per_run, [(r.run_id, r.config) for r in store.runs(statuses)],
                 trainer)
    if not todo:
        if _report_failures(store, console, ladder_dir):
            sys.exit(1)
        console.print(f"all {store.counts()['done']} runs are finished; nothing to do")
        return
    saved = store.get_meta("settings", {})
    if not has_design:  # resuming: the corpus may have moved or changed since the ladder was created
        _check_corpus(LadderSettings(**saved), todo, trainer, console)
    show_plan(todo, jobs, threads, console, store,
              eval_tokens=saved.get("evals_per_run", 0) * saved.get("eval_tokens", 0))
    summary = run_ladder(store, jobs=jobs, threads=threads, trainer=trainer, retry_failed=retry_failed,
                         show_progress=not quiet, console=console, executor=runner,
                         log_to=trackers)
    console.print(f"{len(summary.done)} finished, {len(summary.interrupted)} interrupted, {len(summary.failed)} "
                  f"failed in {_duration(summary.wall_seconds)}")
    if summary.stopped:
        console.print("stopped; run the same command again to resume")
        sys.exit(130)  # SystemExit: main() runs click with standalone_mode=False
    if _report_failures(store, console, ladder_dir):
        sys.exit(1)


def _executor(name: str, address, cpus_per_run: int, gpus_per_run: int, jobs: int, threads: int,
              procs_per_run: int = 1):
    """The executor behind `ladder run`; the Ray one joins its cluster now, so a bad address or an impossible
    resource request is refused before the ladder is touched."""
    from scalinglab.ladder.executor import LocalExecutor

    if name == "local":
        if address is not None or gpus_per_run:
            raise InputError("--address and --gpus-per-run need --executor ray")
        return LocalExecutor(jobs=jobs, threads=threads, procs_per_run=procs_per_run)
    if name == "ray":
        from scalinglab.ladder.ray_executor import RayExecutor

        runner = RayExecutor(address, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
                             procs_per_run=procs_per_run)
        runner.connect()
        return runner
    raise InputError(f"unknown executor '{name}'; choose one of: local, ray")


def _refuse_with(runner, check, *args) -> None:
    """``check(*args)``; on its ``InputError`` the executor lets go of what it joined (a Ray cluster) first."""
    try:
        check(*args)
    except InputError:
        getattr(runner, "close", lambda: None)()
        raise


def _check_corpus(settings, specs, trainer: str, console: Console) -> None:
    """Refuse a corpus the runs cannot use before anything is written (one line, exit 2); say how often it repeats."""
    from scalinglab.ladder.preflight import check_corpus

    check = check_corpus(settings, specs, trainer)
    if check is not None:
        console.print(check.summary(), markup=False, highlight=False)


def _report_failures(store, console: Console, ladder_dir: Path) -> int:
    """List the ladder's failed runs with their reasons (failures from earlier invocations too); returns how many."""
    failures = store.failures()
    if failures:
        console.print(f"{len(failures)} failed run(s); fix the cause, then `scalinglab ladder run {ladder_dir} "
                      "--retry-failed`:", markup=False, highlight=False)
        for run_id, reason in failures:
            console.print(f"  {run_id}: {reason}", markup=False, highlight=False)
    return len(failures)


@ladder_app.command("status")
def status_cmd(ladder_dir: Path = typer.Argument(..., help="ladder directory"), as_json: bool = _JSON):
    """Show each run's status, loss and throughput."""
    from scalinglab.ladder import RunStore

    store = RunStore(ladder_dir, create=False)
    runs = store.runs()
    if as_json:
        print(json.dumps({"counts": store.counts(), "runs": [
            {"run_id": r.run_id, "status": r.status, "attempts": r.attempts, "error": r.error, **r.metrics}
            for r in runs]}, indent=2))
        return
    table = Table(title=f"{ladder_dir}: " + ", ".join(f"{v} {k}" for k, v in store.counts().items() if v))
    for col in ("run", "status", "N", "D", "loss", "tok/s", "MFU", "time", "note"):
        table.add_column(col, justify="left" if col in ("run", "status", "note") else "right")
    for r in runs:
        m = r.metrics
        table.add_row(r.run_id, r.status, f"{r.spec['n_params']:,}", f"{r.spec['n_tokens']:,}",
                      f"{m['final_loss']:.4f}" if "final_loss" in m else "",
                      f"{m['tokens_per_s']:,.0f}" if "tokens_per_s" in m else "",
                      f"{m['mfu']:.1%}" if "mfu" in m else "",
                      _duration(m["wall_seconds"]) if "wall_seconds" in m else "", r.error or "")
    Console().print(table)


@ladder_app.command("export")
def export_cmd(ladder_dir: Path = typer.Argument(..., help="ladder directory"),
               out: Path = typer.Option(None, "--out", help="output folder (default: the ladder directory)"),
               fmt: str = typer.Option("csv", "--format", help="csv or parquet")):
    """Write the finished runs as a Runs table (runs.csv) plus their loss curves (curves.csv) for `scalinglab fit`,
    and their task evaluations (history.csv) for `scalinglab tasks fit` when the ladder ran the task suite."""
    from scalinglab.ladder import RunStore

    store = RunStore(ladder_dir, create=False)
    runs_path, curves_path = store.export(out or ladder_dir, fmt)
    history = runs_path.with_name(f"history.{fmt}")
    extra = f" and {history} (task evaluations, for `scalinglab tasks fit`)" if history.is_file() else ""
    print(f"wrote {runs_path}, {curves_path}{extra}")


_PRESET_HELP = ("wsd (default, ≈10 min: WSD cooldowns, 40 points over 2.4 decades and a held-out run), tiny (≈2 min, "
                "a smoke test), small (≈4 min, the isoFLOP ladder), forecast (≈15 min), medium (≈40 min), "
                "large (≈75 min) on 2 idle cores")


def demo_cmd(preset: str = typer.Option("wsd", "--preset", help=_PRESET_HELP),
             out: Path = typer.Option(None, "--out", help="results folder (default: results/demo-<preset>)"),
             jobs: int = _JOBS, threads: int = _THREADS,
             trainer: str = typer.Option("torch", "--trainer", help="torch, or synthetic for a seconds-long dry run"),
             quiet: bool = typer.Option(False, "--quiet", help="no live progress bars")):
    """Train a small ladder on the default corpus, fit scaling laws, backtest them, and write a results folder.

    Example: scalinglab demo --preset tiny
    """
    from scalinglab.demo.pipeline import run_demo

    code = run_demo(preset, out or Path("results") / f"demo-{preset}", jobs=jobs, threads=threads,
                    trainer=trainer, show_progress=not quiet)
    if code:
        sys.exit(code)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.add_typer(ladder_app, name="ladder")
    app.command("demo")(demo_cmd)
