"""Model directories fgtui's own decoder does not load, run through transformers.

fgtui trains any transformers causal LM (GPT-2 from `from_config`, Forgather's
generated models, ...), but its CausalLM reads only the Llama family. For
`fgtui generate` such a directory is loaded with transformers and wrapped in
`TransformersLM`, which answers the calls fgtui's sampling loop makes
(`new_cache()`, then `model(ids, attention_mask=, position_ids=, past_key_values=)`
returning `.logits`), so sampling, stop tokens and seeds behave as for native models.

Code shipped inside the directory (config.json `auto_map`, as Forgather writes its
generated model) is imported only when the user passes `--trust-remote-code`: it is
arbitrary Python, the same rule transformers follows.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fgtui.engine.errors import FgError
from fgtui.engine.models.config import CausalLMConfig

TRUST_FLAG = "--trust-remote-code"


def read_config_json(directory: Path) -> dict[str, Any]:
    path = directory / "config.json"
    if not path.is_file():
        raise FgError(f"{directory}: no config.json", hint="point at a Hugging Face model directory")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise FgError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None


def native_refusal(directory: Path) -> str | None:
    """Why fgtui's CausalLM cannot load `directory`'s config, or None when it can."""
    from fgtui.engine.models.hf_io import FGTUI_MODEL_TYPE

    data = read_config_json(directory)
    if data.get("model_type") == FGTUI_MODEL_TYPE:
        return None
    try:
        CausalLMConfig.from_hf_dict(data)
    except FgError as exc:
        return exc.message
    return None


def auto_map_modules(auto_map: dict[str, Any]) -> list[str]:
    """The modules config.json's auto_map names, each once ("llama" of "llama.LlamaModel";
    "repo--module" for code in another Hub repository)."""
    modules: list[str] = []
    for reference in auto_map.values():
        for one in reference if isinstance(reference, (list, tuple)) else [reference]:
            if isinstance(one, str) and "." in one and (module := one.rsplit(".", 1)[0]) not in modules:
                modules.append(module)
    return modules


def remote_code_files(directory: Path, auto_map: dict[str, Any]) -> list[str]:
    """The .py files config.json's auto_map names, as paths a user can open."""
    files = []
    for module in auto_map_modules(auto_map):
        if "--" in module:  # code from another Hub repository
            files.append(module)
            continue
        path = directory / f"{module.replace('.', '/')}.py"
        shown = str(path.resolve()) if path.exists() else str(path)
        if shown not in files:
            files.append(shown)
    return files


def check_remote_code(directory: Path, trust_remote_code: bool) -> None:
    """Refuse a directory whose model is code shipped with it, unless the user trusts it."""
    auto_map = read_config_json(directory).get("auto_map")
    if not auto_map or trust_remote_code:
        return
    files = remote_code_files(directory, auto_map) or ["the code config.json's auto_map names"]
    raise FgError(
        f"{directory}: its model is Python code shipped with it ({', '.join(files)}); fgtui does not run it unasked",
        hint=f"read it, then pass {TRUST_FLAG} to import and run it",
    )


def load_for_decoding(
    directory: Path,
    device: torch.device | str = "cpu",
    dtype: str | None = None,
    trust_remote_code: bool = False,
) -> torch.nn.Module:
    """The model in `directory` as fgtui's sampling loop takes it: fgtui's CausalLM when its
    decoder reads the config, else transformers' model behind `TransformersLM`."""
    if native_refusal(directory) is None:
        from fgtui.engine.models.hf_io import load_pretrained, read_config

        # A model trained with attn_implementation=varlen saves that choice, but varlen serves
        # packed training rows only and never a KV cache: decoding takes auto's kernels.
        trained_with = read_config(directory)[0].attn_implementation
        overrides = {"attn_implementation": "auto"} if trained_with == "varlen" else {}
        return load_pretrained(directory, device=device, dtype=dtype, **overrides)
    return load_transformers_lm(directory, device, dtype, trust_remote_code=trust_remote_code)


