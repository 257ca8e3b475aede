"""The trainer on CPU with tiny models: log stream, exact resume, accumulation, guards."""

from __future__ import annotations

import json
import signal

import pytest
import torch

import tiny
from fgtui.engine.errors import FgError
from fgtui.engine.runs.schema import validate_record
from fgtui.engine.train import DivergenceError, RunContext, TextgenCallback, checkpoint as ckpt


def test_log_stream_conforms_to_the_schema(tmp_path):
    run = tiny.trainer(tmp_path, run_name="r", eval_steps=4)
    assert run.train() == 0
    records = tiny.read_records(tmp_path / "runs" / "r")
    assert all(validate_record(r) == [] for r in records), [validate_record(r) for r in records]
    events = [r["event"] for r in records if r["type"] == "event"]
    assert events[0] == "start" and events[-1] == "end"
    assert events.count("checkpoint") == 2
    assert records[-1]["status"] == "completed" and records[-1]["exit_code"] == 0
    train = [r for r in records if r["type"] == "train"]
    assert [r["step"] for r in train] == list(range(1, 9))
    assert train[-1]["loss"] < train[0]["loss"]
    assert train[-1]["tokens"] == 8 * 4 * (tiny.SEQ - 1)
    assert [r["step"] for r in records if r["type"] == "eval"] == [4, 8]


def test_resume_reproduces_the_uninterrupted_losses(tmp_path):
    assert tiny.trainer(tmp_path / "a", run_name="full").train() == 0
    full = tiny.losses_by_step(tmp_path / "a" / "runs" / "full")
    first = tiny.trainer(tmp_path / "b", run_name="first", max_steps=4)
    assert first.train() == 0
    resumed = tiny.trainer(tmp_path / "b", run_name="second", resume_from_checkpoint=True)
    assert resumed.train() == 0
    second = tiny.losses_by_step(tmp_path / "b" / "runs" / "second")
    assert sorted(second) == [5, 6, 7, 8]
    assert second == {step: full[step] for step in second}
    events = [r for r in tiny.read_records(tmp_path / "b" / "runs" / "second") if r["type"] == "event"]
    assert events[1]["event"] == "resumed" and events[1]["path"].endswith("checkpoint-4")


def test_resume_if_any_starts_fresh_without_a_checkpoint_and_resumes_with_one(tmp_path):
    fresh = tiny.trainer(tmp_path, run_name="fresh", max_steps=4, resume_from_checkpoint="if-any")
    assert fresh.train() == 0
    assert sorted(tiny.losses_by_step(tmp_path / "runs" / "fresh")) == [1, 2, 3, 4]
    again = tiny.trainer(tmp_path, run_name="again", resume_from_checkpoint="if-any")
    assert again.train() == 0
    assert sorted(tiny.losses_by_step(tmp_path / "runs" / "again")) == [5, 6, 7, 8]


def test_gradient_accumulation_matches_the_large_batch(tmp_path):
    big = tiny.trainer(
        tmp_path / "big", tiny.TinyLM(), run_name="r", max_steps=3, save_strategy="no", per_device_train_batch_size=4
    )
    small = tiny.trainer(
        tmp_path / "acc",
        tiny.TinyLM(),
        run_name="r",
        max_steps=3,
        save_strategy="no",
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
    )
    big.model.drop.p = small.model.drop.p = 0.0
    small.model.load_state_dict(big.model.state_dict())
    assert big.train() == small.train() == 0
    a = tiny.losses_by_step(tmp_path / "big" / "runs" / "r")
    b = tiny.losses_by_step(tmp_path / "acc" / "runs" / "r")
    assert a.keys() == b.keys()
    assert all(abs(a[k] - b[k]) < 1e-5 for k in a)


def test_nan_loss_stops_with_the_step_named(tmp_path):
    run = tiny.trainer(tmp_path, tiny.TinyLM(nan_at_call=3), run_name="r", eval_data=False)
    with pytest.raises(DivergenceError, match="at step 3"):
        run.train()
    records = tiny.read_records(tmp_path / "runs" / "r")
    assert records[-2]["event"] == "error" and "step 3" in records[-2]["message"]
    assert records[-1]["status"] == "failed"


def test_checkpoint_loads_with_transformers_and_resume_refuses_another_model(tmp_path):
    from transformers import LlamaForCausalLM

    run = tiny.trainer(tmp_path, tiny.llama(), run_name="r", max_steps=2, save_steps=2, eval_data=False)
    assert run.train() == 0
    loaded = LlamaForCausalLM.from_pretrained(tmp_path / "checkpoints" / "checkpoint-2")
    assert torch.equal(loaded.model.embed_tokens.weight, run.model.model.embed_tokens.weight)
    other = tiny.trainer(tmp_path, tiny.llama(hidden=48), run_name="r2", resume_from_checkpoint=True, eval_data=False)
    with pytest.raises(FgError, match=r"different model: .*shape \[64, 32\] in the checkpoint, \[64, 48\] here"):
        other.train()


def test_rotation_keeps_the_newest_and_the_best(tmp_path):
    run = tiny.trainer(
        tmp_path, run_name="r", max_steps=12, save_steps=2, eval_steps=2, save_total_limit=2, keep_best_n=1
    )
    run.model.drop.p = 0.0
    assert run.train() == 0
    kept = [p.name for p in ckpt.list_checkpoints(tmp_path / "checkpoints")]
    losses = run.state.eval_losses
    best = min(losses, key=losses.get)
    assert set(kept) == {f"checkpoint-{best}", "checkpoint-10", "checkpoint-12"}
    assert ckpt.latest_checkpoint(tmp_path / "checkpoints").name == "checkpoint-12"


