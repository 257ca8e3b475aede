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
    whole = encode_documents([long, "a short one"], tokenizer, options)
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
