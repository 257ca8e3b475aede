"""Where raw examples come from: local text/JSON/Parquet files, the Hub,
mixes of several datasets, and the share of one rank.

All loaders go through Hugging Face `datasets` and return its `DatasetDict`
(or `IterableDatasetDict` with `streaming=True`). What they add is the checks
users need: an empty directory or a pattern that matches nothing is an
`FgError` naming it; a binary or non-UTF-8 text file is named, skipped and
reported instead of failing deep inside Arrow.
"""

from __future__ import annotations

import codecs
import glob
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fgtui.engine.errors import FgError

log = logging.getLogger(__name__)

DEFAULT_TEXT_FILES = {"train": "*.txt"}
_SNIFF_BYTES = 8192
_DECODE_CHUNK = 1 << 20


def _resolve_files(data_dir: str | None, data_files: Any, kind: str) -> dict[str, list[str]]:
    """Expand glob patterns per split; an unmatched pattern is an error."""
    if isinstance(data_files, (str, os.PathLike)) or (
        isinstance(data_files, Sequence) and not isinstance(data_files, Mapping)
    ):
        data_files = {"train": data_files}
    base = Path(data_dir).expanduser() if data_dir is not None else None
    if base is not None:
        if not base.is_dir():
            raise FgError(f"dataset directory {data_dir} does not exist", hint="check --dataset-path / data_dir")
        if not any(base.iterdir()):
            raise FgError(
                f"dataset directory {data_dir} is empty", hint=f"put the {kind} files there or point data_dir elsewhere"
            )
    resolved: dict[str, list[str]] = {}
    for split, patterns in data_files.items():
        if isinstance(patterns, (str, os.PathLike)):
            patterns = [patterns]
        files: list[str] = []
        for pattern in patterns:
            full = str(base / pattern) if base is not None else os.path.expanduser(str(pattern))
            matched = sorted(p for p in glob.glob(full, recursive=True) if os.path.isfile(p))
            if not matched:
                raise FgError(
                    f"no {kind} files match {pattern!r} for split {split!r}" + (f" in {data_dir}" if base else ""),
                    hint="check the data_files pattern",
                )
            files.extend(matched)
        resolved[split] = list(dict.fromkeys(files))
    return resolved


def text_file_problem(path: str) -> str | None:
    """Why a file cannot be read as UTF-8 text, or None when it can."""
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
        if b"\x00" in head:
            return "binary file (contains NUL bytes)"
        decoder = codecs.getincrementaldecoder("utf-8")()
        chunk = head
        offset = 0
        has_text = False
        while chunk:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                return f"not UTF-8 (bad byte at offset {offset + error.start})"
            has_text = has_text or bool(chunk.strip())
            offset += len(chunk)
            chunk = handle.read(_DECODE_CHUNK)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "not UTF-8 (truncated character at end of file)"
    if not has_text:
        # An empty document tokenizes to nothing; downstream it surfaced as an IndexError.
        return "empty file" if offset == 0 else "only whitespace"
    return None


def load_text_dataset(
    data_dir: str | os.PathLike | None,
    data_files: Mapping[str, str | Sequence[str]] | str | None = None,
    *,
    sample_by: str = "document",
    streaming: bool = False,
    keep_linebreaks: bool = True,
    cache_dir: str | None = None,
):
    """Load plain text files as a `DatasetDict` with a `text` column.

    `data_files` maps split names to glob patterns relative to `data_dir`
    (default: every `*.txt` is `train`), as the tutorials write it:
    ``{"train": "*.txt", "validation": "the_call_of_cthulhu.txt"}``.
    `sample_by` is ``document`` (one example per file), ``paragraph`` or
    ``line``. Files that are binary or not UTF-8 are skipped with a warning.
    """
    if sample_by not in ("document", "line", "paragraph"):
        raise FgError(f"sample_by must be 'document', 'line' or 'paragraph', not {sample_by!r}")
    files = _resolve_files(None if data_dir is None else os.fspath(data_dir), data_files or DEFAULT_TEXT_FILES, "text")
    for split, paths in files.items():
        good, bad = [], []
        for path in paths:
            problem = text_file_problem(path)
            if problem:
                log.warning("skipping %s: %s", path, problem)
                bad.append(f"{path}: {problem}")
            else:
                good.append(path)
        if not good:
            shown = "; ".join(bad[:3]) + (f"; and {len(bad) - 3} more" if len(bad) > 3 else "")
            raise FgError(
                f"split {split!r} has no text to read ({shown})",
                hint="put UTF-8 text in the files, or point data_files at others",
            )
        files[split] = good
    import datasets

    if sample_by == "document" and not streaming:
        return datasets.DatasetDict({split: _document_split(split, paths, cache_dir) for split, paths in files.items()})
    from fgtui.engine.data.progress import datasets_bars

    with datasets_bars():
        return datasets.load_dataset(
            "text",
            data_files=files,
            sample_by=sample_by,
            keep_linebreaks=keep_linebreaks,
            streaming=streaming,
            cache_dir=cache_dir,
        )


