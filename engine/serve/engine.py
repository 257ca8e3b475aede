"""The decode loop: sequences that arrive together are decoded together.

One thread owns the model. Each turn of its loop decodes one new token for
every sequence in flight (through a decoder, decoders.py: one forward for
all of them on fgtui's own model, one per sequence on a transformers one), admits
waiting prompts into free rows (each prefilled alone, then joining the
batch), and picks every row's next token in one batched call. A sequence
leaves the batch as soon as it finishes or its client goes away
(`Sequence.cancel`), and a waiting one takes its row at the next turn
(continuous batching). Nothing here knows about HTTP or text: token ids in,
events out through each sequence's `sink`, called on the engine thread.
"""

from __future__ import annotations

import collections
import random
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from fgtui.engine.serve.decoders import Prefill, decoder_for
from fgtui.engine.serve.requests import SequenceParams
from fgtui.engine.serve.sampling import RowSettings, choose


@dataclass
class Token:
    token: int
    logprob: float
    top: list[tuple[int, float]] | None


@dataclass
class PromptScores:
    """Log-probabilities of each prompt token given those before it (the first has none)."""

    logprobs: list[float | None]
    top: list[list[tuple[int, float]] | None]


@dataclass
class Finished:
    reason: str  # "stop" (end-of-text token), "length" (max_tokens) or "cancelled"


@dataclass
class Failed:
    message: str


Event = Token | PromptScores | Finished | Failed


class Busy(RuntimeError):
    """More sequences are waiting than the server queues."""


class Sequence:
    """One choice being generated; `cancel` frees its row at the next step."""

    def __init__(self, params: SequenceParams, sink: Callable[[Event], None], engine: DecodeEngine) -> None:
        self.params, self.sink, self._engine = params, sink, engine
        self.cancelled = False
        self.generated = 0

    def cancel(self) -> None:
        self.cancelled = True
        self._engine._wake()


@dataclass
class _Group:
    prompt_ids: list[int]
    sequences: list[Sequence]
    prompt_top: int | None  # score the prompt (echo + logprobs): top-k count


