"""The model side of the OpenAI-compatible API: requests in, completions out.

`CompletionService` reads a request body into a `CompletionJob` (`prepare`:
checks and tokenization, no model work), hands its sequences to the
`DecodeEngine` (which batches them with everyone else's), and turns the
engine's token events into OpenAI's answer objects: whole (`answer`) or as a
stream of chunks (`stream`). It knows nothing of HTTP (http_server.py does);
a refused request raises `RequestError`, which carries its status.

Text is released only up to where it can no longer become the start of a stop
string, and is decoded from the whole completion so far (a token may be half
a character), so streamed pieces add up to exactly the whole answer. Each
choice's `text_offset`s count characters of each token's own text from the
start of the prompt.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from fgtui.engine.serve import requests as rq
from fgtui.engine.serve.engine import Busy, DecodeEngine, Failed, Finished, PromptScores, Token
from fgtui.engine.serve.requests import CompletionJob, RequestError


class CompletionService:
    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        model_name: str,
        *,
        default_max_tokens: int = 16,
        max_rows: int = 32,
        max_waiting: int = 256,
    ) -> None:
        self.model, self.tokenizer, self.model_name = model, tokenizer, model_name
        self.default_max_tokens = default_max_tokens
        self.vocab_size = model.config.vocab_size
        self.max_positions = getattr(model.config, "max_position_embeddings", None)
        self.engine = DecodeEngine(
            model, eos_token_id=tokenizer.eos_token_id, max_rows=max_rows, max_waiting=max_waiting
        )

    def close(self) -> None:
        self.engine.close()

    # ------------------------------------------------------------ reading requests
    def models(self) -> dict:
        return {"object": "list", "data": [self.model_card()]}

    def model_card(self) -> dict:
        return {"id": self.model_name, "object": "model", "created": 0, "owned_by": "fgtui"}

    def check_model(self, name: Any) -> None:
        """`model` must name the served model (absent: the served one)."""
        if name is None:
            return
        if not isinstance(name, str):
            raise RequestError(f"'model' must be a string, got {name!r}", "model")
        if name != self.model_name:
            raise RequestError(
                f"the model '{name}' does not exist: this server serves '{self.model_name}'",
                "model",
                status=404,
                code="model_not_found",
            )

    def prepare(self, body: dict, *, chat: bool) -> CompletionJob:
        """Check every field and tokenize the prompts (no model work)."""
        rq.check_fields(body, chat)
        self.check_model(body.get("model"))
        if chat:
            texts: list[str | list[int]] = [self._chat_prompt(rq.chat_messages(body))]
            logprobs, echo = rq.read_chat_logprobs(body), False
        else:
            texts = rq.completion_prompts(body, self.vocab_size)
            logprobs, echo = rq.read_completion_logprobs(body), rq.flag(body, "echo")
        n = rq.read_n(body, len(texts))
        if n > self.engine.max_rows:
            raise RequestError(f"'n' is over this server's batch of {self.engine.max_rows} rows", "n")
        params = rq.read_sampling(body, self.vocab_size, self.default_max_tokens, echo=echo)
        params.top_logprobs = logprobs
        stop = rq.read_stop(body)
        stream, include_usage = rq.read_stream(body)
        prompts, prompt_texts = [], []
        for index, text in enumerate(texts):
            ids = self.tokenizer(text)["input_ids"] if isinstance(text, str) else text
            where = "prompt" if len(texts) == 1 else f"prompt[{index}]"
            if not ids:
                raise RequestError(f"'{where}' is empty: give at least one token of text", where)
            if self.max_positions and len(ids) + params.max_tokens > self.max_positions:
                raise RequestError(
                    f"{where} ({len(ids)} tokens) + max_tokens ({params.max_tokens}) exceed the "
                    f"model's {self.max_positions} positions",
                    "max_tokens" if len(ids) < self.max_positions else where,
                )
            prompts.append(list(ids))
            prompt_texts.append(text if isinstance(text, str) else self.tokenizer.decode(ids))
        return CompletionJob(
            chat=chat,
            prompts=prompts,
            prompt_texts=prompt_texts,
            n=n,
            params=params,
            stop=stop,
            stream=stream,
            include_usage=include_usage,
            echo=echo,
            logprobs=logprobs,
        )

    def _chat_prompt(self, messages: list[dict[str, str]]) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            raise RequestError(
                f"{self.model_name} has no chat template (a base model): use /v1/completions", "messages"
            )
        from jinja2 import TemplateError

        try:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except TemplateError as error:  # e.g. a template that wants roles to alternate
            raise RequestError(f"the model's chat template refused the messages: {error}", "messages") from None

    # ------------------------------------------------------------ answering
    async def answer(self, job: CompletionJob) -> dict:
        """The whole answer as one response object."""
        run = _Run(self, job)
        try:
            async for _ in run.updates():
                pass
        finally:
            run.cancel()
        choices = [choice.whole(job) for choice in run.choices]
        return {**run.header(chunk=False), "choices": choices, "usage": run.usage()}

    async def stream(self, job: CompletionJob) -> AsyncIterator[dict]:
        """Chunks for server-sent events; the last choice chunk carries usage (or, with
        stream_options.include_usage, a final chunk with no choices does)."""
        run = _Run(self, job)
        try:
            header = run.header(chunk=True)
            pending: dict | None = None
            for choice in run.choices:
                first = choice.opening(job)
                if first is not None:
                    yield {**header, "choices": [first]}
            async for choice in run.updates():
                piece = choice.piece(job)
                if piece is None:
                    continue
                if pending is not None:
                    yield pending
                pending = {**header, "choices": [piece]}
            usage = run.usage()
            if job.include_usage:
                if pending is not None:
                    yield pending
                yield {**header, "choices": [], "usage": usage}
            elif pending is not None:
                yield {**pending, "usage": usage}
        finally:
            run.cancel()

    @functools.lru_cache(maxsize=65536)  # noqa: B019 - one service per server, lives as long
    def token_text(self, token: int) -> str:
        return self.tokenizer.decode([token])

    @functools.lru_cache(maxsize=65536)  # noqa: B019
    def text_length(self, token: int) -> int:
        return len(self.tokenizer.decode([token], skip_special_tokens=True))


@dataclass
class _ChoiceState:
    index: int
    prompt: list[int]
    prompt_text: str
    hold: int
    decoder: Any
    tokens: list[int] = field(default_factory=list)
    entries: list[Token] = field(default_factory=list)  # logprobs not yet sent
    scores: PromptScores | None = None
    text: str = ""
    sent: int = 0
    released: int = 0  # characters of `text` handed out (stream) so far
    finish: str | None = None
    sequence: Any = None
    offset: int = 0  # next text_offset
    echoed: bool = False
    finish_sent: bool = False
    token_text: Any = None  # the service's id -> text, cached
    text_length: Any = None  # the service's id -> characters it adds to a text (special tokens: none)

    def add(self, token: Token, stop: list[str]) -> None:
        self.tokens.append(token.token)
        self.entries.append(token)
        text = self.decoder(self.tokens)
        search_from = max(0, self.sent - self.hold)
        cuts = [text.find(s, search_from) for s in stop]
        cut = min((c for c in cuts if c >= 0), default=-1)
        if cut >= 0:
            self.text, self.sent, self.finish = text[:cut], max(cut, self.sent), "stop"
            self.sequence.cancel()
            return
        self.text = text
        safe = len(text) - self.hold
        if text.endswith("\ufffd"):  # an unfinished character waits for its next byte
            safe = min(safe, len(text) - 1)
        self.sent = max(self.sent, safe)

    def end(self, reason: str) -> None:
        if self.finish is None:
            self.finish = reason
            self.sent = len(self.text)

    # ---------------------------------------------------------------- output
    def whole(self, job: CompletionJob) -> dict:
        logprobs = self.logprobs(job, self.entries, include_prompt=True)
        if job.chat:
            return {
                "index": self.index,
                "message": {"role": "assistant", "content": self.text},
                "logprobs": logprobs,
                "finish_reason": self.finish,
            }
        text = (self.prompt_text if job.echo else "") + self.text
        return {"index": self.index, "text": text, "logprobs": logprobs, "finish_reason": self.finish}

    def opening(self, job: CompletionJob) -> dict | None:
        if job.chat:
            return {
                "index": self.index,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": None,
                "finish_reason": None,
            }
        return None

    def piece(self, job: CompletionJob) -> dict | None:
        """What is new since the last piece (text, its logprobs, the finish), or None."""
        echo = job.echo and not self.echoed
        new = self.text[self.released : self.sent]
        finish = self.finish if self.finish is not None and self.sent >= len(self.text) else None
        if not new and not echo and (finish is None or self.finish_sent):
            return None  # logprobs travel with their text
        entries, self.entries = self.entries, []
        logprobs = self.logprobs(job, entries, include_prompt=echo)
        self.released, self.echoed = self.sent, True
        self.finish_sent = finish is not None
        if job.chat:
            delta = {"content": new} if new else {}
            return {"index": self.index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        text = self.prompt_text + new if echo else new
        return {"index": self.index, "text": text, "logprobs": logprobs, "finish_reason": finish}

    def logprobs(self, job: CompletionJob, entries: list[Token], include_prompt: bool) -> dict | None:
        if job.logprobs is None:
            return None
        name = self.token_text
        if job.chat:

            def item(token: int, logprob: float) -> dict:
                text = name(token)
                return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}

            return {
                "content": [
                    {**item(e.token, e.logprob), "top_logprobs": [item(t, lp) for t, lp in (e.top or [])]}
                    for e in entries
                ]
            }
        tokens, token_logprobs, tops, offsets = [], [], [], []
        if include_prompt and job.echo and self.scores is not None:
            for token, logprob, top in zip(self.prompt, self.scores.logprobs, self.scores.top):
                tokens.append(name(token))
                token_logprobs.append(logprob)
                tops.append(None if top is None else self._top_dict(top, token, logprob))
                offsets.append(self.offset)
                self.offset += self.text_length(token)
            self.offset = max(self.offset, len(self.prompt_text))
        elif self.offset == 0:
            self.offset = len(self.prompt_text)
        for entry in entries:
            tokens.append(name(entry.token))
            token_logprobs.append(entry.logprob)
            tops.append(self._top_dict(entry.top or [], entry.token, entry.logprob))
            offsets.append(self.offset)
            self.offset += self.text_length(entry.token)
        return {"tokens": tokens, "token_logprobs": token_logprobs, "top_logprobs": tops, "text_offset": offsets}

    def _top_dict(self, top: list[tuple[int, float]], token: int, logprob: float) -> dict[str, float]:
        # The chosen token is always listed (as vLLM does), beside the k likeliest.
        out: dict[str, float] = {}
        for t, lp in [*top, (token, logprob)]:
            key = self.token_text(t)
            out[key] = max(lp, out.get(key, float("-inf")))
        return out


class _Run:
    """One job's sequences in the engine, and their events as they come."""

    def __init__(self, service: CompletionService, job: CompletionJob) -> None:
        from fgtui.engine.models.generate import ContinuationDecoder

        self.service, self.job = service, job
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.created = int(time.time())
        self.id = f"{'chatcmpl' if job.chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"
        hold = max((len(s) - 1 for s in job.stop), default=0)
        self.choices: list[_ChoiceState] = []
        self.sequences = []
        try:
            for p, (prompt, text) in enumerate(zip(job.prompts, job.prompt_texts)):
                group = []
                for j in range(job.n):
                    # The prompt's tail gives the decoder the context a leading space depends on.
                    state = _ChoiceState(
                        p * job.n + j,
                        prompt,
                        text,
                        hold,
                        ContinuationDecoder(service.tokenizer, prompt[-4:]),
                        token_text=service.token_text,
                        text_length=service.text_length,
                    )
                    group.append(state)
                seed = job.params.seed
                params = [replace(job.params, seed=None if seed is None else seed + j) for j in range(job.n)]
                prompt_top = job.logprobs if job.echo and job.logprobs is not None else None
                sequences = service.engine.submit(prompt, params, [self._sink(s.index) for s in group], prompt_top)
                for state, sequence in zip(group, sequences):
                    state.sequence = sequence
                self.choices.extend(group)
                self.sequences.extend(sequences)
        except Busy as error:
            self.cancel()
            raise RequestError(
                f"the server is busy ({error}): retry shortly", status=503, kind="server_error", code="server_busy"
            ) from None

    def _sink(self, index: int):
        def sink(event) -> None:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (index, event))

        return sink

    def cancel(self) -> None:
        for sequence in self.sequences:
            sequence.cancel()

    async def updates(self) -> AsyncIterator[_ChoiceState]:
        """Each choice as an event changes it, until every choice has finished."""
        open_choices = {c.index for c in self.choices}
        while open_choices:
            index, event = await self.queue.get()
            choice = self.choices[index]
            if index not in open_choices:
                continue
            if isinstance(event, Token):
                if choice.finish is None:
                    choice.add(event, self.job.stop)
            elif isinstance(event, PromptScores):
                choice.scores = event
                continue
            elif isinstance(event, Finished):
                choice.end("stop" if event.reason == "cancelled" else event.reason)
            elif isinstance(event, Failed):
                raise RuntimeError(event.message)
            if choice.finish is not None:
                open_choices.discard(index)
            yield choice

    def header(self, chunk: bool) -> dict:
        job = self.job
        kind = ("chat.completion.chunk" if chunk else "chat.completion") if job.chat else "text_completion"
        return {"id": self.id, "object": kind, "created": self.created, "model": self.service.model_name}

    def usage(self) -> dict:
        prompt = sum(len(p) for p in self.job.prompts)
        completion = sum(len(c.tokens) for c in self.choices)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
