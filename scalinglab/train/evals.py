"""A task suite from the default corpus: multiple choice by log-likelihood, held out of the training stream.

Three tasks of four choices each (chance 0.25), spanning difficulty for models of 10⁴–10⁶ parameters:

- ``spelling``: a WordNet example sentence up to one of its words; the word against three variants with two adjacent
  interior letters swapped (not words of the corpus). Byte-level models learn spelling early.
- ``gloss_headword``: a WordNet noun gloss, then its headword against three headwords of other glosses.
- ``fortune_ending``: the first part of a fortune, then its true ending against the endings of three others.

A choice is scored by the model's log-likelihood of its bytes after the item's context, per byte (the "length
normalised" accuracy of the OLMo evaluations, Bhagia et al. 2024, arXiv:2412.04403); an item is right when the
correct choice scores highest. Per task and checkpoint: accuracy, and task loss = bits per byte of the correct
choice (the paper's step-1 quantity). Items are drawn by a seeded generator (same seed, same suite), and every
document that contains an item's sentence, gloss or fortune is removed from the training stream
(``held_out_documents``), so no item is ever trained on.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SUITE_SEED = 20241206     # constant, like the held-out split: the suite never depends on a run's seed
SUITE_FILE = "tasks.json"
N_ITEMS = {"spelling": 192, "gloss_headword": 96, "fortune_ending": 96}
N_CHOICES = 4
CHANCE = 1.0 / N_CHOICES
MAX_CONTEXT_BYTES = 48    # contexts are cut from the left to this many bytes (and to the model's context length):
#                           the suite's cost is its tokens, ~4 sequences per item (benchmarks/task_evals.py)
SUITE_VERSION = 1         # part of the token cache's key: a changed suite never reuses a stale cache
MIN_CONTEXT_CHARS = 20   # a spelling item's sentence up to its word: long enough to be found only in its sentence
NO_TASKS_NOTE = "no tasks evaluated: the task suite is built from the default corpus, and corpus {corpus} is not it"

_EXAMPLE = re.compile(r'"([A-Za-z][A-Za-z ,\'-]{28,98}[a-z.!?])"')
_WORD = re.compile(r"[a-z]{6,12}")
_PLAIN = re.compile(r"[A-Za-z][A-Za-z ,;'()-]{23,98}[a-z)]")


@dataclass(frozen=True)
class TaskItem:
    """One multiple-choice item: ``context`` then one of ``choices``; ``answer`` indexes the correct one;
    ``source`` is the corpus text it was taken from (its sentence, gloss or fortune), held out of training."""

    task: str
    context: str
    choices: tuple[str, ...]
    answer: int
    source: str


@dataclass(frozen=True)
class TaskSuite:
    items: tuple[TaskItem, ...]
    seed: int

    @property
    def tasks(self) -> list[str]:
        return list(dict.fromkeys(i.task for i in self.items))

    def n_items(self, task: str) -> int:
        return sum(i.task == task for i in self.items)

    def chance(self, task: str) -> float:
        """Accuracy of guessing: one over the number of choices."""
        return 1.0 / len(next(i.choices for i in self.items if i.task == task))

    def to_json(self) -> str:
        return json.dumps({"seed": self.seed, "items": [asdict(i) for i in self.items]})

    @classmethod
    def from_json(cls, text: str) -> "TaskSuite":
        data = json.loads(text)
        items = tuple(TaskItem(**{**i, "choices": tuple(i["choices"])}) for i in data["items"])
        return cls(items=items, seed=int(data["seed"]))


def build_suite(seed: int = SUITE_SEED) -> TaskSuite:
    """The suite from the installed default corpus (WordNet glosses and nouns, the fortunes); deterministic for a
    seed and the package versions."""
    from scalinglab.train import default_corpus as dc

    dc.source_files()   # a one-line error naming the missing packages
    wordnet = {p.name: p.read_text(encoding="utf-8", errors="replace") for p in sorted(dc.WORDNET.glob("data.*"))}
    glosses = [g for text in wordnet.values() for g in dc.wordnet_glosses(text)]
    fortunes = [f for p in dc.fortune_files() for f in dc.fortunes(p.read_text(encoding="utf-8", errors="replace"))]
    return make_suite(glosses, wordnet.get("data.noun", ""), fortunes, seed)


def make_suite(glosses: list[str], data_noun: str, fortunes: list[str], seed: int = SUITE_SEED) -> TaskSuite:
    """The suite from WordNet glosses (their quoted examples make the spelling items), WordNet's ``data.noun``
    text (glosses and headwords) and fortunes. Letter-swapped variants are never words of the glosses."""
    rng = np.random.default_rng(seed)
    vocab = set(re.findall(r"[a-z]+", "\n".join(glosses).lower()))
    spelling = _spelling(glosses, vocab, rng, N_ITEMS["spelling"])
    used = {i.source for i in spelling}
    gloss = _gloss_headword(data_noun, rng, N_ITEMS["gloss_headword"], used)
    used |= {i.source for i in gloss}
    fortune = _fortune_ending(fortunes, rng, N_ITEMS["fortune_ending"], used)
    return TaskSuite(items=tuple(spelling + gloss + fortune), seed=seed)


def _place(rng, correct: str, others: list[str]) -> tuple[tuple[str, ...], int]:
    answer = int(rng.integers(N_CHOICES))
    choices = list(others)
    choices.insert(answer, correct)
    return tuple(choices), answer


def _swaps(word: str, vocab: set[str]) -> list[str]:
    out = []
    for i in range(1, len(word) - 2):
        if word[i] != word[i + 1]:
            v = word[:i] + word[i + 1] + word[i] + word[i + 2:]
            if v not in vocab and v not in out:
                out.append(v)
    return out


def _spelling(docs, vocab, rng, n: int) -> list[TaskItem]:
    sentences = sorted({m.group(1) for d in docs if '"' in d for m in _EXAMPLE.finditer(d)})
    items, seen = [], set()
    for k in rng.permutation(len(sentences)):
        if len(items) == n:
            break
        s = sentences[int(k)]
        words = [m for m in _WORD.finditer(s) if m.start() >= MIN_CONTEXT_CHARS and (m.end() == len(s) or not s[m.end()].isalpha())
                 and (s[m.start() - 1] == " ")]
        if not words:
            continue
        m = words[int(rng.integers(len(words)))]
        variants = _swaps(m.group(0), vocab)
        if len(variants) < N_CHOICES - 1 or m.group(0) in seen:
            continue
        seen.add(m.group(0))
        picked = [variants[int(j)] for j in rng.choice(len(variants), N_CHOICES - 1, replace=False)]
        choices, answer = _place(rng, m.group(0), picked)
        items.append(TaskItem("spelling", s[:m.start()], choices, answer, s))
    return items


def _gloss_headword(data_noun: str, rng, n: int, used: set[str]) -> list[TaskItem]:
    pairs = {}
    for line in data_noun.splitlines():
        if line.startswith("  ") or "| " not in line:
            continue
        head, gloss = line.split("| ", 1)
        word = head.split()[4]
        definition = gloss.split(";")[0].strip()
        if re.fullmatch(r"[a-z]{4,12}", word) and _PLAIN.fullmatch(definition) and definition not in used:
            pairs.setdefault(word, definition)
    words = sorted(pairs)
    chosen = [words[int(k)] for k in rng.choice(len(words), n, replace=False)]
    items = []
    for w in chosen:
        pool = [x for x in chosen if x != w]
        others = [pool[int(j)] for j in rng.choice(len(pool), N_CHOICES - 1, replace=False)]
        choices, answer = _place(rng, w, others)
        items.append(TaskItem("gloss_headword", pairs[w] + ": ", choices, answer, pairs[w]))
    return items


def _fortune_ending(fortunes, rng, n: int, used: set[str]) -> list[TaskItem]:
    cands = sorted({f for f in fortunes if 60 <= len(f) <= 160 and f.count("\n") <= 2 and f.isascii()
                    and not f[0].isspace() and f not in used})
    picked = []
    for k in rng.permutation(len(cands)):
        if len(picked) == n:
            break
        f = cands[int(k)]
        cut = f.rfind(" ", 0, int(0.6 * len(f)))
        if cut < 20 or not 16 <= len(f) - cut - 1 <= 48:
            continue
        picked.append((f, f[:cut + 1], f[cut + 1:]))
    items = []
    for j, (f, head, end) in enumerate(picked):
        pool = [p[2] for i, p in enumerate(picked) if i != j and p[2] != end]
        others = [pool[int(i)] for i in rng.choice(len(pool), N_CHOICES - 1, replace=False)]
        choices, answer = _place(rng, end, others)
        items.append(TaskItem("fortune_ending", head, choices, answer, f))
    return items


def item_texts(item: TaskItem) -> tuple[str, str]:
    """What of an item training must never see: its source text, and its context with the correct choice."""
    return item.source, item.context + item.choices[item.answer]


def held_out_documents(docs, suite: TaskSuite) -> set[int]:
    """Indices of the documents that contain any item's source text (each is then left out of training)."""
    starts, parts, pos = [], [], 0
    for d in docs:
        starts.append(pos)
        parts.append(d)
        pos += len(d) + 1
    text = "\x00".join(parts)
    out: set[int] = set()
    for source in dict.fromkeys(t for i in suite.items for t in item_texts(i)):
        at = text.find(source)
        while at >= 0:
            out.add(bisect.bisect_right(starts, at) - 1)
            at = text.find(source, at + 1)
    return out


