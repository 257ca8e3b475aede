"""Reading OpenAI request bodies: every field checked, every refusal naming the field.

A body is bytes from the socket. It must be UTF-8 JSON (an object) with no
NaN/Infinity and no lone surrogates anywhere (Python's json accepts both; a
tokenizer then fails deep inside, which used to be a 500). Then each field of
`/v1/completions` or `/v1/chat/completions` is read into `CompletionJob`:
fields this server does not implement are refused by name rather than
silently ignored, because a client that sent them expects their effect.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any


class RequestError(ValueError):
    """A request the API refuses: status, message and the OpenAI error fields."""

    def __init__(
        self,
        message: str,
        param: str | None = None,
        *,
        status: int = 400,
        kind: str = "invalid_request_error",
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.param, self.status, self.kind, self.code = param, status, kind, code

    def payload(self) -> dict:
        return {"error": {"message": str(self), "type": self.kind, "param": self.param, "code": self.code}}


# Fields read by both endpoints, then each endpoint's own. `user` is accepted and
# unused: it only labels the caller for the provider's abuse tracking.
_COMMON = {
    "model",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "n",
    "stop",
    "seed",
    "stream",
    "stream_options",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "user",
    "best_of",
}
COMPLETION_FIELDS = _COMMON | {"prompt", "logprobs", "echo", "suffix"}
CHAT_FIELDS = _COMMON | {"messages", "logprobs", "top_logprobs", "max_completion_tokens", "response_format"}
# Named with their reason so the 400 says what to do instead.
_REFUSED = {
    "suffix": "no fill-in-the-middle: send the text before the gap as 'prompt'",
    "tools": "no tool calling",
    "tool_choice": "no tool calling",
    "functions": "no function calling",
    "function_call": "no function calling",
    "parallel_tool_calls": "no tool calling",
}
MAX_TOP_LOGPROBS = 20
MAX_CHOICES = 128  # prompts x n in one request


def parse_body(raw: bytes) -> dict:
    """The JSON object of a request body, or RequestError naming what is wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestError(f"the body is not UTF-8 (byte {error.start}): send JSON encoded as UTF-8") from None
    try:
        body = json.loads(text) if text.strip() else None
    except RecursionError:
        raise RequestError("the body nests too deeply") from None
    except ValueError as error:
        raise RequestError(f"the body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object")
    _check_values(body, "")
    return body