def test_unwritable_output_dir_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(FgError, match="cannot write the output directory"):
        tiny.trainer(blocker / "out", run_name="r").train()


def test_text_samples_are_logged_at_eval(tmp_path):
    tokenizer = _char_tokenizer()
    callback = TextgenCallback(["ab", "cd"], tokenizer=tokenizer, max_new_tokens=5, temperature=1.0)
    run = tiny.trainer(
        tmp_path, tiny.llama(), run_name="r", max_steps=2, eval_steps=2, save_strategy="no", callbacks=[callback]
    )
    assert run.train() == 0
    samples = [r for r in tiny.read_records(tmp_path / "runs" / "r") if r["type"] == "sample"]
    assert [s["prompt"] for s in samples] == ["ab", "cd"]
    assert all(0 < len(s["text"]) <= 5 for s in samples)


def _char_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders
    from transformers import PreTrainedTokenizerFast

    vocab = {chr(ord("0") + i): i for i in range(tiny.VOCAB - 1)}
    vocab["[UNK]"] = tiny.VOCAB - 1
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")


def test_fgtui_model_trains_resumes_and_saves_for_transformers(tmp_path):
    from transformers import AutoModelForCausalLM

    from fgtui.engine.models import CausalLMConfig, build_causal_lm

    config = CausalLMConfig(
        vocab_size=tiny.VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=64,
    )

    def model():
        torch.manual_seed(0)
        return build_causal_lm(config)

    full = tiny.trainer(tmp_path / "a", model(), run_name="r", max_steps=6, save_steps=3, eval_data=False)
    assert full.train() == 0
    assert full.runtime.flops_token == model().flops_per_token(tiny.SEQ)
    first = tiny.trainer(tmp_path / "b", model(), run_name="r", max_steps=3, save_steps=3, eval_data=False)
    assert first.train() == 0
    second = tiny.trainer(
        tmp_path / "b",
        model(),
        run_name="r2",
        max_steps=6,
        save_steps=3,
        eval_data=False,
        resume_from_checkpoint="checkpoint-3",
    )
    assert second.train() == 0
    expected = tiny.losses_by_step(tmp_path / "a" / "runs" / "r")
    assert tiny.losses_by_step(tmp_path / "b" / "runs" / "r2") == {s: expected[s] for s in (4, 5, 6)}
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "b" / "checkpoints" / "checkpoint-6")
    assert type(loaded).__name__ == "LlamaForCausalLM"


def test_epochs_set_the_length_and_epoch_saves_land_on_epoch_ends(tmp_path):
    run = tiny.trainer(
        tmp_path,
        run_name="r",
        max_steps=-1,
        num_train_epochs=2,
        gradient_accumulation_steps=2,
        save_strategy="epoch",
        logging_steps=8,
        eval_data=False,
    )
    assert run.train() == 0
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "checkpoints")] == ["checkpoint-8", "checkpoint-16"]
    train = [r for r in tiny.read_records(tmp_path / "runs" / "r") if r["type"] == "train"]
    assert [r["epoch"] for r in train] == [1.0, 2.0]
    state = json.loads((tmp_path / "checkpoints" / "checkpoint-8" / "trainer_state.json").read_text())
    assert (state["epoch"], state["batches_in_epoch"]) == (0, 16)


def test_the_run_context_not_the_environment_says_where_a_run_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("FGTUI_RUN_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("FGTUI_JOB_ID", "job-from-env")
    run = tiny.trainer(tmp_path / "out", run_name="r", max_steps=2, save_strategy="no", eval_data=False)
    given = tmp_path / "given"
    assert run.train(RunContext(given, job_id="job-1")) == 0
    start = tiny.read_records(given)[0]
    assert start["event"] == "start" and start["run_name"] == "given" and start["job_id"] == "job-1"
    assert run.runtime.run_dir == given
    assert not (tmp_path / "from-env").exists() and not (tmp_path / "out" / "runs").exists()


def test_a_resume_in_the_run_context_overrides_the_config(tmp_path):
    assert tiny.trainer(tmp_path, run_name="a", max_steps=4, save_steps=2, eval_data=False).train() == 0
    again = tiny.trainer(tmp_path, run_name="b", max_steps=6, save_steps=2, eval_data=False)
    assert again.train(RunContext(tmp_path / "runs" / "b", resume="latest")) == 0
    records = tiny.read_records(tmp_path / "runs" / "b")
    resumed = [r for r in records if r.get("event") == "resumed"]
    assert len(resumed) == 1 and resumed[0]["path"].endswith("checkpoint-4")
    assert [r["step"] for r in records if r["type"] == "train"] == [5, 6]


def test_a_failed_setup_leaves_no_runtime_and_gives_sigterm_back(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    blocker = tmp_path / "file"
    blocker.write_text("")
    run = tiny.trainer(blocker / "out", run_name="r")
    with pytest.raises(FgError, match="cannot write the output directory"):
        run.train()
    assert run.runtime is None
    assert signal.getsignal(signal.SIGTERM) is before


def test_evaluate_works_right_after_setup(tmp_path):
    """What a Forgather script that only evaluates does: setup, then evaluate, no train()."""
    run = tiny.trainer(tmp_path, run_name="r")
    run.setup()
    eval_loss = run.evaluate()
    run._finish("completed", 0)
    [record] = [r for r in tiny.read_records(tmp_path / "runs" / "r") if r["type"] == "eval"]
    assert record["step"] == 0 and record["eval_loss"] == pytest.approx(eval_loss)
