"""Issue 17 item 6: long documents are tokenized in bounded pieces, with the ids
a whole-document encode gives; a split that yields no blocks says so."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

from fgtui.engine.data import block_tokenize
from fgtui.engine.data.block_tokenize import BlockOptions, encode_documents, piece_bounds
from fgtui.engine.data.preprocess import preprocess_dataset
from fgtui.engine.errors import FgError


def test_piece_bounds_cover_the_text_in_bounded_pieces():
    text = "word " * 1000 + "x" * 3000 + "\nend of it"
    bounds = piece_bounds(text, 500)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(text)
    assert all(a == b for (_, a), (b, _) in zip(bounds, bounds[1:]))
    assert all(0 < end - start <= 500 for start, end in bounds)
    for start, _ in bounds[1:]:
        if text[start] == " ":
            assert not text[start - 1].isspace()


def test_pieces_give_the_same_ids_as_the_whole_document(corpus_texts, tokenizer, monkeypatch):
    long = "\n\n".join(corpus_texts)  # one document of all the stories
    options = BlockOptions(max_length=64)
    monkeypatch.setattr(block_tokenize, "PIECE_CHARS", 10 * len(long))  # one encode call
    whole = encode_documents([long, "a short one"], tokenizer, options)
    assert isinstance(whole[0], list)
    monkeypatch.setattr(block_tokenize, "PIECE_CHARS", 3000)
    assert len(piece_bounds(long, 3000)) > 20
    pieces = encode_documents([long, "a short one"], tokenizer, options)
    assert isinstance(pieces[0], np.ndarray) and pieces[0].dtype == np.int32
    assert pieces[0].tolist() == whole[0]
    assert pieces[1] == whole[1]


def test_a_split_of_empty_texts_gives_a_clear_error(tokenizer, tmp_path):
    empty = datasets.Dataset.from_dict({"text": ["", ""]})
    with pytest.raises(FgError, match="2 example\\(s\\) gave no blocks"):
        preprocess_dataset(empty, tokenizer, fn_kwargs={"max_length": 32}, cache_dir=tmp_path)


def test_a_split_with_a_long_document_packs_as_before(corpus_texts, tokenizer, monkeypatch):
    from fgtui.engine.data.block_tokenize import BlockOptions
    from fgtui.engine.data.preprocess import pack_split

    texts = ["a short story.", "\n\n".join(corpus_texts), "", "another short one, then the end."]
    split = datasets.Dataset.from_dict({"text": texts})
    options = BlockOptions(max_length=128, packed=True)
    expected, _ = pack_split(split, tokenizer, "text", options, num_proc=2)  # the datasets.map path
    monkeypatch.setattr(block_tokenize, "PIECE_CHARS", 3000)
    blocks, stats = pack_split(split, tokenizer, "text", options)
    assert blocks["input_ids"] == expected["input_ids"]
    assert blocks["document_starts"] == expected["document_starts"]
    assert stats["documents"] == 3


def test_bytes_without_spaces_are_cut_between_characters():
    from fgtui.engine.data.block_tokenize import cut_bounds

    text = ("ταχύτητα" * 2000).encode()  # two-byte characters, no spaces
    bounds = cut_bounds(memoryview(text), 1001)
    assert b"".join(text[a:b] for a, b in bounds) == text
    for a, b in bounds:
        text[a:b].decode("utf-8")  # every piece decodes on its own
