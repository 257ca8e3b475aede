"""The model side of the OpenAI-compatible API: requests in, completions out.

`CompletionService` holds one model and its tokenizer and answers the bodies
of `/v1/completions` and `/v1/chat/completions` (OpenAI's field names), whole
or as a stream of chunks. It knows nothing of HTTP (http_server.py does);
a bad request raises `RequestError`, which the server turns into a 400.

One generation runs at a time (a lock): the model and its KV cache are not
shared between requests, and on one GPU batching requests is the next step,
not this one.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


class RequestError(ValueError):
    """A request the API refuses; its message goes back to the client."""


@dataclass
class Sampling:
    max_tokens: int
    temperature: float
    top_p: float | None
    top_k: int | None
    stop: list[str]
    seed: int | None


def _number(body: dict, key: str, default: Any, kind: type, low: float | None = None,
            high: float | None = None) -> Any:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
        raise RequestError(f"'{key}' must be a{'n integer' if kind is int else ' number'}, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise RequestError(f"'{key}' must be between {low} and {high}, got {value!r}")
    return kind(value)


def parse_sampling(body: dict, default_max_tokens: int) -> Sampling:
    """OpenAI's sampling fields, checked. Only n=1 is served."""
    if _number(body, "n", 1, int) != 1:
        raise RequestError("only n=1 is supported")
    stop = body.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise RequestError("'stop' must be a string or a list of non-empty strings")
    # Chat clients now send max_completion_tokens; older ones max_tokens.
    limit_key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    temperature = _number(body, "temperature", 1.0, float, 0.0, 2.0)
    top_p = _number(body, "top_p", None, float, 0.0, 1.0)
    if top_p == 0.0:  # only the likeliest token survives: OpenAI's top_p 0 is greedy decoding
        temperature, top_p = 0.0, None
    return Sampling(max_tokens=_number(body, limit_key, default_max_tokens, int, 1, 1 << 20),
                    temperature=temperature, top_p=top_p, top_k=_number(body, "top_k", None, int, 1, None),
                    stop=stop, seed=_number(body, "seed", None, int, 0, 2**63 - 1))


def _plain_message(message: Any) -> dict[str, str]:
    """{role, content} with content as text: a string, or OpenAI's list of text parts."""
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise RequestError("each message must be an object with a 'role' string")
    content = message.get("content")
    if isinstance(content, list):
        if not all(isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
                   for part in content):
            raise RequestError("only text content parts are supported")
        content = "".join(part["text"] for part in content)
    if not isinstance(content, str):
        raise RequestError("a message's 'content' must be a string or a list of text parts")
    return {"role": message["role"], "content": content}


