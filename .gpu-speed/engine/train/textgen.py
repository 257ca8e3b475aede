"""Text samples generated from prompts at evaluation (Forgather's TextgenCallback), into the log stream."""

from __future__ import annotations

import os
from typing import Any

from fgtui.engine.errors import FgError
from fgtui.engine.train.callbacks import TrainerCallback


def sample_text(
    model: Any,
    tokenizer: Any,
    prompt: str,
    *,
    max_new_tokens: int = 64,
    temperature: float = 0.8,
    top_k: int | None = 50,
    generator: Any = None,
    max_context: int | None = None,
) -> str:
    """Complete `prompt` by sampling, recomputing the whole context each token.

    No KV cache: this runs a few times per evaluation on short prompts, and working
    from plain `model(input_ids).logits` means it needs nothing from the model but
    its forward. Uses its own generator so training's RNG stream is untouched.
    """
    import torch

    device = next(model.parameters()).device
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(device)
    prompt_len = ids.shape[1]
    eos = getattr(tokenizer, "eos_token_id", None)
    with torch.no_grad():
        for _ in range(max_new_tokens):
            context = ids if max_context is None else ids[:, -max_context:]
            logits = model(input_ids=context).logits[:, -1, :].float()
            if temperature <= 0:
                next_id = logits.argmax(dim=-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k:
                    kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1, None]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                probs = torch.softmax(logits, dim=-1)
                next_id = torch.multinomial(probs.cpu(), 1, generator=generator).to(device)
            ids = torch.cat([ids, next_id], dim=1)
            if eos is not None and int(next_id) == eos:
                break
    from fgtui.engine.models.generate import decode_continuation

    return decode_continuation(tokenizer, ids[0, :prompt_len].tolist(), ids[0, prompt_len:].tolist())


def load_prompts(prompts: list[str] | str) -> list[str]:
    """A list of prompts, or the path of a YAML file holding one."""
    if isinstance(prompts, (list, tuple)):
        return [str(p) for p in prompts]
    import yaml

    path = os.fspath(prompts)
    if not os.path.isfile(path):
        raise FgError(f"prompts file {path} not found")
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, list) or not all(isinstance(p, str) for p in data):
        raise FgError(f"prompts file {path} must hold a YAML list of strings")
    return data


class TextgenCallback(TrainerCallback):
    """After every `every_n_evals`-th evaluation, rank 0 completes each prompt and logs a
    "sample" record. `tokenizer` defaults to the trainer's."""

    def __init__(
        self,
        prompts: list[str] | str,
        *,
        tokenizer: Any = None,
        max_new_tokens: int = 64,
        temperature: float = 0.8,
        top_k: int | None = 50,
        every_n_evals: int = 1,
        seed: int = 0,
        max_context: int | None = None,
    ) -> None:
        self.prompts = load_prompts(prompts)
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_k = top_k
        self.every_n_evals = max(1, every_n_evals)
        self.seed = seed
        self.max_context = max_context
        self.evals = 0

    def on_evaluate(self, trainer: Any, eval_loss: float) -> None:
        import torch

        self.evals += 1
        if trainer.runtime.rank != 0 or (self.evals - 1) % self.every_n_evals:
            return
        tokenizer = self.tokenizer or trainer.tokenizer
        if tokenizer is None:
            raise FgError("TextgenCallback needs a tokenizer", hint="pass tokenizer= to it or to the trainer")
        model = trainer.unwrapped_model
        was_training = model.training
        model.eval()
        generator = torch.Generator().manual_seed(self.seed + trainer.state.global_step)
        try:
            for prompt in self.prompts:
                with trainer.autocast():
                    text = sample_text(
                        model,
                        tokenizer,
                        prompt,
                        max_new_tokens=self.max_new_tokens,
                        temperature=self.temperature,
                        top_k=self.top_k,
                        generator=generator,
                        max_context=self.max_context,
                    )
                trainer.runtime.log_writer.write("sample", trainer.state.global_step, prompt=prompt, text=text)
        finally:
            model.train(was_training)
