"""`fgtui serve`: the OpenAI-compatible API over a real HTTP socket, on a tiny model."""

from __future__ import annotations

import json
import urllib.request

import pytest
from serve_helpers import CHAT_TEMPLATE, greedy_text, post, running_server, tiny_model

from fgtui.engine.serve.completions import CompletionService
from fgtui.engine.serve.requests import RequestError, read_sampling


@pytest.fixture(scope="module")
def service():
    model, tokenizer = tiny_model()
    service = CompletionService(model, tokenizer, "tiny")
    yield service
    service.close()


@pytest.fixture(scope="module")
def url(service):
    with running_server(service) as (_, base):
        yield base


_post = post


def _greedy_text(service, prompt: str, n: int) -> str:
    return greedy_text(service.model, service.tokenizer, prompt, n)


def test_models_and_a_greedy_completion(url, service):
    with urllib.request.urlopen(f"{url}/models", timeout=30) as response:
        assert json.loads(response.read())["data"][0]["id"] == "tiny"
    status, body = _post(f"{url}/completions", {"prompt": "The old house", "max_tokens": 12, "temperature": 0})
    assert status == 200 and body["object"] == "text_completion"
    choice = body["choices"][0]
    assert choice["text"] == _greedy_text(service, "The old house", 12)
    assert body["usage"]["completion_tokens"] <= 12 and choice["finish_reason"] in ("length", "stop")


def test_streamed_pieces_add_up_to_the_whole_answer(url):
    body = {"prompt": "In the year 1908 I", "max_tokens": 20, "temperature": 0.9, "seed": 3}
    _, whole = _post(f"{url}/completions", body)
    status, stream = _post(f"{url}/completions", {**body, "stream": True}, raw=True)
    events = [line[len("data: ") :] for line in stream.splitlines() if line.startswith("data: ")]
    assert status == 200 and events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole["choices"][0]["text"]
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert len({c["id"] for c in chunks}) == 1


def test_a_stop_string_ends_the_answer_before_it(url, service):
    full = _greedy_text(service, "The old house", 24)
    stop = next((full[i : i + 2] for i in range(3, len(full) - 2) if full[i : i + 2].strip()), None)
    if stop is None:
        pytest.skip("the greedy text has no printable pair to stop on")
    _, body = _post(f"{url}/completions", {"prompt": "The old house", "max_tokens": 24, "temperature": 0, "stop": stop})
    assert body["choices"][0]["text"] == full[: full.find(stop)]
    assert body["choices"][0]["finish_reason"] == "stop"


