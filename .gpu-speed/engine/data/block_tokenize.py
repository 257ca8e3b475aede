"""`block_tokenize_fn`: text in, fixed-size token blocks out.

Usable as a `datasets.map(batched=True)` function, with Forgather's
parameters. It tokenizes a batch of documents, gives each its BOS/EOS, and
hands the lengths to `engine.data.packing`, which decides the blocks. Packing
here sees one map batch only; `preprocess_dataset` packs a whole split at
once when it fits in memory (same plan, same result as one huge batch).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fgtui.engine.data import packing
from fgtui.engine.errors import FgError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlockOptions:
    """The block tokenizer's parameters, checked once."""

    max_length: int = 512
    overflow: bool = True
    packed: bool = False
    packing_strategy: str = "greedy"
    shuffle_output: bool = False
    seed: int | None = 42
    stride: int = 0
    min_len: int = 1
    max_len: int | None = None
    add_bos: bool = True
    add_eos: bool = True
    truncate_at: str | None = None
    min_fragment: int = packing.DEFAULT_MIN_FRAGMENT

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> "BlockOptions":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(kwargs) - known - {"feature", "tokenizer"})
        if unknown:
            raise FgError(
                f"unknown block tokenizer option(s): {', '.join(unknown)}",
                hint=f"known options: {', '.join(sorted(known))}",
            )
        return cls(**{k: v for k, v in kwargs.items() if k in known})

    def check(self, tokenizer) -> None:
        specials = int(self.add_bos) + int(self.add_eos)
        if self.max_length <= specials:
            raise FgError(
                f"max_length={self.max_length} leaves no room for text next to BOS/EOS",
                hint=f"use max_length > {specials}, or add_bos/add_eos=False",
            )
        if not 0 <= self.stride < self.max_length:
            raise FgError(f"stride={self.stride} must be at least 0 and less than max_length={self.max_length}")
        if self.packing_strategy not in packing.STRATEGIES:
            raise FgError(
                f"unknown packing_strategy {self.packing_strategy!r}",
                hint=f"use one of {', '.join(packing.STRATEGIES)}",
            )
        if self.min_len < 1:
            raise FgError(f"min_len must be at least 1, got {self.min_len}")
        if self.add_bos and tokenizer.bos_token_id is None:
            raise FgError("the tokenizer has no BOS token", hint="set add_bos=False or use a tokenizer with one")
        if self.add_eos and tokenizer.eos_token_id is None:
            raise FgError("the tokenizer has no EOS token", hint="set add_eos=False or use a tokenizer with one")
        if self.truncate_at is not None:
            try:
                re.compile(self.truncate_at)
            except re.error as error:
                raise FgError(f"truncate_at is not a valid regular expression: {error}") from error


# Documents longer than this many characters are encoded piece by piece: the
# tokenizer's per-token bookkeeping (offsets, words, masks) and Python lists of
# ids cost ~50 bytes per token, so one 200 MB document took over 10 GB at once.
PIECE_CHARS = 1 << 16
_PIECES_PER_CALL = 2  # pieces encoded together, so the Rust encoder uses two cores; more cost memory, not time


def piece_bounds(text: str, size: int = PIECE_CHARS) -> list[tuple[int, int]]:
    """Cut `text` into pieces of at most `size` characters, each cut placed just
    before a space (or just after a newline) that follows a non-space character.

    Word-splitting pre-tokenizers (byte-level BPE's regex, Metaspace) always
    split there, so encoding the pieces one after another gives the same ids
    as encoding the whole text. Only a stretch of `size // 2` characters with
    no such place (text without spaces or newlines) is cut where it stands.
    """
    return cut_bounds(text, size)


def cut_bounds(data, size: int) -> list[tuple[int, int]]:
    """`piece_bounds` for a str, or for UTF-8 bytes (bytes or a memoryview): ASCII space
    and newline never occur inside a multi-byte character, so every byte piece decodes on
    its own; a forced cut backs off to a character boundary."""
    binary = not isinstance(data, str)
    space, newline = (b" ", b"\n") if binary else (" ", "\n")
    bounds = []
    start, n = 0, len(data)
    while n - start > size:
        low, high = start + size // 2, start + size
        window = data[low : high + 1]
        cut = _cut_in(bytes(window) if binary else window, space, newline)
        if cut >= 0:
            cut += low
        else:
            cut = high
            while binary and cut > start and (data[cut] & 0xC0) == 0x80:
                cut -= 1
        bounds.append((start, cut))
        start = cut
    bounds.append((start, n))
    return bounds


def _cut_in(window, space, newline) -> int:
    """The last place in `window` just before a space, or just after a newline, that
    follows a non-space character; -1 when there is none."""
    end = len(window) - 1
    while True:
        at_space = window.rfind(space, 1, end)
        at_newline = window.rfind(newline, 1, end - 1)
        if at_space < 0 and at_newline < 0:
            return -1
        if at_space > at_newline:
            if not window[at_space - 1 : at_space].isspace():
                return at_space
            end = at_space
        else:
            before, after = window[at_newline - 1 : at_newline], window[at_newline + 1 : at_newline + 2]
            if not before.isspace() and not after.isspace():
                return at_newline + 1
            end = at_newline


