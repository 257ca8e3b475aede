"""Models in Forgather's output directories, as `generate`, `convert` and `serve` take them.

Forgather keeps a model's config, tokenizer and generated code in its output directory
and the weights of each checkpoint in `checkpoints/checkpoint-N/` (sharded
safetensors with an index, beside `checkpoint_manifest.json`). fgtui's loaders want
one directory holding both, so a Forgather model is presented as a view: a
directory of links to the output directory's files and the checkpoint's weights,
kept under the user's cache and rebuilt whenever asked for.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

MANIFEST = "checkpoint_manifest.json"
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
WEIGHT_SUFFIXES = (".safetensors", ".safetensors.index.json")


def has_weights(path: Path) -> bool:
    return any(p.name.endswith(WEIGHT_SUFFIXES) for p in path.iterdir()) if path.is_dir() else False


def is_forgather_checkpoint(path: Path) -> bool:
    return (path / MANIFEST).is_file() and has_weights(path)


def latest_forgather_checkpoint(output_dir: Path) -> Path | None:
    """The highest-step complete Forgather checkpoint under `output_dir/checkpoints`."""
    root = output_dir / "checkpoints"
    if not root.is_dir():
        return None
    found = [
        (int(m.group(1)), p)
        for p in root.iterdir()
        if (m := CHECKPOINT_RE.match(p.name)) and is_forgather_checkpoint(p)
    ]
    return max(found)[1] if found else None


def view_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fgtui" / "forgather-models"


def model_view(output_dir: Path, checkpoint: Path) -> Path:
    """A directory linking `output_dir`'s config/tokenizer/code and `checkpoint`'s weights."""
    checkpoint = checkpoint.resolve()
    digest = hashlib.sha1(str(checkpoint).encode()).hexdigest()[:16]
    target = view_root() / f"{checkpoint.name}-{digest}"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".view-", dir=target.parent))
    for source in sorted(output_dir.resolve().iterdir()):
        if source.is_file() and not source.name.endswith(WEIGHT_SUFFIXES):
            (staging / source.name).symlink_to(source)
    for source in sorted(checkpoint.iterdir()):
        if source.name.endswith(WEIGHT_SUFFIXES):
            (staging / source.name).symlink_to(source)
    # Replace the previous view whole, so a reader never sees half of one.
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    return target


def forgather_model_dir(given: Path) -> Path | None:
    """The loadable directory for a Forgather output dir or checkpoint, or None when `given`
    is not one (or already holds config and weights together)."""
    if is_forgather_checkpoint(given):
        if (given / "config.json").is_file():
            return given
        output_dir = given.parent.parent
        return model_view(output_dir, given) if (output_dir / "config.json").is_file() else None
    if (given / "config.json").is_file() and not has_weights(given):
        checkpoint = latest_forgather_checkpoint(given)
        return model_view(given, checkpoint) if checkpoint is not None else None
    # A Forgather project: its output_models/<model>/, the newest checkpoint among them.
    outputs = [
        (checkpoint, output)
        for output in given.glob("output_models/*")
        if (output / "config.json").is_file() and (checkpoint := latest_forgather_checkpoint(output))
    ]
    if outputs:
        checkpoint, output = max(outputs, key=lambda pair: pair[0].stat().st_mtime)
        return model_view(output, checkpoint)
    return None