class CompletionService:
    def __init__(self, model: Any, tokenizer: Any, model_name: str, *, default_max_tokens: int = 16) -> None:
        self.model, self.tokenizer, self.model_name = model, tokenizer, model_name
        self.default_max_tokens = default_max_tokens
        self.device = next(model.parameters()).device
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ requests
    def models(self) -> dict:
        return {"object": "list", "data": [{"id": self.model_name, "object": "model", "owned_by": "fgtui"}]}

    def completion_prompt(self, body: dict) -> str:
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise RequestError("'prompt' must be a string (one prompt per request)")
        return prompt

    def chat_prompt(self, body: dict) -> str:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("'messages' must be a non-empty list of {role, content}")
        messages = [_plain_message(m) for m in messages]
        if not getattr(self.tokenizer, "chat_template", None):
            raise RequestError(f"{self.model_name} has no chat template (a base model): use /v1/completions")
        from jinja2 import TemplateError

        try:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except TemplateError as error:  # e.g. a template that wants roles to alternate
            raise RequestError(f"the model's chat template refused the messages: {error}") from None

    def encode(self, prompt: str, sampling: Sampling) -> list[int]:
        """The prompt's token ids; refused when, with max_tokens, it would run past the
        model's positions (checked before a stream's headers go out)."""
        ids = self.tokenizer(prompt)["input_ids"]
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if limit and len(ids) + sampling.max_tokens > limit:
            raise RequestError(f"prompt ({len(ids)} tokens) + max_tokens ({sampling.max_tokens}) exceed "
                               f"the model's {limit} positions")
        return ids

    def complete(self, prompt_ids: list[int], sampling: Sampling, *, chat: bool = False) -> dict:
        """The whole answer as one response object."""
        text, finish, prompt_tokens, completion_tokens = "", "length", 0, 0
        for piece, finish_reason, prompt_tokens, completion_tokens in self._pieces(prompt_ids, sampling):
            text += piece
            finish = finish_reason or finish
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice.update(text=text, logprobs=None)
        return {**self._header(chat, chunk=False), "choices": [choice],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}

    def stream(self, prompt_ids: list[int], sampling: Sampling, *, chat: bool = False) -> Iterator[dict]:
        """The answer as chunks (server-sent events carry one each), the last with finish_reason."""
        header = self._header(chat, chunk=True)
        if chat:
            yield {**header, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
        for piece, finish, _, _ in self._pieces(prompt_ids, sampling):
            if piece:
                delta = {"delta": {"content": piece}} if chat else {"text": piece, "logprobs": None}
                yield {**header, "choices": [{"index": 0, **delta, "finish_reason": None}]}
            if finish:
                empty = {"delta": {}} if chat else {"text": "", "logprobs": None}
                yield {**header, "choices": [{"index": 0, **empty, "finish_reason": finish}]}

    # ------------------------------------------------------------------ generation
    def _header(self, chat: bool, chunk: bool) -> dict:
        kind = ("chat.completion.chunk" if chunk else "chat.completion") if chat else "text_completion"
        prefix = "chatcmpl" if chat else "cmpl"
        return {"id": f"{prefix}-{uuid.uuid4().hex[:24]}", "object": kind, "created": int(time.time()),
                "model": self.model_name}

    def _pieces(self, prompt_ids: list[int], sampling: Sampling) -> Iterator[tuple[str, str | None, int, int]]:
        """(new text, finish reason or None, prompt tokens, completion tokens) per sampled token.

        Text is released only up to where it can no longer become the start of a stop
        string, and decoding is of the whole completion so far (a token may be half a
        character), so streamed pieces add up to exactly the whole answer.
        """
        import torch

        from fgtui.engine.models.generate import ContinuationDecoder, stream_tokens

        ids = torch.tensor([prompt_ids], device=self.device)
        decode = ContinuationDecoder(self.tokenizer, prompt_ids)
        generator = None
        if sampling.seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(sampling.seed)
        eos = self.tokenizer.eos_token_id
        # Hold back a tail that could still grow into a stop string.
        hold = max((len(s) - 1 for s in sampling.stop), default=0)
        tokens: list[int] = []
        sent = 0
        with self._lock:
            for token in stream_tokens(self.model, ids, sampling.max_tokens, temperature=sampling.temperature,
                                       top_k=sampling.top_k, top_p=sampling.top_p,
                                       stop_token_ids=[eos] if eos is not None else None, generator=generator):
                if token == eos:
                    yield decode(tokens)[sent:], "stop", len(prompt_ids), len(tokens)
                    return
                tokens.append(token)
                text = decode(tokens)
                cut = min((text.find(s) for s in sampling.stop if s in text), default=-1)
                if cut >= 0:
                    yield text[sent:max(cut, sent)], "stop", len(prompt_ids), len(tokens)
                    return
                safe = len(text) - hold
                if text.endswith("\ufffd"):  # an unfinished character waits for its next byte
                    safe = min(safe, len(text) - 1)
                if safe > sent:
                    yield text[sent:safe], None, len(prompt_ids), len(tokens)
                    sent = safe
            yield decode(tokens)[sent:], "length", len(prompt_ids), len(tokens)
