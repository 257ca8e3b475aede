"""Loading local files with bad-input checks, mixes, sharding, tokenizers."""

from __future__ import annotations

import logging

import datasets
import pytest

from fgtui.engine.data import (
    load_json_dataset,
    load_text_dataset,
    load_tokenizer,
    mix_datasets,
    select_range,
    shard_for_rank,
)
from fgtui.engine.errors import FgError


def test_text_by_document_and_line(corpus_dir, tmp_path):
    docs = load_text_dataset(corpus_dir, {"train": "*.txt", "validation": "polaris.txt"}, cache_dir=str(tmp_path))
    assert len(docs["train"]) == len(list(corpus_dir.glob("*.txt")))
    assert len(docs["validation"]) == 1
    assert docs["validation"][0]["text"] == (corpus_dir / "polaris.txt").read_text()
    lines = load_text_dataset(corpus_dir, {"train": "polaris.txt"}, sample_by="line", cache_dir=str(tmp_path))
    assert len(lines["train"]) == len((corpus_dir / "polaris.txt").read_text().splitlines())


def test_bad_inputs(tmp_path, caplog):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FgError, match="is empty"):
        load_text_dataset(empty)
    with pytest.raises(FgError, match="does not exist"):
        load_text_dataset(tmp_path / "missing")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "good.txt").write_text("It was a dark and stormy night.\n")
    (mixed / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (mixed / "blob.txt").write_bytes(b"\x89PNG\x00\x00\x01")
    with caplog.at_level(logging.WARNING):
        ds = load_text_dataset(mixed, cache_dir=str(tmp_path / "hf"))
    assert ds["train"]["text"] == ["It was a dark and stormy night.\n"]
    assert "latin1.txt: not UTF-8" in caplog.text and "blob.txt: binary" in caplog.text
    with pytest.raises(FgError, match="no text files match 'nothing"):
        load_text_dataset(mixed, {"train": "nothing*.txt"})


def test_json_lines(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "one"}\n{"text": "two"}\n')
    ds = load_json_dataset({"train": "a.jsonl"}, data_dir=tmp_path, cache_dir=str(tmp_path / "hf"))
    assert ds["train"]["text"] == ["one", "two"]


def test_mix_is_weighted_and_deterministic():
    a = datasets.Dataset.from_dict({"src": ["a"] * 1000})
    b = datasets.Dataset.from_dict({"src": ["b"] * 1000})
    mixed = mix_datasets([a, b], [3, 1], seed=7)
    again = mix_datasets([a, b], [3, 1], seed=7)
    assert mixed["src"] == again["src"]
    share = mixed["src"][:400].count("a") / 400
    assert 0.68 < share < 0.82
    with pytest.raises(FgError):
        mix_datasets([a, b], [1])


def test_shard_for_rank_reads_env(monkeypatch):
    ds = datasets.Dataset.from_dict({"i": list(range(10))})
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert shard_for_rank(ds)["i"] == [5, 6, 7, 8, 9]
    parts = [list(shard_for_rank(ds.to_iterable_dataset(num_shards=2), r, 2)) for r in range(2)]
    assert sorted(x["i"] for p in parts for x in p) == list(range(10))
    with pytest.raises(FgError):
        shard_for_rank(ds, 2, 2)


def test_select_range_forms():
    ds = datasets.Dataset.from_dict({"i": list(range(10))})
    assert select_range(ds, "10%:50%")["i"] == [1, 2, 3, 4]
    assert select_range(ds, 3)["i"] == [0, 1, 2]
    assert select_range(ds, 0.5)["i"] == [0, 1, 2, 3, 4]
    assert select_range(ds, ":2")["i"] == [0, 1]
    with pytest.raises(FgError):
        select_range(ds, "ten")


def test_tokenizer_round_trip_and_pad_token(tokenizer, tmp_path, caplog):
    from transformers import AutoTokenizer

    tokenizer.save_pretrained(tmp_path / "tok")
    loaded = AutoTokenizer.from_pretrained(tmp_path / "tok")
    text = "The colour out of space."
    assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert loaded(text)["input_ids"][0] == loaded.bos_token_id
    assert loaded.decode(loaded(text)["input_ids"], skip_special_tokens=True) == text
    # A tokenizer without a pad token gets EOS as pad, and the user is told.
    loaded.pad_token = None
    loaded.save_pretrained(tmp_path / "nopad")
    with caplog.at_level(logging.WARNING):
        fixed = load_tokenizer(tmp_path / "nopad")
    assert fixed.pad_token == fixed.eos_token
    assert "had no pad token" in caplog.text
    with pytest.raises(FgError):
        load_tokenizer(tmp_path / "nowhere")


def test_an_empty_text_file_is_a_clear_message(tmp_path, caplog):
    only = tmp_path / "only"
    only.mkdir()
    (only / "story.txt").write_text("")
    with pytest.raises(FgError, match=r"split 'train' has no text to read \(.*story.txt: empty file\)"):
        load_text_dataset(only, cache_dir=str(tmp_path / "hf"))
    (only / "blank.txt").write_text("\n  \n")
    (only / "real.txt").write_text("The rats in the walls.\n")
    with caplog.at_level(logging.WARNING):
        ds = load_text_dataset(only, cache_dir=str(tmp_path / "hf"))
    assert ds["train"]["text"] == ["The rats in the walls.\n"]
    assert "story.txt: empty file" in caplog.text and "blank.txt: only whitespace" in caplog.text
