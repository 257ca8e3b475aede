"""Save and load models as Hugging Face directories (safetensors shards + config.json).

A directory written by `save_pretrained` loads with
`transformers.AutoModelForCausalLM.from_pretrained(dir)`, and an HF Llama /
Mistral / Qwen3 directory loads with `load_pretrained`. Loading builds the
model on the meta device and reads each tensor memory-mapped straight onto
the target device (`safe_open(..., device=...)`), so no full host copy is
made; derived buffers (RoPE frequencies), which no checkpoint holds, are then
rebuilt explicitly on that device.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch

from fgtui.engine.errors import FgError
from fgtui.engine.weight_files import check_safetensors
from fgtui.engine.models.build import build_causal_lm, resolve_dtype
from fgtui.engine.models.config import CausalLMConfig
from fgtui.engine.models.model import CausalLM

INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"
# Derived from the config; older HF checkpoints stored them per layer.
_DERIVED = re.compile(r"rotary_emb\.inv_freq$")
_SIZE_UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "B": 1}


def parse_size(size: int | str) -> int:
    """Bytes from an int or a string like "5GB", "500MiB"."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)\s*", str(size), flags=re.IGNORECASE)
    if not match:
        raise FgError(f"cannot read size {size!r}", hint='write e.g. "5GB" or "500MiB"')
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).upper()])


FGTUI_MODEL_TYPE = "fgtui"


def hf_incompatibility(model: CausalLM) -> str | None:
    """Why `transformers` could not load this model, or None when it can.

    A model is HF-loadable when its config is expressible (see
    `CausalLMConfig.to_hf_dict`) and its module tree is the default one
    for that config (no swapped-in layer, norm or attention classes).
    """
    try:
        model.config.to_hf_dict()
    except FgError as exc:
        return exc.message
    reference = build_causal_lm(model.config, device="meta")
    ours = [(name, type(m)) for name, m in model.named_modules()]
    theirs = [(name, type(m)) for name, m in reference.named_modules()]
    if ours != theirs:
        diff = next(((a, b) for a, b in zip(ours, theirs) if a != b), None)
        where = f" ({diff[0][0] or 'root'}: {diff[0][1].__name__} instead of {diff[1][1].__name__})" if diff else ""
        return "custom module composition" + where
    return None


def _tensors_to_save(model: CausalLM) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)  # HF re-ties it from embed_tokens
    return {name: t for name, t in state.items() if not _DERIVED.search(name)}


def save_pretrained(
    model: CausalLM,
    directory: str | Path,
    tokenizer: Any = None,
    max_shard_size: int | str = "5GB",
) -> Path:
    """Write safetensors shard(s) (+ index when sharded), config.json, generation_config.json
    and, when given, the tokenizer files. Returns the directory."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    reason = hf_incompatibility(model)
    if reason is None:
        hf_config = model.config.to_hf_dict()
    else:
        # Still a complete checkpoint, but under a model_type transformers refuses
        # loudly, instead of a llama config.json it would load into the wrong model.
        hf_config = {
            "model_type": FGTUI_MODEL_TYPE,
            "fgtui_config": model.config.to_dict(),
            "not_hf_loadable_because": reason,
        }
    limit = parse_size(max_shard_size)
    shards: list[dict[str, torch.Tensor]] = [{}]
    shard_bytes = 0
    total = 0
    for name, tensor in _tensors_to_save(model).items():
        size = tensor.numel() * tensor.element_size()
        if shards[-1] and shard_bytes + size > limit:
            shards.append({})
            shard_bytes = 0
        shards[-1][name] = tensor
        shard_bytes += size
        total += size
    for stale in list(directory.glob("model*.safetensors")) + [directory / INDEX_NAME]:
        stale.unlink(missing_ok=True)
    weight_map: dict[str, str] = {}
    for i, shard in enumerate(shards, start=1):
        filename = SINGLE_NAME if len(shards) == 1 else f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(
            {k: v.detach().to("cpu").contiguous() for k, v in shard.items()},
            directory / filename,
            metadata={"format": "pt"},
        )
        weight_map.update(dict.fromkeys(shard, filename))
    if len(shards) > 1:
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (directory / INDEX_NAME).write_text(json.dumps(index, indent=2, sort_keys=True))
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    hf_config.update(dtype=dtype, torch_dtype=dtype)
    special = _special_token_ids(model.config, tokenizer)
    (hf_config.get("fgtui_config") or hf_config).update(special)
    (directory / "config.json").write_text(json.dumps(hf_config, indent=2))
    generation = {k: v for k, v in special.items() if v is not None}
    (directory / "generation_config.json").write_text(json.dumps(generation, indent=2))
    # safetensors creates its files private (0600); give them the mode the umask gives
    # config.json, so a shared model directory is readable like its other files.
    mode = (directory / "config.json").stat().st_mode & 0o777
    for filename in set(weight_map.values()):
        os.chmod(directory / filename, mode)
    if tokenizer is not None:
        _save_tokenizer(tokenizer, directory)
    return directory


def _special_token_ids(config: Any, tokenizer: Any) -> dict[str, Any]:
    """bos/eos/pad ids for config.json and generation_config.json: the tokenizer's when
    there is one (its ids are what the data was made of; transformers' generate() stops
    on the eos id written here), else the model config's."""
    ids = {}
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(tokenizer, key, None) if tokenizer is not None else None
        ids[key] = value if value is not None else getattr(config, key)
    return ids


