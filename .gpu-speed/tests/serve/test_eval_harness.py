"""Evaluation harnesses score a model through /v1/completions with echo + logprobs.

The replay test sends lm-evaluation-harness's own request shape (token-id
prompts in a batch, max_tokens 1 or 0, echo, logprobs 1, temperature 0, seed)
and sums loglikelihoods as its parser does; the slow tests run the harness
itself (`lm-eval`'s local-completions model, and a whole evaluation of a small
multiple-choice task) when it is installed. Every figure is checked against
the model's own forward pass.
"""

from __future__ import annotations

import json
from operator import itemgetter

import pytest
import torch
from serve_helpers import post, running_server, tiny_model

from fgtui.engine.serve.completions import CompletionService

PAIRS = [
    ("The old house", " stood on the hill"),
    ("In the year 1908 I", " saw it"),
    ("It was a dark and stormy", " night"),
    ("He", " said nothing at all"),
]


@pytest.fixture(scope="module")
def service():
    model, tokenizer = tiny_model()
    service = CompletionService(model, tokenizer, "tiny")
    yield service
    service.close()


@pytest.fixture(scope="module")
def base(service):
    with running_server(service) as (_, base):
        yield base


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False)


def _reference(service, context: str, continuation: str) -> tuple[float, bool]:
    """log p(continuation | context) and whether it is the greedy continuation, from a forward pass."""
    whole = _encode(service.tokenizer, context + continuation)
    start = len(_encode(service.tokenizer, context))
    with torch.no_grad():
        logprobs = torch.log_softmax(service.model(torch.tensor([whole])).logits[0].float(), dim=-1)
    targets = torch.tensor(whole[start:])
    rows = logprobs[start - 1 : len(whole) - 1]
    total = float(rows.gather(1, targets[:, None]).sum())
    return total, bool((rows.argmax(-1) == targets).all())


def _harness_parse(answer: dict, context_lengths: list[int]) -> list[tuple[float, bool]]:
    """lm-eval's parse of an echo answer: the continuation's logprobs, minus the token generated after it."""
    results = []
    for choice, length in zip(sorted(answer["choices"], key=itemgetter("index")), context_lengths):
        logprobs = choice["logprobs"]["token_logprobs"][length:-1]
        tops = choice["logprobs"]["top_logprobs"][length:-1]
        greedy = all(lp == max(top.values()) for lp, top in zip(logprobs, tops))
        results.append((sum(logprobs), greedy))
    return results


def test_the_harness_request_shape_scores_as_a_forward_pass(base, service):
    prompts, context_lengths = [], []
    for context, continuation in PAIRS:
        prompts.append(_encode(service.tokenizer, context + continuation))
        context_lengths.append(len(_encode(service.tokenizer, context)))
    status, answer = post(
        f"{base}/completions",
        {
            "model": "tiny",
            "prompt": prompts,
            "temperature": 0,
            "max_tokens": 1,
            "logprobs": 1,
            "seed": 1234,
            "echo": True,
        },
    )
    assert status == 200, answer
    for (total, greedy), pair in zip(_harness_parse(answer, context_lengths), PAIRS):
        expected_total, expected_greedy = _reference(service, *pair)
        assert total == pytest.approx(expected_total, abs=1e-3) and greedy == expected_greedy
    # max_tokens 0: the prompt alone comes back, scored.
    status, answer = post(
        f"{base}/completions", {"model": "tiny", "prompt": prompts[0], "max_tokens": 0, "logprobs": 0, "echo": True}
    )
    choice = answer["choices"][0]
    assert status == 200 and len(choice["logprobs"]["token_logprobs"]) == len(prompts[0])
    assert choice["text"] == service.tokenizer.decode(prompts[0]) and answer["usage"]["completion_tokens"] == 0
    expected, _ = _reference(service, *PAIRS[0])
    assert sum(choice["logprobs"]["token_logprobs"][context_lengths[0] :]) == pytest.approx(expected, abs=1e-3)


@pytest.fixture(scope="module")
def tokenizer_dir(service, tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_tokenizer")
    service.tokenizer.save_pretrained(path)
    return path


@pytest.mark.slow
def test_lm_eval_local_completions_scores_match_the_model(base, service, tokenizer_dir):
    pytest.importorskip("lm_eval")
    from lm_eval.api.instance import Instance
    from lm_eval.models.openai_completions import LocalCompletionsAPI

    harness = LocalCompletionsAPI(
        base_url=f"{base}/completions",
        model="tiny",
        tokenizer=str(tokenizer_dir),
        tokenizer_backend="huggingface",
        batch_size=2,
        num_concurrent=2,
        max_length=96,
        max_retries=1,
    )
    requests = [Instance(request_type="loglikelihood", doc={}, arguments=pair, idx=i) for i, pair in enumerate(PAIRS)]
    scores = harness.loglikelihood(requests, disable_tqdm=True)
    for (total, greedy), pair in zip(scores, PAIRS):
        expected_total, expected_greedy = _reference(service, *pair)
        assert total == pytest.approx(expected_total, abs=1e-3) and greedy == expected_greedy
    generations = harness.generate_until(
        [
            Instance(
                request_type="generate_until",
                doc={},
                idx=0,
                arguments=("The old house", {"until": ["\n\n"], "max_gen_toks": 8, "do_sample": False}),
            )
        ],
        disable_tqdm=True,
    )
    assert isinstance(generations[0], str)


@pytest.mark.slow
def test_lm_eval_evaluates_a_task_through_the_server(base, service, tokenizer_dir, tmp_path):
    pytest.importorskip("lm_eval")
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    docs = [{"context": c, "choices": [cont, " the end of it", " nothing"], "label": 0} for c, cont in PAIRS]
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (tmp_path / "tiny_choice.yaml").write_text(
        "task: tiny_choice\ndataset_path: json\n"
        f"dataset_kwargs:\n  cache_dir: {tmp_path / 'cache'}\n  data_files:\n    test: {tmp_path / 'docs.jsonl'}\n"
        'test_split: test\noutput_type: multiple_choice\ndoc_to_text: "{{context}}"\n'
        'doc_to_choice: "{{choices}}"\ndoc_to_target: label\ntarget_delimiter: ""\n'
        "metric_list:\n  - metric: acc\n"
    )
    results = simple_evaluate(
        model="local-completions",
        tasks=["tiny_choice"],
        task_manager=TaskManager(include_path=str(tmp_path)),
        model_args={
            "base_url": f"{base}/completions",
            "model": "tiny",
            "tokenizer": str(tokenizer_dir),
            "tokenizer_backend": "huggingface",
            "max_length": 96,
            "num_concurrent": 2,
        },
        batch_size=2,
        log_samples=False,
    )
    # The accuracy the harness reports is the one the model's own loglikelihoods give.
    expected = sum(
        max(range(3), key=lambda k: _reference(service, d["context"], d["choices"][k])[0]) == 0 for d in docs
    )
    assert results["results"]["tiny_choice"]["acc,none"] == pytest.approx(expected / len(docs))
    print(f"lm-eval tiny_choice acc = {results['results']['tiny_choice']['acc,none']:.3f} (of {len(docs)} docs)")
