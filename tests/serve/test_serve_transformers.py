"""`fgtui serve` on models fgtui's own decoder does not read, decoded through transformers
(engine/serve/decoders.py): a GPT-2 from `from_config`, whose rows are batched into one
left-padded DynamicCache (PaddedBatchDecoder), and a model whose code ships in its directory
(Forgather's layout, needs --trust-remote-code) and ignores the attention mask, so it is
decoded row by row (RowByRowDecoder). Every answer is checked against transformers' own
model run without a cache."""

from __future__ import annotations

import json
import math
import threading
import urllib.request

import pytest
import torch
from serve_helpers import post, running_server
from transformers_models import greedy_without_cache, save_dynamic_lm, save_gpt2

from fgtui.engine.cli import main
from fgtui.engine.serve.completions import CompletionService

PROMPT = "The old house"


def _service(directory, trust: bool) -> CompletionService:
    from fgtui.engine.data.tokenizer import load_tokenizer
    from fgtui.engine.models.transformers_lm import TransformersLM, load_for_decoding

    model = load_for_decoding(directory, "cpu", trust_remote_code=trust)
    assert isinstance(model, TransformersLM)
    return CompletionService(model, load_tokenizer(directory, trust_remote_code=trust), directory.name, max_rows=8)


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    return save_gpt2(tmp_path_factory.mktemp("gpt2") / "gpt2")


@pytest.fixture(scope="module")
def dynamic_dir(tmp_path_factory):
    return save_dynamic_lm(tmp_path_factory.mktemp("dynamic") / "dynamic")


@pytest.fixture(scope="module", params=["gpt2", "dynamic"])
def served(request, gpt2_dir, dynamic_dir):
    """(service, base url) for each kind of model."""
    directory, trust = (gpt2_dir, False) if request.param == "gpt2" else (dynamic_dir, True)
    service = _service(directory, trust)
    with running_server(service) as (_, url):
        yield service, url
    service.close()


def _reference(service, prompt: str, n: int) -> str:
    return greedy_without_cache(service.model.model, service.tokenizer, prompt, n)


