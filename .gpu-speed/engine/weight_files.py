"""Checking weight and state files before they are loaded, so a bad file is one clear line.

A checkpoint cut short by a full disk or a killed copy, or a file that is not what its
name says, would otherwise surface as a Rust panic from safetensors or a pickle error
deep inside torch. A safetensors file is checked against its own framing: an 8-byte
little-endian header length, a JSON header, and every tensor's byte range inside the
file and as long as its dtype and shape say.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Any

from fgtui.engine.errors import FgError

_ITEM_SIZES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}
_MAX_HEADER = 100 << 20  # safetensors' own limit on the header


def _bad(path: Path, what: str) -> FgError:
    return FgError(
        f"{path}: {what}",
        hint="the file is damaged or incomplete (a copy or save cut short?); "
        "use another checkpoint, or save the model again",
    )


def check_safetensors(path: str | os.PathLike) -> None:
    """Refuse a safetensors file whose header or data does not add up."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise _bad(path, f"only {size} bytes, too short for a safetensors file")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > _MAX_HEADER or 8 + header_len > size:
                raise _bad(path, f"header length {header_len} does not fit in a file of {size} bytes")
            header = json.loads(handle.read(header_len).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _bad(path, "its header is not valid JSON") from None
    except OSError as error:
        raise FgError(f"{path}: cannot be read ({error.strerror})") from None
    if not isinstance(header, dict):
        raise _bad(path, "its header is not a mapping of tensors")
    data_size = size - 8 - header_len
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, end = info["data_offsets"]
            shape, dtype = info["shape"], info["dtype"]
            expected = math.prod(shape) * _ITEM_SIZES[dtype]
        except (KeyError, TypeError, ValueError):
            raise _bad(path, f"tensor {name!r} has a malformed entry in the header") from None
        if not 0 <= begin <= end or end > data_size:
            raise _bad(path, f"tensor {name!r} lies past the end of the file ({end} > {data_size} data bytes)")
        if end - begin != expected:
            raise _bad(path, f"tensor {name!r} holds {end - begin} bytes, its {dtype} shape {shape} needs {expected}")


def check_weight_dir(directory: str | os.PathLike) -> None:
    """Check every safetensors file of a model or checkpoint directory."""
    for path in sorted(Path(directory).glob("*.safetensors")):
        check_safetensors(path)


def torch_load(path: str | os.PathLike, *, weights_only: bool = True) -> Any:
    """`torch.load` of a state file (optimizer, scheduler, RNG), a damaged file as one line."""
    import pickle
    import zipfile

    import torch

    path = Path(path)
    try:
        return torch.load(path, weights_only=weights_only, map_location="cpu")
    except FileNotFoundError:
        raise FgError(f"{path}: missing", hint="the checkpoint is incomplete; use another one") from None
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise _bad(path, f"cannot be loaded ({first[:160]})") from None
