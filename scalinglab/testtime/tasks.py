"""Verifiable tasks small enough for a CPU-trained GPT: addition, arithmetic expressions, sorting.

Each task deterministically maps (seed, index) to a problem — a prompt and its unique exact answer — and checks a
completion by exact match of the text before the first end-of-answer mark. Train and test are split *by problem*: a
problem belongs to the test split iff a stable hash of its prompt falls below ``test_fraction``, so no test prompt can
ever appear in training data, whatever the seeds. Everything is character level over a small fixed alphabet.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
import numpy as np

from scalinglab.errors import InputError

END = "\n"  # ends every answer; a completion is read up to its first END
VOCAB = tuple("\n 0123456789+-*()=,>abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class Problem:
    prompt: str
    answer: str

    @property
    def text(self) -> str:
        """Prompt + answer + END: one training example."""
        return self.prompt + self.answer + END


def encode(text: str) -> list[int]:
    """Characters to token ids over ``VOCAB``; unknown characters are an input error."""
    index = {ch: i for i, ch in enumerate(VOCAB)}
    try:
        return [index[ch] for ch in text]
    except KeyError as exc:
        raise InputError(f"character {exc.args[0]!r} is not in the task vocabulary") from None


def decode(ids) -> str:
    return "".join(VOCAB[int(i)] for i in ids)


def extract_answer(completion: str) -> str:
    """The answer part of a completion: everything before the first END (all of it if there is none)."""
    return completion.split(END, 1)[0].strip()


def _in_test_split(prompt: str, test_fraction: float) -> bool:
    h = int.from_bytes(hashlib.blake2b(prompt.encode(), digest_size=8).digest(), "big")
    return h / 2.0**64 < test_fraction


@dataclass(frozen=True)
class Task:
    """Base class: subclasses implement ``_make(rng)`` returning one random ``Problem``."""

    name = "task"
    test_fraction: float = 0.1

    def __post_init__(self):
        if not 0 < self.test_fraction < 1:
            raise InputError(f"test_fraction must be in (0, 1), got {self.test_fraction}")

    def _make(self, rng: np.random.Generator) -> Problem:
        raise NotImplementedError

    def verify(self, problem: Problem, completion: str) -> bool:
        """Exact match of the completion's answer (text before the first END) with the reference answer."""
        return extract_answer(completion) == problem.answer

    def problems(self, split: str, count: int, *, seed: int = 0) -> list[Problem]:
        """``count`` distinct problems of ``split`` ('train' or 'test'), the same list for the same seed."""
        if split not in ("train", "test"):
            raise InputError(f"split must be 'train' or 'test', got {split!r}")
        if count < 1:
            raise InputError(f"count must be ≥ 1, got {count}")
        want_test = split == "test"
        out, seen, misses = [], set(), 0
        rng = np.random.default_rng([seed, sum(map(ord, self.name))])
        while misses < 20_000:  # this many draws in a row without a new problem: the split is exhausted
            problem = self._make(rng)
            if problem.prompt in seen or _in_test_split(problem.prompt, self.test_fraction) != want_test:
                misses += 1
                continue
            misses = 0
            seen.add(problem.prompt)
            out.append(problem)
            if len(out) == count:
                return out
        raise InputError(f"task '{self.name}' has fewer than {count} distinct {split} problems")


@dataclass(frozen=True)
class Addition(Task):
    """'a+b=' → the decimal sum, with a and b of 1…``digits`` digits.

    ``reverse``: write the sum least-significant digit first ('57+68=' → '521'), the order in which the carries are
    computed, so a small causal model can produce each digit from the ones before it; Lee et al. 2023
    (arXiv:2307.03381, "Teaching Arithmetic to Small Transformers") find reversed outputs make addition learnable
    from far fewer examples. Held-out problems are then new operand pairs for a rule the model can learn, unlike
    held-out single-digit facts, which can only be guessed."""

    name = "addition"
    digits: int = 3
    reverse: bool = False

    def _make(self, rng):
        a, b = (int(rng.integers(0, 10 ** int(rng.integers(1, self.digits + 1)))) for _ in range(2))
        total = str(a + b)
        return Problem(f"{a}+{b}=", total[::-1] if self.reverse else total)


@dataclass(frozen=True)
class Arithmetic(Task):
    """Small integer expressions with +, −, * and parentheses, e.g. '(3+4)*2-5=' → '9'."""

    name = "arithmetic"
    n_ops: int = 2
    max_operand: int = 9

    def _expr(self, rng, n_ops: int) -> str:
        if n_ops == 0:
            return str(int(rng.integers(0, self.max_operand + 1)))
        left = int(rng.integers(0, n_ops))
        a, b = self._expr(rng, left), self._expr(rng, n_ops - 1 - left)
        op = "+-*"[int(rng.integers(0, 3))]
        a = f"({a})" if any(o in a for o in "+-") and op == "*" else a
        b = f"({b})" if any(o in b for o in "+-") and op in "-*" else b
        return a + op + b

    def _make(self, rng):
        expr = self._expr(rng, int(rng.integers(1, self.n_ops + 1)))
        return Problem(expr + "=", str(_evaluate(expr)))


@dataclass(frozen=True)
class Sorting(Task):
    """'dbca>' → 'abcd': sort 2…``max_len`` distinct lower-case letters."""

    name = "sorting"
    max_len: int = 6

    def _make(self, rng):
        size = int(rng.integers(2, self.max_len + 1))
        letters = [chr(ord("a") + int(i)) for i in rng.choice(26, size=size, replace=False)]
        return Problem("".join(letters) + ">", "".join(sorted(letters)))


def _evaluate(expr: str) -> int:
    """Integer value of an expression over digits, + - * and parentheses (recursive descent; no eval)."""
    pos = 0

    def term_list() -> int:
        nonlocal pos
        value = product()
        while pos < len(expr) and expr[pos] in "+-":
            op = expr[pos]
            pos += 1
            rhs = product()
            value = value + rhs if op == "+" else value - rhs
        return value

    def product() -> int:
        nonlocal pos
        value = atom()
        while pos < len(expr) and expr[pos] == "*":
            pos += 1
            value *= atom()
        return value

    def atom() -> int:
        nonlocal pos
        if expr[pos] == "(":
            pos += 1
            value = term_list()
            pos += 1  # ')'
            return value
        start = pos
        while pos < len(expr) and expr[pos].isdigit():
            pos += 1
        return int(expr[start:pos])

    return term_list()


TASKS = {"addition": Addition, "arithmetic": Arithmetic, "sorting": Sorting}


def get_task(name: str, **options) -> Task:
    """A task by name with its options, e.g. ``get_task('addition', digits=4)``."""
    if name not in TASKS:
        raise InputError(f"unknown task '{name}' (choose from {', '.join(TASKS)})")
    return TASKS[name](**options)