def _document_split(split: str, paths: list[str], cache_dir: str | None):
    """One example per file, the file's bytes written straight into a memory-mapped
    Arrow file (one record batch per file).

    `datasets`' text builder held about three copies of a file while loading it
    (a 200 MB single-line file peaked past 900 MB); here one file's bytes are in
    memory at a time, and never as a Python string. The Arrow file is keyed by the
    files' paths, sizes and modification times, which is also the split's
    fingerprint, so the processed-dataset cache recognises the same texts.
    """
    import hashlib

    import datasets
    import numpy as np
    import pyarrow as pa
    from datasets.table import MemoryMappedTable

    from fgtui.engine.data.cache import default_cache_dir

    digest = hashlib.sha256(b"fgtui text documents v1")
    for path in paths:
        stat = os.stat(path)
        digest.update(f"{os.path.abspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    key = digest.hexdigest()[:32]
    root = Path(cache_dir) / "fgtui_documents" if cache_dir else default_cache_dir().parent / "documents"
    target = root / f"{key}.arrow"
    if not target.is_file():
        root.mkdir(parents=True, exist_ok=True)
        schema = pa.schema([pa.field("text", pa.string())])
        partial = target.with_name(f"{key}.{os.getpid()}.partial")
        with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            for path in paths:
                with open(path, "rb") as handle:
                    data = handle.read()
                if len(data) >= 2**31:
                    raise FgError(
                        f"{path} is {len(data) / 2**30:.1f} GiB: too large for one example",
                        hint="use sample_by='paragraph' or 'line', or streaming=True",
                    )
                offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int32))
                column = pa.StringArray.from_buffers(1, offsets, pa.py_buffer(data))
                writer.write_batch(pa.record_batch([column], schema=schema))
                del column, data
        os.replace(partial, target)
    return datasets.Dataset(MemoryMappedTable.from_file(str(target)), split=datasets.NamedSplit(split), fingerprint=key)


def load_json_dataset(data_files, *, data_dir=None, field: str | None = None, streaming: bool = False, cache_dir=None):
    """Load JSON or JSON Lines files (one example per object / line)."""
    import datasets

    files = _resolve_files(None if data_dir is None else os.fspath(data_dir), data_files, "JSON")
    try:
        return datasets.load_dataset("json", data_files=files, field=field, streaming=streaming, cache_dir=cache_dir)
    except datasets.exceptions.DatasetGenerationError as error:
        raise FgError(
            f"cannot read JSON files {sorted(sum(files.values(), []))[:3]}: {error.__cause__ or error}"
        ) from error


def load_parquet_dataset(data_files, *, data_dir=None, streaming: bool = False, cache_dir=None):
    """Load Parquet files."""
    import datasets

    files = _resolve_files(None if data_dir is None else os.fspath(data_dir), data_files, "Parquet")
    try:
        return datasets.load_dataset("parquet", data_files=files, streaming=streaming, cache_dir=cache_dir)
    except datasets.exceptions.DatasetGenerationError as error:
        raise FgError(
            f"cannot read Parquet files {sorted(sum(files.values(), []))[:3]}: {error.__cause__ or error}"
        ) from error


