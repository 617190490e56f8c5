"""The default corpus: real English prose from three Debian packages, cleaned to plain text.

Sources (installed by ``scripts/setup``; licences and sizes in docs/DATA.md):
- ``dict-gcide``: the Collaborative International Dictionary of English (Webster's 1913 + WordNet glosses),
  definitions and literary quotations; dictd markup removed.
- ``wordnet-base``: WordNet 3.0 glosses (definitions and example sentences).
- ``fortunes``: the fortune-cookie collection (quotations, jokes, short prose).

``iter_documents()`` yields one document per dictionary entry, gloss or fortune, in a fixed order, so the
prepared token stream is byte-identical on every machine with the same package versions.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

from scalinglab.errors import InputError

GCIDE = Path("/usr/share/dictd/gcide.dict.dz")
WORDNET = Path("/usr/share/wordnet")
FORTUNES = Path("/usr/share/games/fortunes")
APT_PACKAGES = ("dict-gcide", "wordnet-base", "fortunes")

_SOURCE_TAG = re.compile(r"(?m)^\s*\[[^\]\n]*\]\s*$")  # "[1913 Webster]", "[PJC]", "[WordNet 1.5]" lines
_PRONUNCIATION = re.compile(r"\\[^\\\n]*\\")  # \A*buse"\ : syllable-marked headword
_RESPELLING = re.compile(r"\s?\((?=[^()\n]*\[[^\]\n]{1,4}\])[^()\n]*\)")  # (h[a^]m*[i^]t"[i^]k): respelt pronunciation
_ACCENT = re.compile(r"\[[^\w\s]?([A-Za-z]{1,2})[^\w\s\]]{0,2}\]")  # Som[^a]li -> Somali (accent codes)
_NAMED_ACCENT = re.compile(r"\[([A-Za-z])(?:mac|um|uml|acute|grave|circ|cir|cedil|tilde|ring|breve|dot)\]")  # [imac]
_SPACE_BEFORE_PUNCT = re.compile(r" +([,.;:])")
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_B64_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"  # dictd index numbers
_FORTUNE_SKIP = {"ascii-art"}  # pictures, not prose


def source_files() -> list[Path]:
    """The installed files the corpus is built from (fixed order); InputError naming the packages if absent."""
    files = [GCIDE, GCIDE.with_name("gcide.index")] if GCIDE.exists() else []
    files += sorted(WORDNET.glob("data.*")) if WORDNET.is_dir() else []
    if FORTUNES.is_dir():
        files += fortune_files()
    have = {GCIDE: "dict-gcide", WORDNET: "wordnet-base", FORTUNES: "fortunes"}
    missing = [pkg for path, pkg in have.items() if not path.exists()]
    if missing:
        raise InputError(f"the default corpus needs the Debian packages {', '.join(missing)}; run scripts/setup "
                         f"or 'apt-get install {' '.join(APT_PACKAGES)}', or pass a corpus path")
    return files


def fingerprint() -> str:
    """Names, sizes and mtimes of the source files: changes when a package update changes the text."""
    return ";".join(f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in source_files())


def iter_documents() -> Iterator[str]:
    """All documents of the default corpus, cleaned, in a fixed order."""
    source_files()
    index = GCIDE.with_name("gcide.index").read_text(encoding="utf-8", errors="replace")
    yield from (doc for doc in gcide_entries(gzip.open(GCIDE).read(), index) if doc)
    for path in sorted(WORDNET.glob("data.*")):
        yield from wordnet_glosses(path.read_text(encoding="utf-8", errors="replace"))
    for path in fortune_files():
        yield from fortunes(path.read_text(encoding="utf-8", errors="replace"))


def gcide_entries(data: bytes, index: str) -> Iterator[str]:
    """Cut the dictd data into entries using its index (headword, base64 offset, base64 length), skipping the
    ``00-database-*`` header entries; entries shared by several headwords are yielded once, in file order."""
    spans: dict[int, int] = {}
    skip: set[int] = set()
    for line in index.splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        start, length = _b64(parts[1]), _b64(parts[2])
        spans[start] = length
        if parts[0].startswith("00-"):
            skip.add(start)
    for start in sorted(spans):
        if start not in skip:
            yield clean_gcide_entry(data[start:start + spans[start]].decode("utf-8", errors="replace"))


def clean_gcide_entry(raw: str) -> str:
    """Strip dictd markup from one entry; its paragraphs become single lines."""
    text = _SOURCE_TAG.sub("", raw)
    text = _PRONUNCIATION.sub("", text)
    text = _RESPELLING.sub("", text)
    text = _ACCENT.sub(r"\1", text)
    text = _NAMED_ACCENT.sub(r"\1", text)
    text = text.replace("{", "").replace("}", "")
    lines = (_SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(block.split())) for block in _PARAGRAPH.split(text))
    return "\n".join(line for line in lines if line)


def _b64(word: str) -> int:
    value = 0
    for ch in word:
        value = value * 64 + _B64_DIGITS.index(ch)
    return value


def wordnet_glosses(raw: str) -> Iterator[str]:
    """The gloss of each synset line (after ``| ``); licence header lines start with two spaces."""
    for line in raw.splitlines():
        if line.startswith("  ") or "| " not in line:
            continue
        gloss = line.split("| ", 1)[1].strip()
        if gloss:
            yield gloss


def fortunes(raw: str) -> Iterator[str]:
    """Fortunes are separated by lines holding a single ``%``."""
    for chunk in re.split(r"(?m)^%\s*$", raw):
        chunk = chunk.strip("\n")
        if chunk.strip():
            yield chunk


def fortune_files() -> list[Path]:
    """The fortune files the corpus reads, in its order."""
    return sorted(p for p in FORTUNES.iterdir() if _is_fortune_file(p))


def _is_fortune_file(path: Path) -> bool:
    return (path.is_file() and not path.is_symlink() and path.suffix not in (".dat", ".u8")
            and path.name not in _FORTUNE_SKIP)
