"""The processed-dataset cache: tokenized and packed splits on disk, keyed
by everything that decides their content.

The key hashes the source dataset's fingerprint (which `datasets` derives
from the files and every select/shuffle/shard applied to them), the
tokenizer's identity, every block option, and the source code of the modules
that produce the blocks, so editing the packer invalidates old entries
instead of serving stale blocks. An entry is one Arrow stream file of the
blocks (`blocks.arrow`) with `fgtui_meta.json` beside it; a hit is that file
memory-mapped. The file is written straight from the packer's Arrow table:
wrapping a large in-memory table in a `datasets.Dataset` first cost several
times its size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_CODE_MODULES = ("packing.py", "block_tokenize.py", "preprocess.py", "cache.py", "split_encode.py")
BLOCKS_FILE = "blocks.arrow"
_code_digest: str | None = None


def default_cache_dir() -> Path:
    """`$FGTUI_CACHE_DIR/datasets`, else platformdirs' user cache dir for fgtui."""
    root = os.environ.get("FGTUI_CACHE_DIR")
    if root:
        return Path(root) / "datasets"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("fgtui")) / "datasets"


def code_version() -> str:
    """Digest of the source of the modules whose output is cached."""
    global _code_digest
    if _code_digest is None:
        digest = hashlib.sha256()
        here = Path(__file__).parent
        for name in _CODE_MODULES:
            digest.update((here / name).read_bytes())
        _code_digest = digest.hexdigest()[:16]
    return _code_digest


def cache_key(**parts: Any) -> str:
    """A short hex key over JSON-able parts (sorted, so order does not matter)."""
    text = json.dumps({**parts, "code": code_version()}, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _open(path: Path, key: str):
    import datasets
    from datasets.table import MemoryMappedTable

    return datasets.Dataset(MemoryMappedTable.from_file(str(path / BLOCKS_FILE)), fingerprint=key)


def load_cached(cache_dir: Path, key: str):
    """The cached dataset for `key`, or None."""
    path = cache_dir / key
    if not (path / BLOCKS_FILE).is_file():
        return None
    try:
        return _open(path, key)
    except (OSError, ValueError) as error:
        # A half-removed entry: report it and rebuild rather than fail the run.
        log.warning("ignoring unreadable dataset cache %s (%s); rebuilding", path, error)
        return None


def store(cache_dir: Path, key: str, blocks, meta: dict[str, Any]):
    """Save `blocks` (a pyarrow Table, or a `datasets.Dataset`) under `key`
    (atomically, so concurrent ranks computing the same entry do not corrupt
    it) and return the memory-mapped copy."""
    import pyarrow as pa

    table = blocks if isinstance(blocks, pa.Table) else blocks.data.table
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / key
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cache_dir))
    try:
        with pa.OSFile(str(tmp / BLOCKS_FILE), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=1 << 16)
        (tmp / "fgtui_meta.json").write_text(json.dumps(meta, indent=1, default=repr))
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.exists():
                raise
            # Another process stored the same key first; its copy is identical.
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _open(final, key)


def read_meta(dataset) -> dict[str, Any] | None:
    """The metadata stored next to a dataset loaded from this cache."""
    files = getattr(dataset, "cache_files", None) or []
    for entry in files:
        meta = Path(entry["filename"]).parent / "fgtui_meta.json"
        if meta.exists():
            return json.loads(meta.read_text())
    return None