def _encode_long(text: str, encode) -> "numpy.ndarray":  # noqa: F821 - numpy is imported inside
    """The ids of one long text as int32, encoded in bounded pieces."""
    import numpy as np

    bounds = piece_bounds(text)
    parts = []
    for i in range(0, len(bounds), _PIECES_PER_CALL):
        chunk = [text[a:b] for a, b in bounds[i : i + _PIECES_PER_CALL]]
        parts.extend(np.asarray(ids, dtype=np.int32) for ids in encode(chunk))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)


def _encoder(tokenizer):
    """`encode(list of str) -> list of id lists`, without special tokens."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and backend.truncation is None and backend.padding is None:
        # The Rust batch encoder without offsets: several times faster than
        # going through tokenizer.__call__, and runs on all cores.
        return lambda texts: [e.ids for e in backend.encode_batch_fast(texts, add_special_tokens=False)]
    return lambda texts: tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]


def encode_documents(texts: Sequence[str], tokenizer, options: BlockOptions) -> list:
    """Token ids of each document with BOS/EOS added as the options ask;
    documents outside [min_len, max_len] (counted with BOS/EOS) come back empty
    so that indexes still line up with the input. A document longer than
    `PIECE_CHARS` characters comes back as an int32 numpy array, encoded in
    pieces (`piece_bounds`) so that memory stays bounded."""
    if options.truncate_at is not None:
        pattern = re.compile(options.truncate_at)
        texts = [text[: m.start()] if (m := pattern.search(text)) else text for text in texts]
    texts = [text if isinstance(text, str) else "" for text in texts]
    encode = _encoder(tokenizer)
    long = {i for i, text in enumerate(texts) if len(text) > PIECE_CHARS}
    short_ids = iter(encode([t for i, t in enumerate(texts) if i not in long]) if len(long) < len(texts) else [])
    head = [tokenizer.bos_token_id] if options.add_bos else []
    tail = [tokenizer.eos_token_id] if options.add_eos else []
    docs = []
    for i, text in enumerate(texts):
        if i in long:
            import numpy as np

            ids = _encode_long(text, encode)
            doc = np.concatenate([np.asarray(head, np.int32), ids, np.asarray(tail, np.int32)]) if len(ids) else []
            del ids
        else:
            ids = next(short_ids)
            doc = head + ids + tail if ids else []  # an empty text is not a document: no lone BOS/EOS pair
        if len(doc) and (len(doc) < options.min_len or (options.max_len is not None and len(doc) > options.max_len)):
            doc = []
        docs.append(doc)
    return docs


def block_tokenize_fn(
    features: dict[str, Sequence[Any]],
    tokenizer,
    feature: str = "text",
    max_length: int = 512,
    overflow: bool = True,
    packed: bool = False,
    packing_strategy: str = "greedy",
    shuffle_output: bool = False,
    seed: int | None = 42,
    stride: int = 0,
    min_len: int = 1,
    max_len: int | None = None,
    add_bos: bool = True,
    add_eos: bool = True,
    truncate_at: str | None = None,
    min_fragment: int = packing.DEFAULT_MIN_FRAGMENT,
) -> dict[str, list[list[int]]]:
    """Tokenize a batch of documents into blocks of at most `max_length` tokens.

    Returns ``{"input_ids": [...], "document_starts": [...]}``, one row per
    block; `document_starts` lists where each document (or piece of one)
    begins inside the block, always starting with 0.

    - `packed=False`: each document gets its own block(s); `packed=True`:
      documents share blocks, placed by `packing_strategy` (greedy, best_fit,
      first_fit; see `engine.data.packing`).
    - `overflow=True` splits long documents into blocks overlapping by
      `stride` tokens; `overflow=False` truncates them (counted and logged).
    - Documents shorter than `min_len` or longer than `max_len` tokens (with
      BOS/EOS) are skipped; blocks shorter than `min_len` are dropped.
    - `truncate_at`: a regex; text from its first match on is dropped.
    - `shuffle_output` shuffles the blocks (with `seed`), since fit strategies
      emit them roughly by decreasing document length.
    """
    options = BlockOptions(
        max_length=max_length,
        overflow=overflow,
        packed=packed,
        packing_strategy=packing_strategy,
        shuffle_output=shuffle_output,
        seed=seed,
        stride=stride,
        min_len=min_len,
        max_len=max_len,
        add_bos=add_bos,
        add_eos=add_eos,
        truncate_at=truncate_at,
        min_fragment=min_fragment,
    )
    options.check(tokenizer)
    if feature not in features:
        raise FgError(
            f"the dataset has no column {feature!r} (columns: {', '.join(features)})",
            hint="set feature= to the column holding the text",
        )
    docs = encode_documents(features[feature], tokenizer, options)
    blocks = pack_token_lists(docs, options)
    if blocks.truncated:
        log.warning(
            "%d document(s) longer than max_length=%d were truncated (overflow=False)", blocks.truncated, max_length
        )
    return {"input_ids": blocks.input_ids, "document_starts": blocks.document_starts}


def pack_token_lists(docs: Sequence[Sequence[int]], options: BlockOptions) -> packing.PackedBlocks:
    """Blocks for already encoded documents, per the options."""
    return packing.pack_documents(
        docs,
        options.max_length,
        packed=options.packed,
        strategy=options.packing_strategy,
        overflow=options.overflow,
        stride=options.stride,
        min_len=options.min_len,
        shuffle_output=options.shuffle_output,
        seed=options.seed,
        min_fragment=options.min_fragment,
    )
