"""`fgtui generate` and `convert` on models fgtui's own decoder does not read: a GPT-2 made
with transformers' from_config, and a model whose code ships in its directory (auto_map, as
Forgather writes it), which runs only with --trust-remote-code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fgtui.engine.cli import main
from model_dirs import save_gpt2, save_shipped_model, small_tokenizer

PROMPT = "The old house"

# A causal LM whose state is a running sum of embeddings: its cache is a plain tuple,
# not transformers' Cache, and its class is mapped as AutoModel only (as Forgather's is).
TINY_LM_SOURCE = """
import torch
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast


class TinyConfig(PretrainedConfig):
    model_type = "fgtui-test-running-mean"

    def __init__(self, vocab_size=64, hidden_size=16, **kwargs):
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        super().__init__(**kwargs)


class TinyLM(PreTrainedModel):
    config_class = TinyConfig

    def __init__(self, config):
        super().__init__(config)
        self.embed = torch.nn.Embedding(config.vocab_size, config.hidden_size)
        self.head = torch.nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None,
                use_cache=None, return_dict=None, **kwargs):
        total, count = past_key_values if past_key_values is not None else (0.0, 0)
        sums = total + self.embed(input_ids).cumsum(dim=1)
        counts = count + torch.arange(1, input_ids.shape[1] + 1, device=input_ids.device)[None, :, None]
        logits = self.head(torch.tanh(sums / counts) * 3)
        cache = (sums[:, -1:], count + input_ids.shape[1]) if use_cache else None
        return CausalLMOutputWithPast(logits=logits, past_key_values=cache)
"""


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory) -> Path:
    tokenizer = small_tokenizer()
    eos = tokenizer.eos_token_id
    return save_gpt2(tmp_path_factory.mktemp("gpt2") / "model", tokenizer, bos_token_id=eos, eos_token_id=eos)


@pytest.fixture(scope="module")
def remote_code_dir(tmp_path_factory) -> Path:
    tokenizer = small_tokenizer()
    directory = tmp_path_factory.mktemp("remote") / "model"
    return save_shipped_model(
        directory, "tiny_lm.py", TINY_LM_SOURCE, "TinyConfig", "TinyLM", tokenizer, eos_token_id=tokenizer.eos_token_id
    )


def _greedy_without_cache(model, tokenizer, prompt: str, n: int) -> str:
    """The reference: every step recomputes the whole context (no cache), stops at eos."""
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    prompt_len = ids.shape[1]
    with torch.no_grad():
        for _ in range(n):
            token = model(input_ids=ids, return_dict=True).logits[0, -1].argmax()
            ids = torch.cat((ids, token.view(1, 1)), dim=1)
            if int(token) == tokenizer.eos_token_id:
                break
    return prompt + tokenizer.decode(ids[0, prompt_len:], skip_special_tokens=True)


def _generate(directory: Path, *extra: str) -> list[str]:
    return ["generate", str(directory), PROMPT, "-n", "12", "--temperature", "0", "--device", "cpu", *extra]


def test_gpt2_from_config_generates_through_transformers(gpt2_dir, capsys):
    from transformers import AutoModelForCausalLM

    from fgtui.engine.data.tokenizer import load_tokenizer

    assert main(_generate(gpt2_dir)) == 0
    captured = capsys.readouterr()
    assert "via transformers (GPT2LMHeadModel)" in captured.err
    reference = AutoModelForCausalLM.from_pretrained(gpt2_dir).eval()
    assert captured.out == _greedy_without_cache(reference, load_tokenizer(gpt2_dir), PROMPT, 12) + "\n"


def test_gpt2_sampling_follows_the_seed(gpt2_dir, capsys):
    runs = []
    for seed in ("1", "1", "2"):
        args = ["generate", str(gpt2_dir), PROMPT, "-n", "16", "--temperature", "1.5", "--top-k", "0"]
        assert main([*args, "--seed", seed, "--device", "cpu"]) == 0
        runs.append(capsys.readouterr().out)
    assert runs[0] == runs[1] != runs[2]


def test_shipped_model_code_is_refused_without_the_flag(remote_code_dir, capsys):
    assert main(_generate(remote_code_dir)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str((remote_code_dir / "tiny_lm.py").resolve()) in err and "--trust-remote-code" in err


def test_shipped_model_code_generates_with_the_flag(remote_code_dir, capsys):
    from fgtui.engine.data.tokenizer import load_tokenizer
    from fgtui.engine.models.transformers_lm import load_transformers_lm

    assert main(_generate(remote_code_dir, "--trust-remote-code")) == 0
    captured = capsys.readouterr()
    assert "via transformers (TinyLM)" in captured.err
    reference = load_transformers_lm(remote_code_dir, trust_remote_code=True).model
    assert captured.out == _greedy_without_cache(reference, load_tokenizer(remote_code_dir), PROMPT, 12) + "\n"


def test_convert_writes_a_directory_transformers_loads(gpt2_dir, remote_code_dir, tmp_path, capsys):
    for source, extra in ((gpt2_dir, []), (remote_code_dir, ["--trust-remote-code"])):
        out = tmp_path / source.parent.name
        assert main(["convert", str(source), str(out), "--check", *extra]) == 0
        printed = capsys.readouterr().out
        assert "with transformers" in printed and "largest logit difference" in printed
        assert main(_generate(source, *extra)) == 0
        from_source = capsys.readouterr().out
        assert main(_generate(out, *extra)) == 0
        assert capsys.readouterr().out == from_source
    # The shipped code travelled along, mapped for AutoModelForCausalLM.
    written = json.loads((tmp_path / remote_code_dir.parent.name / "config.json").read_text())
    assert written["auto_map"]["AutoModelForCausalLM"] == "tiny_lm.TinyLM"
    assert (tmp_path / remote_code_dir.parent.name / "tiny_lm.py").is_file()


def test_convert_refuses_shipped_code_without_the_flag(remote_code_dir, tmp_path, capsys):
    assert main(["convert", str(remote_code_dir), str(tmp_path / "out")]) == 2
    assert "--trust-remote-code" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_output_dir_with_config_but_no_weights_means_its_newest_checkpoint(gpt2_dir, tmp_path, capsys):
    """Forgather writes config.json and the model code into the output dir before training;
    the weights are in the checkpoints fgtui saves under it."""
    import shutil

    from fgtui.engine.train.checkpoint import find_model_dir

    output = tmp_path / "default_model"
    checkpoint = output / "checkpoints" / "checkpoint-3"
    shutil.copytree(gpt2_dir, checkpoint)
    (checkpoint / "manifest.json").write_text("{}")
    shutil.copy(gpt2_dir / "config.json", output / "config.json")
    assert find_model_dir(output) == checkpoint
    shutil.rmtree(output / "checkpoints")
    assert find_model_dir(output) == output  # no checkpoint: the loader names what is missing
    assert main(_generate(output)) == 2
    assert "no .safetensors weights" in capsys.readouterr().err
