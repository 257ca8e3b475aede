"""Tokenize a whole map-style split into one flat int32 buffer, in bounded memory.

`pack_split` needs every document's ids end to end (plus where each starts).
Going through `datasets.map` held each document as a Python string, the ids
as Python lists, an Arrow copy of them and the text's pages all at once: a
200 MB single-line file needed gigabytes. Here the split is read as Arrow
batches; a long document's UTF-8 bytes are cut (at spaces or newlines, see
`block_tokenize.piece_bounds`) and decoded a piece at a time, never as one
string; and ids go straight into a buffer sized by the text's byte count
(no tokenizer here emits more tokens than bytes plus BOS/EOS), whose unused
tail is never touched and so never becomes resident memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fgtui.engine.data import block_tokenize
from fgtui.engine.data.block_tokenize import BlockOptions, encode_documents

_BATCH_ROWS = 1000


class _Buffer:
    """A growing int32 buffer whose untouched capacity costs no memory."""

    def __init__(self, capacity: int) -> None:
        import numpy as np

        self.np = np
        self.data = np.empty(max(1, capacity), dtype=np.int32)
        self.size = 0

    def append(self, ids) -> None:
        n = len(ids)
        if self.size + n > len(self.data):
            grown = self.np.empty(max(2 * len(self.data), self.size + n), dtype=self.np.int32)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : self.size + n] = ids
        self.size += n


def encode_split(
    dataset, tokenizer, feature: str, options: BlockOptions, advance: Callable[[int], None] = lambda n: None
):
    """(values, offsets): every document's ids (with BOS/EOS as the options ask)
    end to end as int32, and int64 offsets where each document starts (an empty
    or filtered-out document has length 0)."""
    import numpy as np
    import pyarrow as pa

    encode = block_tokenize._encoder(tokenizer)
    head = [tokenizer.bos_token_id] if options.add_bos else []
    tail = [tokenizer.eos_token_id] if options.add_eos else []
    limit = block_tokenize.PIECE_CHARS
    column = dataset.data.column(feature) if getattr(dataset, "_indices", None) is None else None
    text_bytes = column.nbytes if column is not None else 0
    out = _Buffer(text_bytes + 2 * len(dataset) + 1 if text_bytes else 1 << 20)
    lengths: list[int] = []
    pattern = re.compile(options.truncate_at) if options.truncate_at is not None else None

    def keep(n: int) -> bool:
        return n >= options.min_len and (options.max_len is None or n <= options.max_len)

    for table in dataset.with_format("arrow").iter(batch_size=_BATCH_ROWS):
        for chunk in table.column(feature).chunks:
            if not pa.types.is_string(chunk.type) and not pa.types.is_large_string(chunk.type):
                chunk = chunk.cast(pa.string())
            kind = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
            offsets = np.frombuffer(chunk.buffers()[1], dtype=kind)[chunk.offset : chunk.offset + len(chunk) + 1]
            sizes = np.diff(offsets)
            if pattern is not None or not (sizes > limit).any():
                texts = [t or "" for t in chunk.to_pylist()]
                for doc in encode_documents(texts, tokenizer, options):
                    out.append(doc)
                    lengths.append(len(doc))
                continue
            data = memoryview(chunk.buffers()[2]).cast("B")
            short: list[tuple[int, str]] = []
            for i in range(len(chunk)):
                start, end = int(offsets[i]), int(offsets[i + 1])
                if end - start <= limit or not chunk[i].is_valid:
                    short.append((len(lengths), chunk[i].as_py() or ""))
                    lengths.append(-1)  # filled below, in order
                    continue
                _flush(short, out, lengths, tokenizer, options)
                short = []
                first = out.size
                out.append(head)
                for a, b in _groups(block_tokenize.cut_bounds(data[start:end], limit)):
                    pieces = [bytes(data[start + x : start + y]).decode("utf-8") for x, y in zip(a, b)]
                    for ids in encode(pieces):
                        out.append(np.asarray(ids, dtype=np.int32))
                out.append(tail)
                n = out.size - first
                if not keep(n) or n == len(head) + len(tail):
                    out.size, n = first, 0
                lengths.append(n)
            _flush(short, out, lengths, tokenizer, options)
        advance(table.num_rows)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return out.data[: out.size], offsets


def _flush(short, out, lengths, tokenizer, options) -> None:
    """Encode the short documents gathered so far, in their places."""
    if not short:
        return
    # Their slots in `lengths` are the last ones (placeholders), in order.
    docs = encode_documents([text for _, text in short], tokenizer, options)
    del lengths[len(lengths) - len(short) :]
    for doc in docs:
        out.append(doc)
        lengths.append(len(doc))


def _groups(bounds: list[tuple[int, int]]):
    """Bounds in groups of `_PIECES_PER_CALL`, as (starts, ends)."""
    step = block_tokenize._PIECES_PER_CALL
    for i in range(0, len(bounds), step):
        group = bounds[i : i + step]
        yield [a for a, _ in group], [b for _, b in group]