def load_hub_dataset(
    name: str, config: str | None = None, *, split: str | None = None, streaming: bool = False, **kwargs: Any
):
    """A dataset from the Hugging Face Hub by name (needs the network, or a
    copy in the local HF cache when HF_DATASETS_OFFLINE=1)."""
    import datasets

    try:
        return datasets.load_dataset(name, config, split=split, streaming=streaming, **kwargs)
    except (ConnectionError, FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as error:
        offline = os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"
        raise FgError(
            f"cannot load Hub dataset {name!r}"
            + (f" ({config})" if config else "")
            + f": {str(error).splitlines()[0]}",
            hint="offline mode is on and it is not in the local cache" if offline else "check the name and the network",
        ) from error


def mix_datasets(
    datasets_: Sequence[Any],
    weights: Sequence[float] | None = None,
    *,
    seed: int = 42,
    stopping_strategy: str = "first_exhausted",
):
    """Interleave datasets, sampling each with probability proportional to its weight.

    `stopping_strategy` is ``first_exhausted`` (stop when any source runs out:
    the mix keeps its proportions) or ``all_exhausted`` (oversample the
    smaller sources until every one has been seen). Deterministic for a seed.
    """
    import datasets

    if not datasets_:
        raise FgError("mix_datasets needs at least one dataset")
    if weights is None:
        weights = [1.0] * len(datasets_)
    if len(weights) != len(datasets_):
        raise FgError(f"mix_datasets got {len(datasets_)} datasets but {len(weights)} weights")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise FgError(f"mix weights must be non-negative and not all zero, got {list(weights)}")
    if stopping_strategy not in ("first_exhausted", "all_exhausted"):
        raise FgError(f"stopping_strategy must be 'first_exhausted' or 'all_exhausted', not {stopping_strategy!r}")
    total = float(sum(weights))
    return datasets.interleave_datasets(
        list(datasets_),
        probabilities=[w / total for w in weights],
        seed=seed,
        stopping_strategy=stopping_strategy,
    )


def shard_for_rank(dataset, rank: int | None = None, world_size: int | None = None):
    """This rank's share of `dataset`: contiguous shards of a map-style
    dataset, or every world_size-th shard/example of an iterable one.
    RANK and WORLD_SIZE (set by torchrun) are read when not given."""
    if rank is None:
        rank = int(os.environ.get("RANK", "0"))
    if world_size is None:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size < 1 or not 0 <= rank < world_size:
        raise FgError(f"rank {rank} is not in a world of size {world_size}")
    if world_size == 1:
        return dataset
    import datasets

    if isinstance(dataset, datasets.IterableDataset):
        from datasets.distributed import split_dataset_by_node

        return split_dataset_by_node(dataset, rank=rank, world_size=world_size)
    return dataset.shard(num_shards=world_size, index=rank, contiguous=True)


def select_range(dataset, spec):
    """Rows of a map-style dataset chosen by `spec`: an int (first N), a
    float (that fraction from the start), a `range`, or a string "A:B" whose
    ends are row numbers or percentages ("10%:80%")."""
    if spec is None:
        return dataset
    n = len(dataset)
    if isinstance(spec, range):
        return dataset.select(spec)
    if isinstance(spec, bool):
        raise FgError(f"select_range cannot be a boolean ({spec})")
    if isinstance(spec, int):
        return dataset.select(range(min(spec, n)))
    if isinstance(spec, float):
        if not 0 < spec <= 1:
            raise FgError(f"select_range fraction must be in (0, 1], got {spec}")
        return dataset.select(range(int(n * spec)))
    if isinstance(spec, str) and ":" in spec:
        start_text, end_text = spec.split(":", 1)
        start = _position(start_text, n, default=0, spec=spec)
        end = _position(end_text, n, default=n, spec=spec)
        return dataset.select(range(max(0, start), min(n, end)))
    raise FgError(
        f"cannot read select_range {spec!r}", hint="use N, 0.5, or 'A:B' with rows or percentages, e.g. '10%:80%'"
    )


def _position(text: str, n: int, *, default: int, spec: str) -> int:
    text = text.strip()
    if not text:
        return default
    try:
        if text.endswith("%"):
            return int(n * float(text[:-1]) / 100)
        return int(text)
    except ValueError:
        raise FgError(f"cannot read select_range {spec!r}", hint="use rows or percentages, e.g. '10%:80%'") from None
