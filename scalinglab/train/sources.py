"""Reading users' text: plain files, folders, JSONL, Parquet and Hugging Face ``save_to_disk`` folders.

``iter_documents(path, text_field)`` yields documents (strings) in a fixed order (files sorted by path), so the
token stream built from them is reproducible. Bad input raises ``InputError`` naming the file, row and column.
A ``save_to_disk`` folder is read from its Arrow files with pyarrow, so the ``datasets`` package is not needed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from scalinglab.errors import InputError

JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")
_SNIFF_BYTES = 8192


def iter_documents(path: str | Path, text_field: str = "text") -> Iterator[str]:
    """Documents from a file or folder; see the module docstring for the formats."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"data path does not exist: {path}")
    if path.is_dir():
        if is_hf_saved_dataset(path):
            yield from hf_saved_documents(path, text_field)
            return
        files = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path)))
        if not files:
            raise InputError(f"data folder holds no files: {path}")
        for file in files:
            if file.suffix == ".arrow" or file.name in ("state.json", "dataset_info.json"):
                continue
            yield from _file_documents(file, text_field, skip_binary=True)
        return
    yield from _file_documents(path, text_field, skip_binary=False)


def is_hf_saved_dataset(path: Path) -> bool:
    """A folder written by ``datasets.Dataset.save_to_disk`` (or a DatasetDict of them)."""
    if (path / "state.json").is_file() and list(path.glob("*.arrow")):
        return True
    return (path / "dataset_dict.json").is_file()


def hf_saved_documents(path: Path, text_field: str) -> Iterator[str]:
    """Rows of a ``save_to_disk`` folder: a Dataset, or every split of a DatasetDict (split names sorted)."""
    if (path / "dataset_dict.json").is_file():
        splits = json.loads((path / "dataset_dict.json").read_text()).get("splits", [])
        for split in sorted(splits):
            yield from hf_saved_documents(path / split, text_field)
        return
    import pyarrow as pa

    state = json.loads((path / "state.json").read_text())
    names = [f["filename"] for f in state.get("_data_files", [])] or sorted(p.name for p in path.glob("*.arrow"))
    for name in names:
        file = path / name
        with pa.memory_map(str(file)) as source:
            try:
                table = pa.ipc.open_stream(source).read_all()
            except pa.ArrowInvalid:
                table = pa.ipc.open_file(source).read_all()
        yield from _column_documents(table, text_field, file)


def _file_documents(file: Path, text_field: str, *, skip_binary: bool) -> Iterator[str]:
    suffix = file.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        yield from jsonl_documents(file, text_field)
    elif suffix in PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(file, columns=[text_field])
        except (KeyError, ValueError) as exc:
            if text_field not in pq.read_schema(file).names:
                raise InputError("column not found", source=str(file), column=text_field) from None
            raise InputError(f"cannot read Parquet: {exc}", source=str(file)) from None
        yield from _column_documents(table, text_field, file)
    else:
        data = file.read_bytes()
        if b"\x00" in data[:_SNIFF_BYTES]:
            if skip_binary:
                return
            raise InputError("not a text, JSONL or Parquet file (binary content)", source=str(file))
        text = data.decode("utf-8", errors="replace")
        if text.strip():
            yield text


def jsonl_documents(file: Path, text_field: str) -> Iterator[str]:
    """One JSON object per line; its ``text_field`` string is the document."""
    with file.open(encoding="utf-8", errors="replace") as handle:
        for row, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"invalid JSON ({exc.msg})", source=str(file), row=row) from None
            if not isinstance(record, dict) or text_field not in record:
                raise InputError("field missing", source=str(file), row=row, column=text_field)
            value = record[text_field]
            if not isinstance(value, str):
                raise InputError(f"expected a string, got {type(value).__name__}", source=str(file), row=row,
                                 column=text_field)
            if value:
                yield value


def _column_documents(table, text_field: str, file: Path) -> Iterator[str]:
    if text_field not in table.column_names:
        raise InputError("column not found", source=str(file), column=text_field)
    for row, value in enumerate(table.column(text_field).to_pylist(), start=1):
        if value is None:
            continue
        if not isinstance(value, str):
            raise InputError(f"expected a string, got {type(value).__name__}", source=str(file), row=row,
                             column=text_field)
        if value:
            yield value


def fingerprint(path: str | Path) -> str:
    """Resolved path, sizes and mtimes of every file under ``path``: changes when the data changes."""
    path = Path(path).expanduser().resolve()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return f"{path}|" + ";".join(f"{p.relative_to(path) if p != path else p.name}:{p.stat().st_size}:"
                                  f"{p.stat().st_mtime_ns}" for p in files)


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)
