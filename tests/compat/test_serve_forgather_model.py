"""`fgtui serve` on Forgather's own generated model: examples/models/llama's 4M
`DynamicCasualLM`, constructed from ../shared/forgather as Forgather does, its weights saved
to a checkpoint, then served with --trust-remote-code. Its code is written for transformers
5.0-5.1; on a newer one it runs as fgtui adapts it (engine/compat/forgather/model_code.py:
the model is built as fgtui's trainer builds it, and loading for decoding adapts the class
it imports). Skips without ../shared."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "serve"))
from compat_helpers import SHARED, forgather_tree  # noqa: E402


pytestmark = pytest.mark.skipif(SHARED is None, reason="needs ../shared/forgather")


def test_forgathers_generated_model_serves_greedy_text_as_it_computes_it(tmp_path, monkeypatch):
    import shutil
    import threading

    import torch
    from serve_helpers import post, running_server
    from transformers_models import greedy_without_cache

    from fgtui.engine.cli import main
    from fgtui.engine.compat.forgather.model_code import adapt_model
    from fgtui.engine.compat.forgather.project import from_project
    from fgtui.engine.data.tokenizer import load_tokenizer
    from fgtui.engine.models.transformers_lm import load_for_decoding
    from fgtui.engine.train.checkpoint import save_model
    from fgtui.engine.serve.completions import CompletionService

    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    tree = forgather_tree(tmp_path, ["models/llama"])
    project = tree / "examples" / "models" / "llama"
    built = from_project(project, "4M.yaml", targets=["pretrained_tokenizer", "model"])
    torch.manual_seed(0)
    model = adapt_model(built["model"]())  # as fgtui's trainer builds it
    output = project / "output_models" / "llama_4m"
    checkpoint = output / "checkpoints" / "checkpoint-1"
    save_model(model, checkpoint)  # as fgtui's trainer writes a checkpoint
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(output / name, checkpoint / name)
    (checkpoint / "manifest.json").write_text("{}")

    assert main(["serve", str(output), "--port", "0", "--device", "cpu"]) == 2  # no flag: refused
    served = load_for_decoding(output / "checkpoints" / "checkpoint-1", "cpu", trust_remote_code=True)
    assert served.architecture == "DynamicCasualLM"
    tokenizer = load_tokenizer(checkpoint)
    service = CompletionService(served, tokenizer, "llama_4m")
    # It honours the attention mask, so its rows share one forward (serve/decoders.py).
    assert type(service.engine.decoder).__name__ == "PaddedBatchDecoder"
    prompt = "The oldest and"
    expected = greedy_without_cache(served.model, tokenizer, prompt, 8)
    try:
        with running_server(service) as (_, url):
            status, body = post(f"{url}/completions", {"prompt": prompt, "max_tokens": 8, "temperature": 0})
            assert status == 200 and body["model"] == "llama_4m"
            assert body["choices"][0]["text"] == expected
            status, stream = post(
                f"{url}/completions", {"prompt": prompt, "max_tokens": 8, "temperature": 0, "stream": True}, raw=True
            )
            assert status == 200 and stream.rstrip().endswith("data: [DONE]")
            # Prompts of different lengths at once: one padded batch, each answer as alone.
            prompts = ["A", "The oldest and strongest emotion of", "Once upon"]
            answers: list = [None] * len(prompts)

            def ask(index: int) -> None:
                body = {"prompt": prompts[index], "max_tokens": 4 + 2 * index, "temperature": 0}
                answers[index] = post(f"{url}/completions", body)[1]

            threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(prompts))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            for index, answer in enumerate(answers):
                expected = greedy_without_cache(served.model, tokenizer, prompts[index], 4 + 2 * index)
                assert answer["choices"][0]["text"] == expected, prompts[index]
    finally:
        service.close()
