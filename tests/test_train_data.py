"""Data: users' formats, tokenizers, the fixed held-out split, seeded shuffling and the token cache."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scalinglab.errors import InputError
from scalinglab.train import sources, tokenization
from scalinglab.train.config import DataConfig
from scalinglab.train.data import TrainWindows, eval_windows, load_tokens, split
from scalinglab.train.testing import tiny_text, write_tiny_corpus


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_jsonl_parquet_folder_and_saved_dataset_give_the_same_documents(tmp_path):
    docs = ["first document.", "second one, with ünïcode.", "third"]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps({"text": d, "id": i}) for i, d in enumerate(docs)))
    pq.write_table(pa.table({"text": docs}), tmp_path / "d.parquet")
    folder = tmp_path / "folder"
    folder.mkdir()
    for i, d in enumerate(docs):
        (folder / f"{i}.txt").write_text(d)
    (folder / ".hidden").write_text("skip me")
    (folder / "blob.bin").write_bytes(b"\x00\x01binary")
    # the layout datasets.Dataset.save_to_disk writes: an Arrow IPC stream plus state.json
    saved = tmp_path / "saved"
    saved.mkdir()
    table = pa.table({"text": docs, "label": [0, 1, 2]})
    with pa.OSFile(str(saved / "data-00000-of-00001.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    (saved / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    for path in ("d.jsonl", "d.parquet", "folder", "saved"):
        assert list(sources.iter_documents(tmp_path / path)) == docs, path


def test_bad_user_data_names_file_row_and_column(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"body": "no text field"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl, row 2, column 'text': field missing"):
        list(sources.iter_documents(bad))
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "p.parquet")
    with pytest.raises(InputError, match="column 'text'"):
        list(sources.iter_documents(tmp_path / "p.parquet"))
    with pytest.raises(InputError, match="does not exist"):
        list(sources.iter_documents(tmp_path / "nope"))


def test_byte_tokenizer_round_trip_and_gpt2_known_ids():
    text = "Héllo world"
    ids = tokenization.ByteTokenizer().encode_documents([text])
    assert ids.dtype == np.uint8 and tokenization.ByteTokenizer().decode(ids) == text + tokenization.SEPARATOR
    gpt2 = tokenization.gpt2()
    assert gpt2.vocab_size == 50257
    assert list(gpt2.encode_documents(["Hello world"])) == [15496, 995, 628]  # GPT-2: "Hello", " world", "\n\n"
    assert gpt2.token_bytes()[15496] == 5 and gpt2.token_bytes()[995] == 6


def test_trained_bpe_has_requested_vocab_and_compresses(tmp_path):
    corpus = write_tiny_corpus(tmp_path / "data")
    data = load_tokens(DataConfig(corpus=str(corpus), tokenizer="bpe", bpe_vocab_size=400, val_fraction=0.1))
    assert data.vocab_size == 400 and int(data.train.max()) < 400
    assert data.bytes_per_token() > 2.0  # merges learned on repetitive prose: several bytes per token
    assert (data.folder / "tokenizer.json").is_file()


def test_held_out_split_is_fixed_and_disjoint():
    tokens = np.arange(100_000, dtype=np.int64)
    train_a, val_a = split(tokens, 0.05)
    train_b, val_b = split(tokens.copy(), 0.05)
    assert np.array_equal(val_a, val_b) and len(train_a) + len(val_a) == len(tokens)
    assert not set(val_a.tolist()) & set(train_a.tolist())
    assert abs(len(val_a) / len(tokens) - 0.05) < 0.01
    assert val_a.min() < 50_000 < val_a.max()  # spread over the corpus, not only its tail


def test_windows_shuffle_by_seed_and_cover_the_split_once_per_epoch():
    train = np.arange(10 * 8 + 1, dtype=np.int64)
    w0, w1 = TrainWindows(train, 8, seed=0), TrainWindows(train, 8, seed=1)
    epoch0 = w0.batch(0, 10)
    assert sorted(epoch0[:, 0].tolist()) == list(range(0, 80, 8))  # every window exactly once
    assert np.array_equal(epoch0[:, 1:], epoch0[:, :-1] + 1)  # contiguous sequences
    assert not np.array_equal(epoch0, w1.batch(0, 10))
    assert np.array_equal(TrainWindows(train, 8, seed=0).batch(3, 4), epoch0[3:7])  # position is all the state
    assert not np.array_equal(w0.batch(10, 10), epoch0)  # next epoch: new order


def test_token_cache_is_built_once_and_reused(tmp_path, cache):
    corpus = write_tiny_corpus(tmp_path / "data")
    cfg = DataConfig(corpus=str(corpus), val_fraction=0.1)
    first = load_tokens(cfg)
    stamp = (first.folder / "tokens.npy").stat().st_mtime_ns
    second = load_tokens(cfg)
    assert second.folder == first.folder and (first.folder / "tokens.npy").stat().st_mtime_ns == stamp
    assert first.n_tokens_total == len(tiny_text().encode()) + 2 and np.array_equal(first.val, second.val)
    leftovers = [p.name for p in cache.iterdir() if not p.name.endswith(".lock")]
    assert leftovers == [first.folder.name]  # no temporary folder left behind
    corpus.write_text(tiny_text(seed=1))  # changed data → new cache entry
    assert load_tokens(cfg).folder != first.folder
    assert eval_windows(first.val, 32, 1024).shape == (32, 33)