def _check_values(value: Any, path: str) -> None:
    """Refuse non-finite numbers and lone surrogates anywhere, naming where."""
    if isinstance(value, float) and not math.isfinite(value):
        raise RequestError(f"'{path}' must be a finite number, got {value}", path)
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, path or "body")
            _check_values(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_values(item, f"{path}[{index}]")


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise RequestError(
            f"'{path}' holds a lone surrogate (\\u{ord(text[error.start]):04x} at character "
            f"{error.start}): not valid Unicode",
            path,
        ) from None


@dataclass
class SequenceParams:
    """How one choice is sampled (the engine reads these)."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0: no limit
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict[int, float] = field(default_factory=dict)
    seed: int | None = None
    top_logprobs: int | None = None  # None: no logprobs; 0: the chosen token's only


@dataclass
class CompletionJob:
    """One request, read: prompts as token ids, and how to answer."""

    chat: bool
    prompts: list[list[int]]
    prompt_texts: list[str]
    n: int
    params: SequenceParams
    stop: list[str]
    stream: bool
    include_usage: bool
    echo: bool = False
    logprobs: int | None = None  # completions: top-k count; chat: top_logprobs when logprobs is true


def _number(body: dict, key: str, default: Any, kind: type, low: float | None = None, high: float | None = None) -> Any:
    value = body.get(key)
    if value is None:
        return default
    # Integers are compared as they are: float() of a 400-digit JSON integer overflows.
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (kind is int and isinstance(value, float) and not value.is_integer())
    ):
        raise RequestError(f"'{key}' must be a{'n integer' if kind is int else ' number'}, got {value!r}", key)
    if (low is not None and value < low) or (high is not None and value > high):
        raise RequestError(f"'{key}' must be between {low} and {high}, got {value!r}", key)
    return kind(value)


def flag(body: dict, key: str) -> bool:
    value = body.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RequestError(f"'{key}' must be true or false, got {value!r}", key)
    return value


def check_fields(body: dict, chat: bool) -> None:
    """Refuse fields this server would otherwise ignore."""
    allowed = CHAT_FIELDS if chat else COMPLETION_FIELDS
    for key, value in body.items():
        if value is None:
            continue  # clients send null for "not given"
        if key in _REFUSED:
            raise RequestError(f"'{key}' is not supported: {_REFUSED[key]}", key)
        if key not in allowed:
            raise RequestError(f"unsupported parameter '{key}'", key)
    fmt = body.get("response_format")
    if fmt is not None and fmt != {"type": "text"}:
        raise RequestError(
            '\'response_format\' is not supported except {"type": "text"}: no JSON mode', "response_format"
        )


def read_sampling(body: dict, vocab_size: int, default_max_tokens: int, *, echo: bool) -> SequenceParams:
    limit_key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    # max_tokens 0 with echo scores the prompt alone (evaluation harnesses do this).
    max_tokens = _number(body, limit_key, default_max_tokens, int, 0 if echo else 1, 1 << 20)
    temperature = _number(body, "temperature", 1.0, float, 0.0, 2.0)
    top_p = _number(body, "top_p", 1.0, float, 0.0, 1.0)
    if top_p == 0.0:  # only the likeliest token survives: OpenAI's top_p 0 is greedy decoding
        temperature, top_p = 0.0, 1.0
    bias = body.get("logit_bias") or {}
    if not isinstance(bias, dict):
        raise RequestError("'logit_bias' must be an object mapping token ids to numbers", "logit_bias")
    logit_bias: dict[int, float] = {}
    for key, value in bias.items():
        if not re.fullmatch(r"\s*-?[0-9]{1,12}\s*", key) or not 0 <= int(key) < vocab_size:
            raise RequestError(f"'logit_bias' key {key!r} is not a token id (0 to {vocab_size - 1})", "logit_bias")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not -100 <= value <= 100:
            raise RequestError(
                f"'logit_bias' value for {key} must be a number from -100 to 100, got {value!r}", "logit_bias"
            )
        logit_bias[int(key)] = float(value)
    return SequenceParams(
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        top_k=_number(body, "top_k", 0, int, 0, None),
        presence_penalty=_number(body, "presence_penalty", 0.0, float, -2.0, 2.0),
        frequency_penalty=_number(body, "frequency_penalty", 0.0, float, -2.0, 2.0),
        logit_bias=logit_bias,
        seed=_number(body, "seed", None, int, -(2**63), 2**63 - 1),
    )


def read_stop(body: dict) -> list[str]:
    stop = body.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or len(stop) > 16 or not all(isinstance(s, str) and s for s in stop):
        raise RequestError("'stop' must be a string or a list of up to 16 non-empty strings", "stop")
    return stop


def read_n(body: dict, prompts: int) -> int:
    n = _number(body, "n", 1, int, 1, MAX_CHOICES)
    best_of = _number(body, "best_of", n, int, 1, MAX_CHOICES)
    if best_of != n:
        raise RequestError(
            "'best_of' other than n is not supported: ask for n choices and rank them yourself", "best_of"
        )
    if n * prompts > MAX_CHOICES:
        raise RequestError(f"{prompts} prompts x n={n} is over {MAX_CHOICES} choices in one request", "n")
    return n


def read_stream(body: dict) -> tuple[bool, bool]:
    stream = flag(body, "stream")
    options = body.get("stream_options")
    if options is None:
        return stream, False
    if not stream:
        raise RequestError("'stream_options' needs stream: true", "stream_options")
    if not isinstance(options, dict) or set(options) - {"include_usage"}:
        raise RequestError("'stream_options' supports only include_usage", "stream_options")
    return stream, flag(options, "include_usage") if "include_usage" in options else False


def read_completion_logprobs(body: dict) -> int | None:
    return _number(body, "logprobs", None, int, 0, MAX_TOP_LOGPROBS)


def read_chat_logprobs(body: dict) -> int | None:
    wanted = flag(body, "logprobs")
    top = _number(body, "top_logprobs", None, int, 0, MAX_TOP_LOGPROBS)
    if top is not None and not wanted:
        raise RequestError("'top_logprobs' needs logprobs: true", "top_logprobs")
    return (top or 0) if wanted else None


def completion_prompts(body: dict, vocab_size: int) -> list[str | list[int]]:
    """OpenAI's prompt forms: a string, a list of strings, a list of token ids, a list of those lists."""
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt:
        if all(isinstance(p, str) for p in prompt):
            return list(prompt)
        if all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
            return [_token_ids(prompt, vocab_size, "prompt")]
        if all(isinstance(p, list) and p for p in prompt):
            return [_token_ids(p, vocab_size, f"prompt[{i}]") for i, p in enumerate(prompt)]
    raise RequestError(
        "'prompt' must be a string, a list of strings, a list of token ids or a list of non-empty lists of token ids",
        "prompt",
    )


def _token_ids(ids: list, vocab_size: int, path: str) -> list[int]:
    for index, token in enumerate(ids):
        if isinstance(token, bool) or not isinstance(token, int) or not 0 <= token < vocab_size:
            raise RequestError(f"'{path}[{index}]' is not a token id (0 to {vocab_size - 1}): {token!r}", path)
    return list(ids)


def chat_messages(body: dict) -> list[dict[str, str]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list of {role, content}", "messages")
    return [_plain_message(m, f"messages[{i}]") for i, m in enumerate(messages)]


def _plain_message(message: Any, path: str) -> dict[str, str]:
    """{role, content} with content as text: a string, or OpenAI's list of text parts."""
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise RequestError(f"'{path}' must be an object with a 'role' string", path)
    content = message.get("content")
    if isinstance(content, list):
        if not all(
            isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
            for part in content
        ):
            raise RequestError(f"'{path}.content': only text content parts are supported", f"{path}.content")
        content = "".join(part["text"] for part in content)
    if not isinstance(content, str):
        raise RequestError(f"'{path}.content' must be a string or a list of text parts", f"{path}.content")
    return {"role": message["role"], "content": content}
