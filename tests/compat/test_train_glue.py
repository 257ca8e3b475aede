"""Forgather's torchtitan glue, DiLoCo callback and fast iterable loader, as fgtui provides them."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest

from fgtui.engine.config import specs
from fgtui.engine.errors import FgError

needs_torchtitan = pytest.mark.skipif(importlib.util.find_spec("torchtitan") is None, reason="needs torchtitan")


def job(compile_loss: bool = False, validation_steps: int = 4) -> SimpleNamespace:
    return SimpleNamespace(
        compile=SimpleNamespace(enable=compile_loss, components=["model", "loss"]),
        validation=SimpleNamespace(steps=validation_steps),
    )


def test_builders_answer_with_the_configs_factories():
    import functools

    import torch

    helpers = "forgather.ml.trainer.torchtitan.helpers"
    model_parts = [torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)]
    made = specs.resolve(f"{helpers}:build_optimizers")(
        model_parts, None, None, None, container_factory=lambda model_parts: ("optimizers", model_parts)
    )
    assert made == ("optimizers", model_parts)
    assert specs.resolve(f"{helpers}:build_tokenizer")(job(), tokenizer="tok") == "tok"
    loss = functools.partial(torch.nn.functional.cross_entropy)
    assert specs.resolve(f"{helpers}:build_loss_fn")(job(), loss_fn=loss) is loss
    compiled = specs.resolve(f"{helpers}:build_loss_fn")(job(compile_loss=True), loss_fn=loss)
    assert compiled is not loss and callable(compiled)


def test_scheduler_container_steps_saves_and_loads_every_scheduler():
    import functools

    import torch

    container_cls = specs.resolve("forgather.ml.trainer.torchtitan.lr_scheduler:LRSchedulersContainer")
    infinite = specs.resolve("forgather.ml.optim.infinite_lr_scheduler:InfiniteLRScheduler")
    factory = functools.partial(infinite, warmup_steps=4, cooldown_steps=0, constant_lr=1e-3)
    optimizers = [torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1e-2) for _ in range(2)]
    build = specs.resolve("forgather.ml.trainer.torchtitan.helpers:build_lr_schedulers")
    container = build(
        optimizers, None, 100, container_factory=functools.partial(container_cls, lr_scheduler_factory=factory)
    )
    assert len(container) == 2
    for _ in range(2):
        container.step()
    assert [o.param_groups[0]["lr"] for o in optimizers] == [pytest.approx(5e-3)] * 2
    state = container.state_dict()
    fresh = container_cls(
        [torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1e-2) for _ in range(2)], lr_scheduler_factory=factory
    )
    fresh.load_state_dict(state)
    assert [s.last_epoch for s in fresh] == [2, 2]
    with pytest.raises(ValueError):
        container_cls([], lr_scheduler_factory=factory)


def test_validator_without_torchtitan_names_it(monkeypatch):
    import sys

    from fgtui.engine.compat.forgather.ml.trainer.torchtitan import validate

    validate._validator_class.cache_clear()
    monkeypatch.setitem(sys.modules, "torchtitan", None)  # as if not installed
    try:
        with pytest.raises(FgError, match="Validator needs torchtitan"):
            validate.Validator
    finally:
        validate._validator_class.cache_clear()


@needs_torchtitan
def test_validator_takes_the_configs_loader():
    from fgtui.engine.compat.forgather.ml.trainer.torchtitan.validate import Validator

    calls = []

    def build_dataloader_fn(**kwargs):
        calls.append(kwargs)
        return "loader"

    validator = Validator(
        job(validation_steps=-1), 2, 1, "tok", "dims", "loss", build_dataloader_fn, "ctx", "amp", "metrics"
    )
    assert validator.validation_dataloader == "loader"
    assert calls == [
        {"job_config": validator.job_config, "dp_world_size": 2, "dp_rank": 1, "tokenizer": "tok", "infinite": False}
    ]


@needs_torchtitan
def test_dataloader_gives_each_rank_its_share():
    import datasets

    build = specs.resolve("forgather.ml.trainer.torchtitan.helpers:build_dataloader")
    data = datasets.Dataset.from_dict({"x": list(range(8))}).to_iterable_dataset(num_shards=2)
    loader = build(1, 0, None, job(), dataset=data, batch_size=2, data_collator=lambda rows: [r["x"] for r in rows])
    other = build(2, 1, None, job(), dataset=data, batch_size=2, data_collator=lambda rows: [r["x"] for r in rows])
    assert sorted(x for batch in loader for x in batch) == list(range(8))
    assert sorted(x for batch in other for x in batch) == [4, 5, 6, 7]


def test_diloco_without_server_does_nothing_and_with_one_is_refused(monkeypatch):
    callback_cls = specs.resolve("forgather.ml.trainer.callbacks:DiLoCoCallback")
    monkeypatch.delenv("DILOCO_SERVER", raising=False)
    callback = callback_cls(server_addr=None, sync_every=None)
    assert callback.server_addr == ""
    with pytest.raises(FgError, match="DiLoCo server host:9000 is not provided"):
        callback_cls(server_addr="host:9000")
    monkeypatch.setenv("DILOCO_SERVER", "env-host:1")
    with pytest.raises(FgError, match="env-host:1"):
        callback_cls()


def test_fast_iterable_loader_reads_local_and_saved_datasets(tmp_path):
    import json

    import datasets

    load = specs.resolve("forgather.ml.datasets:fast_load_iterable_dataset")
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "train.jsonl").write_text("".join(json.dumps({"text": f"t{i}"}) + "\n" for i in range(5)))
    streamed = load(str(tmp_path / "local"), split="train")
    assert isinstance(streamed, datasets.IterableDataset)
    assert [r["text"] for r in streamed.map(lambda r: {"text": r["text"].upper()})] == [f"T{i}" for i in range(5)]
    saved = tmp_path / "saved"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a", "b", "c"]})}).save_to_disk(str(saved))
    assert [r["text"] for r in load(str(saved), split="train")] == ["a", "b", "c"]
    with pytest.raises(FgError, match="name one in split"):
        load(str(saved))


def test_collator_takes_forgathers_padding_names_and_ignore_index():
    import torch

    import sys
    from pathlib import Path

    from fgtui.engine.compat.forgather.importer import install

    install()  # tiny_data imports forgather.ml.loss, as a project's own module would
    sys.path.insert(0, str(Path(__file__).parent / "forgather_fixture"))
    import tiny_data

    collator_cls = specs.resolve("forgather.ml.data_collator:DataCollatorForCausalLM")
    tokenizer = tiny_data.tokenizer()
    rows = [{"input_ids": [5, 6, 7]}, {"input_ids": [5, 6]}]
    fixed = collator_cls(tokenizer, padding="max_length", max_length=6, return_tensors="pt")(rows)
    assert fixed["input_ids"].shape == (2, 6) and fixed["labels"][1].tolist() == [5, 6, -100, -100, -100, -100]
    assert fixed["attention_mask"][1].tolist() == [1, 1, 0, 0, 0, 0]
    # Full rows: no mask (Forgather's collator returns none); padded to max_length, the padding is masked.
    full = [{"input_ids": [5, 6, 7]}, {"input_ids": [8, 9, 10]}]
    assert set(collator_cls(tokenizer)(full)) == {"input_ids", "labels"}
    to_five = collator_cls(tokenizer, padding="max_length", max_length=5, return_tensors="pt")(full)
    assert to_five["attention_mask"].tolist() == [[1, 1, 1, 0, 0]] * 2
    batch, labels = collator_cls(tokenizer, input_name="input", labels_name=None, ignore_index=-1)(rows)
    assert set(batch) == {"input", "attention_mask"} and labels[1].tolist() == [5, 6, -1]
    assert torch.equal(batch["input"][0], torch.tensor([5, 6, 7]))
    with pytest.raises(FgError, match="pads to the longest row or to max_length"):
        collator_cls(tokenizer, padding="do_not_pad")
