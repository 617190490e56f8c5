"""The executor's live display: one bar for the whole ladder (in FLOPs, so its ETA weighs big runs correctly) and
one bar per running job (in tokens), plus a line per finished run."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
)


class LadderProgress:
    """Rich progress for a ladder; ``enabled=False`` keeps only the per-run summary lines."""

    def __init__(self, total_flops: float, done_flops: float, n_runs: int, *, console: Console | None = None,
                 enabled: bool = True):
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self._tasks: dict[str, tuple[int, float]] = {}
        self._progress = Progress(
            TextColumn("{task.description}", justify="left"), BarColumn(bar_width=28), TaskProgressColumn(),
            TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=self.console, transient=False, disable=not enabled, refresh_per_second=4,
        )
        self._overall = self._progress.add_task(f"ladder ({n_runs} runs)", total=max(total_flops, 1.0),
                                                completed=done_flops, detail="")
        self._done_runs = 0
        self._n_runs = n_runs

    def __enter__(self) -> "LadderProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def start_run(self, run_id: str, n_tokens: float, flops_per_token: float, done_tokens: float = 0.0) -> None:
        task = self._progress.add_task(f"  {run_id}", total=max(n_tokens, 1.0), completed=done_tokens,
                                       detail=f"{n_tokens / 1e6:.2f}M tok")
        self._tasks[run_id] = (task, flops_per_token, done_tokens)

    def advance_run(self, run_id: str, tokens: float, loss: float | None) -> None:
        if run_id not in self._tasks:
            return
        task, fpt, before = self._tasks[run_id]
        if tokens <= before:
            return
        self._tasks[run_id] = (task, fpt, tokens)
        detail = f"loss {loss:.3f}" if loss is not None else ""
        self._progress.update(task, completed=tokens, detail=detail)
        self._progress.advance(self._overall, (tokens - before) * fpt)

    def end_run(self, run_id: str, status: str, n_tokens: float, message: str) -> None:
        if run_id in self._tasks:
            task, fpt, before = self._tasks.pop(run_id)
            if status == "done" and n_tokens > before:
                self._progress.advance(self._overall, (n_tokens - before) * fpt)
            self._progress.remove_task(task)
        if status == "done":
            self._done_runs += 1
        self._progress.update(self._overall, detail=f"{self._done_runs} done")
        style = {"done": "green", "interrupted": "yellow", "failed": "red"}.get(status, "")
        self._progress.console.print(f"[{style}]{status:>11}[/] {run_id}  {message}", highlight=False)
