"""Conversations tokenized with a chat template, with the loss on the assistant's turns only.

A conversation is a list of `{"role", "content"}` messages. The chat template (Jinja, as
Hugging Face tokenizers and Forgather's chat_templates/ write them) renders it to text;
the assistant's part of that text is found by rendering prefixes of the conversation:
assistant turn i spans from the end of `messages[:i]` rendered with the generation
prompt (the text a model is given before it answers) to the end of `messages[:i + 1]`.
So the span is exactly what the model would have to generate — the reply and the
template's end-of-turn marker — whatever the template's markup. Tokens whose first
character lies in a span keep their id as label; every other label is -100.

Templates that render a conversation differently from the concatenation of its turns
(e.g. one that moves the system prompt) have no such spans: they are refused, naming
the turn, rather than masked wrongly.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from fgtui.engine.errors import FgError

IGNORE_INDEX = -100


@functools.lru_cache(maxsize=16)
def _compile(source: str) -> Any:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # The environment transformers renders chat templates in: same whitespace rules,
    # same helpers, so a template renders here as it does for apply_chat_template.
    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message: str) -> None:
        raise FgError(f"the chat template refused the conversation: {message}")

    environment.globals["raise_exception"] = raise_exception
    environment.filters["tojson"] = _tojson
    return environment.from_string(source)


def _tojson(value: Any, indent: int | None = None) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, indent=indent)


def template_source(chat_template: str | None, tokenizer: Any = None) -> str:
    """The template text: `chat_template` as a path to a file (Forgather's --chat-template)
    or as the template itself, else the tokenizer's own."""
    if chat_template:
        path = Path(chat_template).expanduser()
        if "{" not in chat_template and path.is_file():
            return path.read_text()
        if "{" in chat_template:
            return chat_template
        raise FgError(f"chat template {chat_template} is neither a file nor template text")
    own = getattr(tokenizer, "chat_template", None)
    if isinstance(own, str) and own:
        return own
    raise FgError(
        "no chat template: the tokenizer has none and none was given",
        hint="pass chat_template (a .jinja file, e.g. Forgather's chat_templates/chatml.jinja)",
    )


def render(source: str, messages: list[dict], add_generation_prompt: bool = False, **template_args: Any) -> str:
    return _compile(source).render(messages=messages, add_generation_prompt=add_generation_prompt, **template_args)


def assistant_spans(source: str, messages: list[dict], **template_args: Any) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant turns."""
    text = render(source, messages, **template_args)
    spans = []
    for i, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        prompt = render(source, messages[:i], add_generation_prompt=True, **template_args)
        through = render(source, messages[: i + 1], **template_args)
        if not (through.startswith(prompt) and text.startswith(through)):
            raise FgError(
                f"the chat template does not render turn {i} (assistant) as a continuation of the turns "
                "before it, so its tokens cannot be told apart from the prompt's",
                hint="use a template that renders each message after the previous ones (e.g. chatml.jinja)",
            )
        if len(through) > len(prompt):
            spans.append((len(prompt), len(through)))
    return text, spans


def tokenize_conversation(
    messages: list[dict],
    tokenizer: Any,
    chat_template: str | None = None,
    *,
    template_args: dict | None = None,
    assistant_only: bool = True,
    max_length: int | None = None,
    add_special_tokens: bool = True,
) -> dict[str, list[int]]:
    """`input_ids` of the rendered conversation and its `labels`: the ids themselves on
    the assistant's turns (everywhere when `assistant_only` is False), -100 elsewhere.
    Needs a fast tokenizer (character offsets)."""
    source = template_source(chat_template, tokenizer)
    arguments = {"bos_token": tokenizer.bos_token, "eos_token": tokenizer.eos_token, **(template_args or {})}
    text, spans = assistant_spans(source, messages, **arguments)
    if not getattr(tokenizer, "is_fast", False):
        raise FgError(
            f"assistant-only labels need a fast tokenizer (character offsets); {type(tokenizer).__name__} is not",
            hint="load the tokenizer with use_fast=True",
        )
    encoded = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    if assistant_only:
        labels = [
            token if end > start and any(a <= start < b for a, b in spans) else IGNORE_INDEX
            for token, (start, end) in zip(ids, encoded["offset_mapping"])
        ]
    else:
        labels = list(ids)
    if max_length is not None:
        ids, labels = ids[:max_length], labels[:max_length]
    return {"input_ids": ids, "labels": labels}


def chat_tokenize_map_fn(
    batch: dict[str, list],
    tokenizer: Any,
    feature: str = "messages",
    chat_template: str | None = None,
    template_args: dict | None = None,
    assistant_only: bool = True,
    max_length: int | None = None,
    add_special_tokens: bool = True,
    truncation: bool = True,
) -> dict[str, list]:
    """A batched `datasets.map` function (Forgather's map_fn convention: the tokenizer and
    the feature name come as keyword arguments, with the tokenizer options of the
    config's preprocess_args) turning conversations into input_ids and labels; rows are
    cut to `max_length` when `truncation` is on, as the tokenizer would cut them."""
    rows = [
        tokenize_conversation(
            messages,
            tokenizer,
            chat_template,
            template_args=template_args,
            assistant_only=assistant_only,
            max_length=max_length if truncation else None,
            add_special_tokens=add_special_tokens,
        )
        for messages in batch[feature]
    ]
    return {"input_ids": [r["input_ids"] for r in rows], "labels": [r["labels"] for r in rows]}