def save_suite(suite: TaskSuite, folder: Path, tokenizer) -> None:
    """The suite and its token ids (context and each choice, encoded apart) beside the token stream."""
    encoded = [{"context": tokenizer.encode(i.context), "choices": [tokenizer.encode(c) for c in i.choices]}
               for i in suite.items]
    (folder / SUITE_FILE).write_text(json.dumps({"suite": json.loads(suite.to_json()), "encoded": encoded}))


def load_suite(folder: Path) -> tuple[TaskSuite, list[dict]] | None:
    path = Path(folder) / SUITE_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return TaskSuite.from_json(json.dumps(data["suite"])), data["encoded"]


class SuiteEvaluator:
    """Scores a suite with a model (a ``train.model.GPT``): every (item, choice) is one sequence; sequences of
    similar length are padded into a few forwards, and only the choices' positions go through the output layer."""

    def __init__(self, suite: TaskSuite, encoded: list[dict], token_bytes: np.ndarray, seq_len: int,
                 chunk_rows: int = 256):
        import torch

        rows, spans, self.item_rows = [], [], []
        for item, enc in zip(suite.items, encoded):
            first = len(rows)
            for choice in enc["choices"]:
                cont = choice[:seq_len]
                ctx = enc["context"][-max(1, min(MAX_CONTEXT_BYTES, seq_len + 1 - len(cont))):]
                rows.append(ctx + cont)
                spans.append((len(ctx), len(ctx) + len(cont)))
            self.item_rows.append(range(first, len(rows)))
        order = np.argsort([len(r) for r in rows], kind="stable")   # similar lengths share a forward
        self.chunks = []
        for o in np.array_split(order, max(1, math.ceil(len(rows) / chunk_rows))):
            width = max(len(rows[k]) for k in o)
            ids = np.zeros((len(o), width), np.int64)
            where = np.zeros((len(o), width - 1), bool)
            for j, k in enumerate(o):
                a, b = spans[k]
                ids[j, :len(rows[k])] = rows[k]
                where[j, a - 1:b - 1] = True   # position t predicts token t + 1
            row_of = np.repeat(np.arange(len(o)), where.sum(1))
            self.chunks.append((torch.from_numpy(ids), torch.from_numpy(where), torch.from_numpy(row_of), o))
        self.n_rows = len(rows)
        self.n_bytes = np.array([token_bytes[np.asarray(r[a:b])].sum() for r, (a, b) in zip(rows, spans)], float)
        self.tasks = [i.task for i in suite.items]
        self.answers = np.array([i.answer for i in suite.items])
        self.chance = {task: suite.chance(task) for task in suite.tasks}

    def evaluate(self, model, device, autocast) -> dict[str, dict[str, float]]:
        """task → {"task_loss": bits per byte of the correct choice, "accuracy", "chance", "n_items"}; call under
        inference mode."""
        import torch
        import torch.nn.functional as F

        nats = np.zeros(self.n_rows)
        head = model.wte.weight
        for ids, where, row_of, rows in self.chunks:
            x = ids.to(device)
            with autocast():
                h = model.hidden(x[:, :-1])[where.to(device)]      # only the choices' positions reach the head
                logp = torch.log_softmax(F.linear(h, head).float(), dim=-1)
            got = logp.gather(1, x[:, 1:][where.to(device)][:, None])[:, 0]
            per_row = torch.zeros(len(rows), device=device).index_add_(0, row_of.to(device), got)
            nats[rows] = -per_row.cpu().numpy()
        per_byte = nats / np.maximum(self.n_bytes, 1)
        scores = np.array([per_byte[list(r)] for r in self.item_rows])    # [items, choices]
        self.last_scores = scores   # nats per byte of each choice, kept for inspection
        correct = np.argmin(scores, axis=1) == self.answers
        loss = scores[np.arange(len(scores)), self.answers] / math.log(2)
        out = {}
        tasks = np.array(self.tasks)
        for task in dict.fromkeys(self.tasks):
            sel = tasks == task
            out[task] = {"task_loss": float(loss[sel].mean()), "accuracy": float(correct[sel].mean()),
                         "chance": self.chance[task], "n_items": int(sel.sum())}
        return out