def _save_tokenizer(tokenizer: Any, directory: Path) -> None:
    if hasattr(tokenizer, "save_pretrained"):
        tokenizer.save_pretrained(str(directory))
    elif hasattr(tokenizer, "to_str"):  # a bare `tokenizers.Tokenizer`
        (directory / "tokenizer.json").write_text(tokenizer.to_str())
    else:
        raise FgError(
            f"cannot save tokenizer of type {type(tokenizer).__name__}",
            hint="pass a transformers tokenizer or a tokenizers.Tokenizer",
        )


def read_config(directory: str | Path, **overrides: Any) -> tuple[CausalLMConfig, dict[str, Any]]:
    """The fgtui config of an HF model directory, plus the raw config.json dict."""
    path = Path(directory) / "config.json"
    if not path.is_file():
        raise FgError(f"{directory}: no config.json", hint="point at a Hugging Face model directory")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise FgError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if data.get("model_type") == FGTUI_MODEL_TYPE:
        fields = {**data["fgtui_config"], **overrides}
        return CausalLMConfig(**fields), data
    return CausalLMConfig.from_hf_dict(data, **overrides), data


def load_pretrained(
    directory: str | Path,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | str | None = None,
    **config_overrides: Any,
) -> CausalLM:
    """Load an HF-format directory into the fgtui model on `device`.

    `dtype` defaults to the dtype recorded in config.json (float32 if none).
    `config_overrides` replace config fields, e.g. `attn_implementation="flex_attention"`.
    """
    config, raw = read_config(directory, **config_overrides)
    if dtype is None:
        dtype = raw.get("dtype") or raw.get("torch_dtype") or "float32"
    model = build_causal_lm(config, device="meta", dtype=resolve_dtype(dtype))
    load_weights(model, directory, device=device)
    return model


def weight_files(directory: Path) -> dict[str, list[str]]:
    """file name -> tensor names it holds."""
    from safetensors import safe_open

    index = directory / INDEX_NAME
    if index.is_file():
        files: dict[str, list[str]] = {}
        for name, filename in json.loads(index.read_text())["weight_map"].items():
            files.setdefault(filename, []).append(name)
        for filename in files:
            if not (directory / filename).is_file():
                raise FgError(
                    f"{directory}: {filename}, named in {INDEX_NAME}, is missing", hint="copy the whole model directory"
                )
            check_safetensors(directory / filename)
        return files
    candidates = sorted(directory.glob("*.safetensors"))
    if not candidates:
        hint = "convert it to safetensors first" if any(directory.glob("*.bin")) else "save the model first"
        raise FgError(f"{directory}: no .safetensors weights", hint=hint)
    for path in candidates:
        check_safetensors(path)  # a damaged file is one line, not a panic inside safetensors
    files = {}
    for path in candidates:
        with safe_open(str(path), framework="pt") as handle:
            files[path.name] = list(handle.keys())
    return files


@torch.no_grad()
def load_weights(model: CausalLM, directory: str | Path, device: torch.device | str | None = None) -> CausalLM:
    """Load safetensors weights into `model` after checking names and shapes.

    A meta-device model gets the tensors assigned (memory-mapped onto `device`,
    cast to the model's dtype); a materialized one has them copied in place.
    Any missing, unexpected or mis-shaped tensor refuses the whole load.
    """
    from safetensors import safe_open

    directory = Path(directory)
    files = weight_files(directory)
    expected = {name: t for name, t in model.state_dict().items() if not _DERIVED.search(name)}
    tied = model.config.tie_word_embeddings
    if tied:
        expected.pop("lm_head.weight", None)
    on_meta = any(p.is_meta for p in model.parameters())
    if device is None:
        device = "cpu" if on_meta else next(model.parameters()).device
    found: dict[str, tuple[str, tuple[int, ...]]] = {}
    for filename, names in files.items():
        with safe_open(str(directory / filename), framework="pt") as handle:
            for name in names:
                if _DERIVED.search(name) or (tied and name == "lm_head.weight"):
                    continue
                found[name] = (filename, tuple(handle.get_slice(name).get_shape()))
    _check_names_and_shapes(directory, expected, found)

    state: dict[str, torch.Tensor] = {}
    for filename in files:
        with safe_open(str(directory / filename), framework="pt", device=str(device)) as handle:
            for name, (owner, _) in found.items():
                if owner == filename:
                    state[name] = handle.get_tensor(name).to(expected[name].dtype)
    model.load_state_dict(state, strict=False, assign=on_meta)
    model.tie_weights()
    model.reset_buffers(device)
    leftover = [n for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_meta]
    if leftover:
        raise FgError(f"{directory}: after loading, still uninitialized: {', '.join(leftover[:5])}")
    return model


def _check_names_and_shapes(
    directory: Path, expected: dict[str, torch.Tensor], found: dict[str, tuple[str, tuple[int, ...]]]
) -> None:
    missing = [n for n in expected if n not in found]
    unexpected = [n for n in found if n not in expected]
    wrong = [
        f"{n} {list(found[n][1])} vs model {list(expected[n].shape)}"
        for n in expected
        if n in found and tuple(expected[n].shape) != found[n][1]
    ]
    if not (missing or unexpected or wrong):
        return
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong)):
        if items:
            more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
            parts.append(f"{label}: {', '.join(items[:5])}{more}")
    raise FgError(
        f"{directory}: weights do not match the model; " + "; ".join(parts),
        hint="check that config.json describes these weights",
    )