def load_transformers_lm(
    directory: Path,
    device: torch.device | str = "cpu",
    dtype: str | None = None,
    trust_remote_code: bool = False,
) -> TransformersLM:
    """`directory` loaded with transformers (weights as saved unless `dtype`), on `device`."""
    from fgtui.engine.models.hf_io import weight_files

    check_remote_code(directory, trust_remote_code)
    data = read_config_json(directory)
    weight_files(directory)  # no or damaged weights: one line, before any model code runs
    if data.get("auto_map"):
        # Forgather's generated sources import typing.override (Python 3.12) and may import
        # forgather.*: the same environment fgtui trained them in.
        from fgtui.engine.compat.forgather.importer import install

        install()
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch_dtype = getattr(torch, dtype) if dtype else "auto"
    try:
        if data.get("auto_map"):
            # Through AutoConfig, and with the class registered as a causal LM, so that
            # `save_pretrained` (fgtui convert) copies the code and maps AutoModelForCausalLM.
            config = AutoConfig.from_pretrained(str(directory), trust_remote_code=True)
            model_class = _remote_class(directory, data["auto_map"])
            # Forgather's generated model code, adapted to the installed transformers.
            from fgtui.engine.compat.forgather.model_code import adapt_model_code

            adapt_model_code(model_class)
            model_class.register_for_auto_class("AutoModelForCausalLM")
            model = model_class.from_pretrained(str(directory), config=config, dtype=torch_dtype)
        else:
            AutoConfig.from_pretrained(str(directory))  # an unknown model_type fails here, in one line
            model = AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch_dtype)
    except (ValueError, OSError, KeyError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FgError(
            f"{directory}: transformers cannot load it: {first}",
            hint="fgtui's decoder loads llama, mistral, qwen3; other models need a transformers that knows them",
        ) from None
    return TransformersLM(model.to(device).eval())


def _remote_class(directory: Path, auto_map: dict[str, Any]) -> type:
    """The model class auto_map names: the causal-LM entry, else the plain AutoModel one
    (Forgather's generated code maps only AutoModel, to a class that has the head)."""
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    reference = auto_map.get("AutoModelForCausalLM") or auto_map.get("AutoModel")
    if reference is None:
        raise FgError(
            f"{directory}: config.json's auto_map names no AutoModelForCausalLM or AutoModel class",
            hint="give a causal language model directory",
        )
    if isinstance(reference, (list, tuple)):
        reference = reference[0]
    return get_class_from_dynamic_module(reference, str(directory))


@dataclass
class TransformersCache:
    """The cache transformers hands back after each forward, kept for the next one."""

    past: Any = None


class TransformersLM(torch.nn.Module):
    """A transformers causal LM behind the interface fgtui's sampling loop calls."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.config = model.config
        # transformers 5.24 renamed the argument `past_key_values` to `cache` (the old name
        # warns, and goes in 5.40); remote code written earlier knows only the old one.
        parameters = inspect.signature(model.forward).parameters
        self._cache_argument = "cache" if "cache" in parameters else "past_key_values"
        self._takes_logits_to_keep = "logits_to_keep" in parameters

    @property
    def architecture(self) -> str:
        return type(self.model).__name__

    def new_cache(self) -> TransformersCache:
        return TransformersCache()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values: TransformersCache | None = None,
        logits_to_keep: int = 0,
    ) -> Any:
        """`logits_to_keep` > 0: logits of the last that many positions only (0: all), by the
        model itself where it takes the argument, else sliced after it."""
        extra: dict[str, Any] = {self._cache_argument: past_key_values.past if past_key_values is not None else None}
        if logits_to_keep and self._takes_logits_to_keep:
            extra["logits_to_keep"] = logits_to_keep
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=past_key_values is not None,
            return_dict=True,
            **extra,
        )
        if getattr(out, "logits", None) is None:
            raise FgError(
                f"{self.architecture} returned no logits: it is not a causal language model with a head",
                hint="give the directory of a causal LM",
            )
        if past_key_values is not None:
            # A mapping read of the name the output holds: 5.24 outputs warn on any read of
            # `past_key_values` (attribute or key), so it is read only where "cache" is absent.
            returned = out["cache"] if "cache" in out else out.get("past_key_values")
            if returned is None:
                raise FgError(f"{self.architecture} returned no key/value cache; fgtui's decoding needs one")
            past_key_values.past = returned
        if logits_to_keep and out.logits.shape[1] > logits_to_keep:
            out["logits"] = out.logits[:, -logits_to_keep:]
        return out
