"""Conversations tokenized with a chat template: the labels keep the assistant's turns only.

The templates are Forgather's own (../shared/forgather/chat_templates; skipped without
it) and one written here in transformers' style; the tokenizer is a byte-level BPE
trained here, with ChatML's markers as special tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from fgtui.engine.data.chat import IGNORE_INDEX, assistant_spans, chat_tokenize_map_fn, tokenize_conversation
from fgtui.engine.errors import FgError

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = next(
    (
        base / "shared" / "forgather" / "chat_templates"
        for base in (REPO.parent, REPO.parent.parent)
        if (base / "shared" / "forgather" / "chat_templates").is_dir()
    ),
    None,
)
needs_shared = pytest.mark.skipif(TEMPLATES is None, reason="needs ../shared/forgather/chat_templates")

CONVERSATION = [
    {"role": "system", "content": "You are a helpful librarian."},
    {"role": "user", "content": "Where is the Necronomicon kept?"},
    {"role": "assistant", "content": "In the restricted section, under lock."},
    {"role": "user", "content": "Can I read it?"},
    {"role": "assistant", "content": "Only with the head librarian's permission."},
]

# transformers' usual ChatML template (Qwen-style), as a tokenizer's own chat_template.
HF_CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] "
    "+ '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    special = ["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    corpus = [m["content"] for m in CONVERSATION] * 20 + ["system user assistant Instruction Response"] * 20
    core.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=500, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>", chat_template=HF_CHATML
    )


def trained_text(tokenizer, row) -> list[str]:
    """The label runs (consecutive trained tokens) decoded."""
    runs, current = [], []
    for token, label in zip(row["input_ids"], row["labels"]):
        if label == IGNORE_INDEX:
            if current:
                runs.append(tokenizer.decode(current))
            current = []
        else:
            assert label == token
            current.append(token)
    if current:
        runs.append(tokenizer.decode(current))
    return runs


@needs_shared
def test_chatml_trains_exactly_the_replies_and_their_end_markers(tokenizer):
    row = tokenize_conversation(CONVERSATION, tokenizer, str(TEMPLATES / "chatml.jinja"))
    assert tokenizer.decode(row["input_ids"]).startswith("<|im_start|>system\nYou are a helpful librarian.")
    assert trained_text(tokenizer, row) == [
        "In the restricted section, under lock.<|im_end|>\n",
        "Only with the head librarian's permission.<|im_end|>\n",
    ]


def test_tokenizers_own_template_is_used_without_one_given(tokenizer):
    row = tokenize_conversation(CONVERSATION, tokenizer)
    assert trained_text(tokenizer, row) == [
        "In the restricted section, under lock.<|im_end|>\n",
        "Only with the head librarian's permission.<|im_end|>\n",
    ]
    everything = tokenize_conversation(CONVERSATION, tokenizer, assistant_only=False)
    assert everything["labels"] == everything["input_ids"] == row["input_ids"]


@needs_shared
@pytest.mark.parametrize("name", ["chatml.jinja", "chatml_eos.jinja", "alpaca.jinja", "llamav2.jinja"])
def test_every_forgather_template_masks_prompts_and_keeps_replies(tokenizer, name):
    row = tokenize_conversation(CONVERSATION, tokenizer, str(TEMPLATES / name))
    runs = trained_text(tokenizer, row)
    assert len(runs) == 2
    for run, reply in zip(runs, [CONVERSATION[2]["content"], CONVERSATION[4]["content"]]):
        assert run.startswith(reply)
    assert not any(CONVERSATION[1]["content"] in run or CONVERSATION[3]["content"] in run for run in runs)
    if name == "chatml_eos.jinja":  # the template puts eos_token after each reply: it is trained
        assert all(run.endswith("<|im_end|></s>\n") for run in runs)


@needs_shared
def test_narrative_template_spans_follow_the_generation_prompt(tokenizer):
    text, spans = assistant_spans(
        (TEMPLATES / "narrative_chat.jinja").read_text(), CONVERSATION[1:3], bos_token="", eos_token=""
    )
    assert [text[a:b] for a, b in spans] == [" In the restricted section, under lock."]


def test_template_that_reorders_turns_is_refused(tokenizer):
    # Puts the last message first: earlier turns are not a prefix of the whole.
    reordered = "{% for m in messages|reverse %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(FgError, match="turn 2 \\(assistant\\)"):
        tokenize_conversation(CONVERSATION, tokenizer, reordered)


def test_map_function_cuts_rows_and_keeps_labels_aligned(tokenizer):
    batch = {"messages": [CONVERSATION, CONVERSATION[:3]]}
    out = chat_tokenize_map_fn(batch, tokenizer, max_length=12)
    assert [len(ids) for ids in out["input_ids"]] == [12, 12]
    assert all(len(ids) == len(labels) for ids, labels in zip(out["input_ids"], out["labels"]))
    full = chat_tokenize_map_fn(batch, tokenizer, max_length=12, truncation=False)
    assert len(full["input_ids"][0]) > 12


def test_collator_keeps_the_mask(tokenizer):
    from fgtui.engine.data.collate import DataCollatorForCausalLM

    rows = chat_tokenize_map_fn({"messages": [CONVERSATION, CONVERSATION[:3]]}, tokenizer)
    batch = DataCollatorForCausalLM(tokenizer)([{"input_ids": i, "labels": l} for i, l in zip(*rows.values())])
    for b, labels in enumerate(rows["labels"]):
        assert batch["labels"][b, : len(labels)].tolist() == labels
        assert (batch["labels"][b, len(labels) :] == IGNORE_INDEX).all()


def test_conversation_dataset_through_forgathers_preprocessing(tokenizer):
    """A dataset project's way: preprocess_dataset with the chat map function (Forgather's
    map_fn convention), then Forgather's collator; the batch's labels keep the replies only."""
    import functools

    import datasets

    from fgtui.engine.config import specs

    preprocess = specs.resolve("forgather.ml.datasets:preprocess_dataset")
    collator = specs.resolve("forgather.ml.data_collator:DataCollatorForCausalLM")(tokenizer, truncation=True)
    conversations = datasets.Dataset.from_dict({"messages": [CONVERSATION, CONVERSATION[:3]], "id": [1, 2]})
    rows = preprocess(
        conversations,
        tokenizer,
        feature="messages",
        map_fn=functools.partial(chat_tokenize_map_fn, assistant_only=True),
        fn_kwargs={"truncation": True, "max_length": 200},
    )
    assert rows.column_names == ["input_ids", "labels"]
    batch = collator([rows[0], rows[1]])
    for b in range(2):
        trained = [t for t, label in zip(batch["input_ids"][b].tolist(), batch["labels"][b].tolist()) if label != -100]
        assert tokenizer.decode(trained).startswith("In the restricted section, under lock.<|im_end|>")
        assert "Where is the Necronomicon kept?" not in tokenizer.decode(trained)
