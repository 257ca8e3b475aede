"""`fgtui serve` through the real `openai` client over a real socket, on a tiny model."""

from __future__ import annotations

import math
import threading

import pytest
import torch
from serve_helpers import CHAT_TEMPLATE, greedy_text, running_server, tiny_model

from fgtui.engine.serve.completions import CompletionService

openai = pytest.importorskip("openai")
KEY = "sk-test-key"


@pytest.fixture(scope="module")
def service():
    model, tokenizer = tiny_model()
    tokenizer.chat_template = CHAT_TEMPLATE
    service = CompletionService(model, tokenizer, "tiny")
    yield service
    service.close()


@pytest.fixture(scope="module")
def client(service):
    with running_server(service, api_key=KEY) as (_, base):
        yield openai.OpenAI(base_url=base, api_key=KEY, max_retries=0, timeout=60)


def _forward_logprobs(service, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return torch.log_softmax(service.model(torch.tensor([ids])).logits[0].float(), dim=-1)


def test_completion_text_and_usage(client, service):
    answer = client.completions.create(model="tiny", prompt="The old house", max_tokens=12, temperature=0)
    assert answer.choices[0].text == greedy_text(service.model, service.tokenizer, "The old house", 12)
    prompt_tokens = len(service.tokenizer("The old house")["input_ids"])
    assert answer.usage.prompt_tokens == prompt_tokens and answer.usage.completion_tokens == 12
    assert answer.usage.total_tokens == prompt_tokens + 12


def test_echo_and_logprobs_are_the_models_own(client, service):
    ids = service.tokenizer("The old house stood")["input_ids"]
    answer = client.completions.create(model="tiny", prompt=ids, max_tokens=1, temperature=0, echo=True, logprobs=3)
    logprobs = answer.choices[0].logprobs
    expected = _forward_logprobs(service, ids)
    assert logprobs.token_logprobs[0] is None and logprobs.top_logprobs[0] is None
    assert len(logprobs.token_logprobs) == len(ids) + 1
    for position in range(1, len(ids)):
        assert logprobs.token_logprobs[position] == pytest.approx(
            float(expected[position - 1, ids[position]]), abs=1e-4
        )
        best = float(expected[position - 1].max())
        assert max(logprobs.top_logprobs[position].values()) == pytest.approx(best, abs=1e-4)
    # The generated token is the greedy one, its logprob the distribution's largest.
    assert logprobs.token_logprobs[-1] == pytest.approx(float(expected[-1].max()), abs=1e-4)
    assert answer.choices[0].text.startswith(service.tokenizer.decode(ids))
    assert logprobs.text_offset == sorted(logprobs.text_offset)
    with_bos = client.completions.create(
        model="tiny", prompt="The old", max_tokens=1, temperature=0, echo=True, logprobs=0
    )
    offsets, tokens = with_bos.choices[0].logprobs.text_offset, with_bos.choices[0].logprobs.tokens
    text = with_bos.choices[0].text
    assert all(text[o:].startswith(t) for o, t in zip(offsets, tokens) if t != service.tokenizer.bos_token)


def test_streamed_logprobs_match_the_whole_answer(client):
    whole = client.completions.create(
        model="tiny", prompt="In the year", max_tokens=10, temperature=0.8, seed=11, logprobs=2
    )
    chunks = list(
        client.completions.create(
            model="tiny", prompt="In the year", max_tokens=10, temperature=0.8, seed=11, logprobs=2, stream=True
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    streamed = [
        lp for c in chunks if c.choices and c.choices[0].logprobs for lp in c.choices[0].logprobs.token_logprobs
    ]
    assert streamed == pytest.approx(whole.choices[0].logprobs.token_logprobs)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_n_choices_and_seed(client):
    first = client.completions.create(model="tiny", prompt="It was", max_tokens=8, temperature=1.0, n=3, seed=5)
    again = client.completions.create(model="tiny", prompt="It was", max_tokens=8, temperature=1.0, n=3, seed=5)
    assert [c.index for c in first.choices] == [0, 1, 2]
    assert [c.text for c in first.choices] == [c.text for c in again.choices]
    assert len({c.text for c in first.choices}) > 1  # each choice draws its own tokens
    assert first.usage.completion_tokens == 24


def test_several_prompts_in_one_request(client, service):
    prompts = ["The old house", "It was a dark"]
    answer = client.completions.create(model="tiny", prompt=prompts, max_tokens=5, temperature=0, n=2)
    assert [c.index for c in answer.choices] == [0, 1, 2, 3]
    for index, choice in enumerate(answer.choices):
        assert choice.text == greedy_text(service.model, service.tokenizer, prompts[index // 2], 5)


def test_logit_bias_and_penalties_change_the_choice(client, service):
    token = service.tokenizer(" the")["input_ids"][-1]
    forced = client.completions.create(
        model="tiny", prompt="The", max_tokens=6, temperature=0, logit_bias={str(token): 100}
    )
    assert forced.choices[0].text == service.tokenizer.decode([token] * 6)
    plain = client.completions.create(model="tiny", prompt="The old house", max_tokens=24, temperature=0)
    penalized = client.completions.create(
        model="tiny", prompt="The old house", max_tokens=24, temperature=0, frequency_penalty=2.0, presence_penalty=2.0
    )
    plain_ids = service.tokenizer(plain.choices[0].text)["input_ids"]
    penalized_ids = service.tokenizer(penalized.choices[0].text)["input_ids"]
    assert len(set(penalized_ids)) > len(set(plain_ids))  # repeats are discouraged


def test_chat_with_logprobs(client, service):
    answer = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "Who knocks?"}],
        max_tokens=6,
        temperature=0,
        logprobs=True,
        top_logprobs=2,
    )
    content = answer.choices[0].logprobs.content
    assert answer.choices[0].message.content == greedy_text(
        service.model, service.tokenizer, "<user> Who knocks?\n<assistant> ", 6
    )
    assert len(content) == 6 and all(len(item.top_logprobs) == 2 for item in content)
    assert all(item.logprob <= item.top_logprobs[0].logprob + 1e-6 for item in content)
    assert answer.usage.completion_tokens == 6
    chunks = list(
        client.chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": "Who knocks?"}],
            max_tokens=6,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == answer.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 6


def test_stop_strings(client, service):
    full = greedy_text(service.model, service.tokenizer, "The old house", 20)
    stop = next((full[i : i + 2] for i in range(3, len(full) - 2) if full[i : i + 2].strip()), None)
    if stop is None:
        pytest.skip("the greedy text has no printable pair to stop on")
    answer = client.completions.create(
        model="tiny", prompt="The old house", max_tokens=20, temperature=0, stop=[stop, "never-seen"]
    )
    assert answer.choices[0].text == full[: full.find(stop)] and answer.choices[0].finish_reason == "stop"


def test_unknown_model_is_404_and_unsupported_fields_are_named(client):
    with pytest.raises(openai.NotFoundError) as error:
        client.completions.create(model="../../etc/passwd", prompt="x", max_tokens=1)
    assert error.value.body["code"] == "model_not_found"
    assert [m.id for m in client.models.list()] == ["tiny"]
    assert client.models.retrieve("tiny").id == "tiny"
    for field, value in (("suffix", "end"), ("best_of", 3)):
        with pytest.raises(openai.BadRequestError) as error:
            client.completions.create(model="tiny", prompt="x", max_tokens=1, **{field: value})
        assert error.value.body["param"] == field and f"'{field}'" in error.value.body["message"]
    for field, value in (
        ("tools", [{"type": "function", "function": {"name": "f", "parameters": {}}}]),
        ("response_format", {"type": "json_object"}),
    ):
        with pytest.raises(openai.BadRequestError) as error:
            client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "x"}], **{field: value})
        assert error.value.body["param"] == field
    with pytest.raises(openai.BadRequestError) as error:
        client.completions.create(model="tiny", prompt="x", extra_body={"repetition_penalty": 1.2})
    assert error.value.body["param"] == "repetition_penalty"


def test_a_key_is_needed(service, client):
    wrong = openai.OpenAI(base_url=str(client.base_url), api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.completions.create(model="tiny", prompt="x", max_tokens=1)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()


def test_concurrent_clients_are_decoded_together(client, service):
    engine = service.engine
    engine.peak_rows = 0
    answers: list = [None] * 12
    start = threading.Barrier(12)

    def ask(index: int) -> None:
        start.wait()
        answers[index] = client.completions.create(model="tiny", prompt=f"Story {index}:", max_tokens=30, temperature=0)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(12)]
    steps = engine.steps
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(a is not None and a.usage.completion_tokens == 30 for a in answers)
    assert engine.peak_rows > 4, "requests that arrived together were decoded one at a time"
    assert engine.steps - steps < 12 * 29  # fewer forwards than one sequence at a time needs
    for index, answer in enumerate(answers):
        assert answer.choices[0].text == greedy_text(service.model, service.tokenizer, f"Story {index}:", 30)
    assert math.isfinite(answers[0].usage.total_tokens)