def _events(text: str) -> list:
    lines = [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def test_models_and_a_greedy_completion_match_transformers(served):
    service, url = served
    with urllib.request.urlopen(f"{url}/models", timeout=30) as response:
        assert json.loads(response.read())["data"] == [service.model_card()]
    status, body = post(f"{url}/completions", {"prompt": PROMPT, "max_tokens": 12, "temperature": 0})
    assert status == 200 and body["object"] == "text_completion" and body["model"] == service.model_name
    assert body["choices"][0]["text"] == _reference(service, PROMPT, 12)
    assert body["usage"]["prompt_tokens"] == len(service.tokenizer(PROMPT)["input_ids"])


def test_chat_uses_the_tokenizers_template(served):
    service, url = served
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who knocks?"}]
    status, body = post(f"{url}/chat/completions", {"messages": messages, "max_tokens": 10, "temperature": 0})
    assert status == 200 and body["object"] == "chat.completion"
    prompt = "<system> Be brief.\n<user> Who knocks?\n<assistant> "
    assert body["choices"][0]["message"] == {"role": "assistant", "content": _reference(service, prompt, 10)}


def test_streamed_pieces_add_up_to_the_whole_answer(served):
    _, url = served
    for route, body in (
        ("completions", {"prompt": "In the year 1908 I", "max_tokens": 20, "temperature": 0.9, "seed": 3}),
        ("chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 15, "seed": 4}),
    ):
        _, whole = post(f"{url}/{route}", body)
        status, stream = post(f"{url}/{route}", {**body, "stream": True}, raw=True)
        chunks = _events(stream)
        assert status == 200 and len({c["id"] for c in chunks}) == 1
        if route == "completions":
            assert "".join(c["choices"][0]["text"] for c in chunks) == whole["choices"][0]["text"]
        else:
            assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
            text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
            assert text == whole["choices"][0]["message"]["content"]
        assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
        assert chunks[-1]["usage"] == whole["usage"]


def test_a_stop_string_ends_the_answer_before_it(served):
    service, url = served
    full = _reference(service, PROMPT, 24)
    stop = full[5:7]
    status, body = post(f"{url}/completions", {"prompt": PROMPT, "max_tokens": 24, "temperature": 0, "stop": [stop]})
    assert status == 200 and body["choices"][0]["finish_reason"] == "stop"
    assert body["choices"][0]["text"] == full[: full.index(stop)]


def test_sampling_parameters(served):
    service, url = served
    body = {"prompt": PROMPT, "max_tokens": 12, "temperature": 1.2, "top_p": 0.95, "top_k": 40}
    _, a = post(f"{url}/completions", {**body, "seed": 7})
    _, b = post(f"{url}/completions", {**body, "seed": 7})
    _, c = post(f"{url}/completions", {**body, "seed": 8})
    assert a["choices"] == b["choices"] and a["choices"] != c["choices"]
    # n choices share one prefill and then diverge, each in its own copy of the model's cache.
    _, several = post(f"{url}/completions", {**body, "seed": 7, "n": 3})
    texts = [choice["text"] for choice in several["choices"]]
    assert texts[0] == a["choices"][0]["text"] and len(set(texts)) == 3
    # logit_bias forces a token; presence and frequency penalties are accepted and applied.
    token = service.tokenizer(" dark")["input_ids"][-1]
    _, forced = post(f"{url}/completions", {"prompt": PROMPT, "max_tokens": 3, "logit_bias": {str(token): 100}})
    assert forced["choices"][0]["text"] == service.tokenizer.decode([token] * 3)
    _, penalized = post(f"{url}/completions", {"prompt": PROMPT, "max_tokens": 12, "frequency_penalty": 2.0})
    assert penalized["usage"]["completion_tokens"] >= 1


def test_echo_and_logprobs_are_transformers_log_softmax(served):
    service, url = served
    status, body = post(
        f"{url}/completions", {"prompt": PROMPT, "max_tokens": 2, "temperature": 0, "echo": True, "logprobs": 2}
    )
    assert status == 200
    logprobs = body["choices"][0]["logprobs"]
    ids = service.tokenizer(PROMPT)["input_ids"]
    with torch.no_grad():
        reference = torch.log_softmax(service.model.model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
    expected = [None] + [float(reference[i, ids[i + 1]]) for i in range(len(ids) - 1)]
    got = logprobs["token_logprobs"][: len(ids)]
    assert got[0] is None and all(math.isclose(g, e, abs_tol=1e-4) for g, e in zip(got[1:], expected[1:]))
    assert body["choices"][0]["text"].startswith(PROMPT)


def test_concurrent_requests_decode_as_alone(served):
    service, url = served
    engine = service.engine
    engine.peak_rows = 0
    prompts = [f"Story {i}:" for i in range(6)]
    answers: list = [None] * len(prompts)
    start = threading.Barrier(len(prompts))

    def ask(index: int) -> None:
        start.wait()
        answers[index] = post(
            f"{url}/completions", {"prompt": prompts[index], "max_tokens": 16 + index, "temperature": 0}
        )[1]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert engine.peak_rows > 1, "the requests never shared a decode step"
    for index, answer in enumerate(answers):
        assert answer["choices"][0]["text"] == _reference(service, prompts[index], 16 + index)


def test_shipped_model_code_is_refused_without_the_flag(dynamic_dir, capsys):
    assert main(["serve", str(dynamic_dir), "--port", "0", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str((dynamic_dir / "dynamic_lm.py").resolve()) in err and "--trust-remote-code" in err


def test_fgtui_serve_runs_shipped_code_with_the_flag(dynamic_dir):
    import os
    import signal
    import subprocess
    import sys

    command = [sys.executable, "-m", "fgtui.engine.cli", "serve", str(dynamic_dir), "--port", "0", "--device", "cpu"]
    process = subprocess.Popen(
        [*command, "--trust-remote-code"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ
    )
    try:
        line = process.stdout.readline()
        assert "via transformers (DynamicCasualLM, one forward per sequence per step: " in line, (
            line + process.stderr.read()
        )
        base = line.split(" at ")[1].split()[0]
        status, body = post(f"{base}/completions", {"prompt": PROMPT, "max_tokens": 4, "temperature": 0})
        assert status == 200 and body["model"] == "dynamic" and body["usage"]["completion_tokens"] >= 1
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()


def test_a_model_is_batched_only_when_it_honours_the_padding_mask(served):
    from fgtui.engine.serve.decoders import PaddedBatchDecoder, RowByRowDecoder

    service, _ = served
    # The shipped test model builds its own causal mask and ignores attention_mask.
    expected = PaddedBatchDecoder if service.model.architecture == "GPT2LMHeadModel" else RowByRowDecoder
    assert type(service.engine.decoder) is expected


def test_rows_of_different_lengths_joining_and_leaving_decode_as_alone(served):
    """Prompts of different lengths, admitted at different steps and finishing at different
    steps: the batched cache pads, re-aligns and drops rows, and every answer is the one
    transformers gives for that prompt alone."""
    service, url = served
    prompts = ["A", "The old house on the hill was", "Story:", "In the beginning there was a very long night", "x y"]
    answers: list = [None] * len(prompts)

    def ask(index: int) -> None:
        answers[index] = post(
            f"{url}/completions", {"prompt": prompts[index], "max_tokens": 5 + 3 * index, "temperature": 0}
        )[1]

    threads = []
    for index in range(len(prompts)):
        threads.append(threading.Thread(target=ask, args=(index,)))
        threads[-1].start()
        if index % 2:
            threads[-2].join(timeout=120)  # some rows join while others are mid-answer
    for thread in threads:
        thread.join(timeout=120)
    for index, answer in enumerate(answers):
        assert answer["choices"][0]["text"] == _reference(service, prompts[index], 5 + 3 * index), prompts[index]