def test_chat_needs_a_template_and_uses_it(url, service):
    status, body = _post(f"{url}/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
    assert status == 400 and "no chat template" in body["error"]["message"]
    service.tokenizer.chat_template = CHAT_TEMPLATE
    try:
        messages = [{"role": "user", "content": "Who knocks?"}]
        status, body = _post(f"{url}/chat/completions", {"messages": messages, "max_tokens": 8, "temperature": 0})
        assert status == 200 and body["object"] == "chat.completion"
        prompt = "<user> Who knocks?\n<assistant> "
        assert body["choices"][0]["message"] == {"role": "assistant", "content": _greedy_text(service, prompt, 8)}
        status, stream = _post(
            f"{url}/chat/completions",
            {"messages": messages, "max_tokens": 8, "temperature": 0, "stream": True},
            raw=True,
        )
        chunks = [json.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: {")]
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        assert (
            "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
            == body["choices"][0]["message"]["content"]
        )
    finally:
        service.tokenizer.chat_template = None


@pytest.mark.parametrize(
    "body, message",
    [
        ({"prompt": "x", "max_tokens": 0}, "'max_tokens' must be between 1"),
        ({"prompt": "x", "temperature": "hot"}, "'temperature' must be a number"),
        ({"prompt": "x", "n": 0}, "'n' must be between"),
        ({"prompt": [["a"]]}, "'prompt[0][0]' is not a token id"),
        ({"prompt": [1, "a"]}, "'prompt' must be a string"),
        ({"prompt": [5, 300]}, "'prompt[1]' is not a token id (0 to 299)"),
        ({"prompt": "x", "stop": [""]}, "'stop' must be"),
        ({"prompt": "x", "max_tokens": 200}, "exceed the model's 96 positions"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
    ],
)
def test_bad_requests_are_400_with_a_reason(url, body, message):
    status, answer = _post(f"{url}/completions", body)
    assert status == 400 and message in answer["error"]["message"]
    assert answer["error"]["type"] == "invalid_request_error"


def test_unknown_routes_are_404(url):
    status, answer = _post(f"{url}/embeddings", {"input": "x"})
    assert status == 404 and "no route" in answer["error"]["message"]


def test_sampling_fields_are_read_as_openai_names_them():
    sampling = read_sampling(
        {"max_tokens": 5, "temperature": 0, "top_p": 0.5, "seed": 7, "logit_bias": {"3": -100}}, 300, 16, echo=False
    )
    assert (sampling.max_tokens, sampling.temperature, sampling.top_p, sampling.seed, sampling.logit_bias) == (
        5,
        0.0,
        0.5,
        7,
        {3: -100.0},
    )
    assert read_sampling({}, 300, 16, echo=False).max_tokens == 16
    assert read_sampling({"max_tokens": 0}, 300, 16, echo=True).max_tokens == 0
    with pytest.raises(RequestError):
        read_sampling({"max_tokens": 1.5}, 300, 16, echo=False)


def test_fgtui_serve_answers_until_interrupted(service, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from fgtui.engine.models.hf_io import save_pretrained

    save_pretrained(service.model, tmp_path / "tiny_model", tokenizer=service.tokenizer)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fgtui.engine.cli",
            "serve",
            str(tmp_path / "tiny_model"),
            "--port",
            "0",
            "--device",
            "cpu",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "FGTUI_API_KEY": "sk-local"},
    )
    try:
        line = process.stdout.readline()
        assert "serving tiny_model" in line and "API key required" in line, line + process.stderr.read()
        base = line.split(" at ")[1].split()[0]
        status, body = _post(f"{base}/completions", {"prompt": "The", "max_tokens": 3})
        assert status == 401 and body["error"]["code"] == "invalid_api_key"
        status, body = _post(
            f"{base}/completions", {"prompt": "The", "max_tokens": 3}, headers={"Authorization": "Bearer sk-local"}
        )
        assert status == 200 and body["model"] == "tiny_model"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()


def test_openai_spellings_top_p_zero_parts_and_max_completion_tokens(url, service):
    _, greedy = _post(f"{url}/completions", {"prompt": "The old house", "max_tokens": 10, "temperature": 0})
    _, top_p_zero = _post(f"{url}/completions", {"prompt": "The old house", "max_tokens": 10, "top_p": 0})
    assert top_p_zero["choices"][0]["text"] == greedy["choices"][0]["text"]
    status, answer = _post(f"{url}/completions", {"prompt": "x", "seed": 2**64})
    assert status == 400 and answer["error"]["param"] == "seed"
    service.tokenizer.chat_template = CHAT_TEMPLATE
    try:
        parts = [{"role": "user", "content": [{"type": "text", "text": "Who "}, {"type": "text", "text": "knocks?"}]}]
        status, body = _post(
            f"{url}/chat/completions", {"messages": parts, "max_completion_tokens": 3, "temperature": 0}
        )
        assert status == 200 and body["usage"]["completion_tokens"] <= 3
        prompt = "<user> Who knocks?\n<assistant> "
        assert body["choices"][0]["message"]["content"] == _greedy_text(service, prompt, 3)
        status, answer = _post(
            f"{url}/chat/completions",
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
        )
        assert status == 400 and "only text content parts" in answer["error"]["message"]
    finally:
        service.tokenizer.chat_template = None


def test_a_connection_stays_usable_after_an_error(url):
    import http.client

    host, port = url.split("//")[1].split("/")[0].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(
            "POST", "/v1/embeddings", body=json.dumps({"input": "x"}), headers={"Content-Type": "application/json"}
        )
        first = connection.getresponse()
        assert first.status == 404
        first.read()
        connection.request(
            "POST",
            "/v1/completions",
            body=json.dumps({"prompt": "The", "max_tokens": 2}),
            headers={"Content-Type": "application/json"},
        )
        second = connection.getresponse()
        assert second.status == 200 and json.loads(second.read())["object"] == "text_completion"
    finally:
        connection.close()


def test_a_failure_inside_generation_is_a_500_or_an_error_event(url, service, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the model fell over")

    monkeypatch.setattr(service.engine, "_prefill", broken)
    status, answer = _post(f"{url}/completions", {"prompt": "x", "max_tokens": 2})
    assert status == 500 and "the model fell over" in answer["error"]["message"]
    status, stream = _post(f"{url}/completions", {"prompt": "x", "max_tokens": 2, "stream": True}, raw=True)
    assert status == 200 and "the model fell over" in stream and "[DONE]" not in stream
    monkeypatch.undo()
    assert _post(f"{url}/completions", {"prompt": "x", "max_tokens": 2})[0] == 200


def test_continuations_keep_the_space_a_sentencepiece_decoder_drops():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from fgtui.engine.models.generate import decode_continuation

    vocab = {"<unk>": 0, "▁Once": 1, "▁upon": 2, "▁a": 3, "▁time": 4, "▁there": 5}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Metaspace()
    core.decoder = decoders.Metaspace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>")
    prompt = tokenizer("Once upon a time")["input_ids"]
    assert tokenizer.decode([5]) == "there"  # alone, the space is gone
    assert decode_continuation(tokenizer, prompt, [5]) == " there"
