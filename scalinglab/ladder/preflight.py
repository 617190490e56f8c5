"""Checks a ladder's corpus before anything is written to its store: readable, and large enough for its runs.

Why here and not in the workers: a corpus the trainer cannot read used to be found by every worker in turn, after
the runs were registered and started, and the command ended in N failed runs instead of one line. The check builds
the token stream with the trainer's own reader and cache (``scalinglab.train.data.load_tokens``), so the workers
reuse the cache it leaves and the corpus is tokenised once, here.
"""

from __future__ import annotations

from dataclasses import dataclass

from scalinglab.errors import InputError
from scalinglab.ladder.design import RunSpec
from scalinglab.ladder.plan import LadderSettings

# Trainers that never read the corpus (their losses come from a known law): nothing to check for them.
TRAINERS_WITHOUT_DATA = ("synthetic",)


@dataclass(frozen=True)
class CorpusCheck:
    corpus: str
    n_train_tokens: int  # tokens a run can draw without repeating (whole training windows)
    longest_run_tokens: int
    longest_run_id: str

    @property
    def epochs(self) -> float:
        """Passes over the training split that the longest run makes."""
        return self.longest_run_tokens / self.n_train_tokens

    def summary(self) -> str:
        line = (f"corpus {self.corpus}: {self.n_train_tokens:,} training tokens; the longest run "
                f"({self.longest_run_id}) reads {self.longest_run_tokens:,}")
        if self.epochs > 1.0:
            return line + f", {self.epochs:.1f} epochs: it sees its data repeated"
        return line + f" ({self.epochs:.2g} of an epoch, no repeats)"


def check_corpus(settings: LadderSettings, specs: list[RunSpec], trainer: str = "torch") -> CorpusCheck | None:
    """Read (and cache) the corpus as the trainer will; ``InputError`` naming the corpus when it cannot serve a run.

    Returns how many tokens the runs have and how many epochs the longest run makes; None for a trainer that reads
    no data.
    """
    from scalinglab.train.data import TrainWindows, eval_windows, load_tokens

    if trainer in TRAINERS_WITHOUT_DATA or not specs:
        return None
    try:
        data = load_tokens(settings.data_config())
        windows = TrainWindows(data.train, settings.seq_len, settings.seed)
        eval_windows(data.val, settings.seq_len, settings.eval_tokens)
    except InputError as exc:
        if exc.source is not None or settings.corpus in str(exc):
            raise
        raise InputError(str(exc), source=f"corpus {settings.corpus}") from None
    except (OSError, ValueError) as exc:  # unreadable file, a Parquet file pyarrow cannot parse, …
        raise InputError(f"cannot read the corpus ({type(exc).__name__}: {exc})",
                         source=f"corpus {settings.corpus}") from None
    longest = max(specs, key=lambda s: s.n_tokens)
    return CorpusCheck(corpus=settings.corpus, n_train_tokens=windows.n_windows * settings.seq_len,
                       longest_run_tokens=int(longest.n_tokens), longest_run_id=longest.run_id)