class DecodeEngine:
    """Batched decoding of one model on its own thread (see module docstring)."""

    def __init__(
        self,
        model: Any,
        *,
        eos_token_id: int | None,
        max_rows: int = 32,
        max_waiting: int = 256,
        logit_chunk: int = 256,
    ) -> None:
        self.model = model.eval()
        self.device = next(model.parameters()).device
        self.vocab_size = model.config.vocab_size
        self.eos_token_id = eos_token_id
        self.max_rows, self.max_waiting, self.logit_chunk = max_rows, max_waiting, logit_chunk
        self._waiting: collections.deque[_Group] = collections.deque()
        self._waiting_count = 0
        self._condition = threading.Condition()
        self._stopped = False
        self._rows: list[Sequence] = []
        self._row_len: list[int] = []  # tokens of each row held in the cache
        self._last: list[int] = []  # each row's newest token, not yet fed back
        self._generators: list[random.Random] = []
        self._settings: dict[str, torch.Tensor] = {}
        self.decoder = decoder_for(self.model, max_rows, self.device)
        self.steps = 0  # decode turns run, each a token for every row (the tests and the bench read it)
        self.peak_rows = 0
        self._thread = threading.Thread(target=self._run, name="fgtui-decode", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------- public
    def submit(
        self,
        prompt_ids: list[int],
        params: list[SequenceParams],
        sinks: list[Callable[[Event], None]],
        prompt_top: int | None = None,
    ) -> list[Sequence]:
        """Queue one prompt with one sequence per params (n choices share the prefill)."""
        if len(params) > self.max_rows:
            raise ValueError(f"{len(params)} choices of one prompt exceed the batch of {self.max_rows} rows")
        sequences = [Sequence(p, sink, self) for p, sink in zip(params, sinks)]
        with self._condition:
            if self._stopped:
                raise RuntimeError("the decode engine is stopped")
            if self._waiting_count + len(sequences) > self.max_waiting:
                raise Busy(f"{self._waiting_count} sequences are already waiting")
            self._waiting.append(_Group(list(prompt_ids), sequences, prompt_top))
            self._waiting_count += len(sequences)
            self._condition.notify()
        return sequences

    def close(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify()
        self._thread.join(timeout=30)

    @property
    def active(self) -> int:
        return len(self._rows)

    def _wake(self) -> None:
        with self._condition:
            self._condition.notify()

    # ------------------------------------------------------------- the loop
    def _run(self) -> None:
        with torch.inference_mode():
            self.decoder.reset()  # its storage made in inference mode, on this thread
            self._allocate_settings()
            while True:
                with self._condition:
                    while not self._stopped and not self._waiting and not self._rows:
                        self._condition.wait()
                    if self._stopped:
                        break
                try:
                    self._step()
                except Exception as error:  # noqa: BLE001 - every client hears why; the loop lives on
                    traceback.print_exc(file=sys.stderr)
                    self._fail_all(f"{type(error).__name__}: {error}")
            self._fail_all("the server is shutting down")

    def _step(self) -> None:
        for row in reversed(range(len(self._rows))):
            if self._rows[row].cancelled:
                self._remove(row, Finished("cancelled"))
        logits = []
        if self._rows:
            logits.append(self._decode())
        logits.extend(self._admit())
        if not logits:
            return
        self._choose(torch.cat(logits))
        self.decoder.after_step(self._row_len)

    def _decode(self) -> torch.Tensor:
        logits = self.decoder.decode(self._last, self._row_len)
        self._row_len = [n + 1 for n in self._row_len]
        self.steps += 1
        return logits

    def _admit(self) -> list[torch.Tensor]:
        """Prefill waiting prompts while rows are free; the logits of each new row."""
        logits = []
        while True:
            with self._condition:
                if not self._waiting:
                    break
                group = self._waiting[0]
                live = [s for s in group.sequences if not s.cancelled]
                rows = [s for s in live if s.params.max_tokens > 0]
                if len(self._rows) + len(rows) > self.max_rows:
                    break
                self._waiting.popleft()
                self._waiting_count -= len(group.sequences)
            for sequence in group.sequences:
                if sequence.cancelled:
                    sequence.sink(Finished("cancelled"))
            if not live:
                continue
            try:
                prefill = self._prefill(group, live)
            except Exception as error:  # noqa: BLE001 - this prompt fails alone; the batch goes on
                traceback.print_exc(file=sys.stderr)
                for sequence in live:
                    sequence.sink(Failed(f"{type(error).__name__}: {error}"))
                continue
            for sequence in live:
                if sequence.params.max_tokens == 0:
                    sequence.sink(Finished("length"))
            for sequence in rows:
                self._add_row(sequence, prefill, len(group.prompt_ids))
                logits.append(prefill.last)
        return logits

    def _prefill(self, group: _Group, live: list[Sequence]) -> Prefill:
        ids = torch.tensor([group.prompt_ids], device=self.device)
        prefill = self.decoder.prefill(ids, scored=group.prompt_top is not None)
        if group.prompt_top is not None:
            scores = self._prompt_scores(prefill, ids[0], group.prompt_top)
            for sequence in live:
                sequence.sink(scores)
        return prefill

    def _prompt_scores(self, prefill: Prefill, ids: torch.Tensor, top: int) -> PromptScores:
        logprobs: list[float | None] = [None]
        tops: list[list[tuple[int, float]] | None] = [None]
        for start in range(0, len(ids) - 1, self.logit_chunk):  # vocab-wide logits, a chunk at a time
            end = min(len(ids) - 1, start + self.logit_chunk)
            chunk = torch.log_softmax(prefill.logits_between(start, end).float(), dim=-1)
            logprobs.extend(chunk.gather(1, ids[start + 1 : end + 1, None]).squeeze(1).tolist())
            if top > 0:
                values, index = chunk.topk(min(top, chunk.shape[-1]), dim=-1)
                tops.extend(list(zip(i, v)) for i, v in zip(index.tolist(), values.tolist()))
            else:
                tops.extend([] for _ in range(end - start))
        return PromptScores(logprobs, tops)

    def _choose(self, logits: torch.Tensor) -> None:
        rows = len(self._rows)
        s = self._settings
        wants = [r.params.top_logprobs for r in self._rows if r.params.top_logprobs is not None]
        penalized = any(r.params.presence_penalty or r.params.frequency_penalty for r in self._rows)
        biased = any(r.params.logit_bias for r in self._rows)
        settings = RowSettings(
            s["temperature"][:rows],
            s["top_k"][:rows],
            s["top_p"][:rows],
            s["presence"][:rows],
            s["frequency"][:rows],
            s["bias"][:rows] if biased else None,
            s["counts"][:rows] if penalized else None,
            self._generators,
        )
        choice = choose(logits, settings, max(wants, default=0))
        token_tensor = torch.tensor(choice.tokens, device=self.device)
        s["counts"][torch.arange(rows, device=self.device), token_tensor] += 1
        done: list[tuple[int, Finished]] = []
        for row, sequence in enumerate(self._rows):
            token = choice.tokens[row]
            sequence.generated += 1
            self._last[row] = token
            if token == self.eos_token_id:
                done.append((row, Finished("stop")))
                continue
            k = sequence.params.top_logprobs
            top = choice.top[row][:k] if k and choice.top is not None else None
            sequence.sink(Token(token, choice.logprobs[row], top))
            if sequence.generated >= sequence.params.max_tokens:
                done.append((row, Finished("length")))
        for row, finished in reversed(done):
            self._remove(row, finished)
        self.peak_rows = max(self.peak_rows, rows)

    # ------------------------------------------------------------- rows
    def _allocate_settings(self) -> None:
        rows, vocab, device = self.max_rows, self.vocab_size, self.device
        self._settings = {
            "temperature": torch.zeros(rows, device=device),
            "top_k": torch.zeros(rows, dtype=torch.long, device=device),
            "top_p": torch.ones(rows, device=device),
            "presence": torch.zeros(rows, device=device),
            "frequency": torch.zeros(rows, device=device),
            "bias": torch.zeros(rows, vocab, device=device),
            "counts": torch.zeros(rows, vocab, device=device),
        }

    def _add_row(self, sequence: Sequence, prefill: Prefill, prompt_len: int) -> None:
        row = len(self._rows)
        self.decoder.add_row(prefill.state)
        p = sequence.params
        s = self._settings
        s["temperature"][row], s["top_k"][row], s["top_p"][row] = p.temperature, p.top_k, p.top_p
        s["presence"][row], s["frequency"][row] = p.presence_penalty, p.frequency_penalty
        s["counts"][row].zero_()
        s["bias"][row].zero_()
        if p.logit_bias:
            s["bias"][row, list(p.logit_bias)] = torch.tensor(list(p.logit_bias.values()), device=self.device)
        generator = random.Random(p.seed if p.seed is not None else random.getrandbits(63))
        self._rows.append(sequence)
        self._row_len.append(prompt_len)
        self._last.append(-1)
        self._generators.append(generator)

    def _remove(self, row: int, finished: Finished) -> None:
        sequence = self._rows[row]
        moved = self.decoder.remove_row(row)
        if moved is not None:
            for tensor in self._settings.values():
                tensor[row] = tensor[moved]
            for column in (self._rows, self._row_len, self._last, self._generators):
                column[row] = column[moved]
        for column in (self._rows, self._row_len, self._last, self._generators):
            column.pop()
        sequence.sink(finished)

    def _fail_all(self, message: str) -> None:
        rows, self._rows = self._rows, []
        self._row_len, self._last, self._generators = [], [], []
        self.decoder.reset()
        with self._condition:
            waiting = list(self._waiting) if self._stopped else []
            if self._stopped:
                self._waiting.clear()
                self._waiting_count = 0
        for sequence in rows + [s for group in waiting for s in group.sequences]:
            sequence.sink(Failed(message))
