"""The processed-dataset cache: tokenized and packed splits on disk, keyed
by everything that decides their content.

The key hashes the source dataset's fingerprint (which `datasets` derives
from the files and every select/shuffle/shard applied to them), the
tokenizer's identity, every block option, and the source code of the modules
that produce the blocks, so editing the packer invalidates old entries
instead of serving stale blocks. A hit is a memory-mapped `load_from_disk`.
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

_CODE_MODULES = ("packing.py", "block_tokenize.py", "preprocess.py", "cache.py")
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


def load_cached(cache_dir: Path, key: str):
    """The cached dataset for `key`, or None."""
    path = cache_dir / key
    if not (path / "dataset_info.json").exists() and not (path / "state.json").exists():
        return None
    import datasets

    try:
        return datasets.load_from_disk(str(path))
    except (OSError, ValueError, FileNotFoundError) as error:
        # A half-removed entry: report it and rebuild rather than fail the run.
        log.warning("ignoring unreadable dataset cache %s (%s); rebuilding", path, error)
        return None


def store(cache_dir: Path, key: str, dataset, meta: dict[str, Any]):
    """Save `dataset` under `key` (atomically, so concurrent ranks computing
    the same entry do not corrupt it) and return the memory-mapped copy."""
    import datasets

    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / key
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cache_dir))
    try:
        dataset.save_to_disk(str(tmp / "data"))
        (tmp / "data" / "fgtui_meta.json").write_text(json.dumps(meta, indent=1, default=repr))
        try:
            os.rename(tmp / "data", final)
        except OSError:
            if not final.exists():
                raise
            # Another process stored the same key first; its copy is identical.
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return datasets.load_from_disk(str(final))


def read_meta(dataset) -> dict[str, Any] | None:
    """The metadata stored next to a dataset loaded from this cache."""
    files = getattr(dataset, "cache_files", None) or []
    for entry in files:
        meta = Path(entry["filename"]).parent / "fgtui_meta.json"
        if meta.exists():
            return json.loads(meta.read_text())
    return None
