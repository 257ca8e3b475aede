"""Training and loading tokenizers.

`train_bpe_tokenizer` trains a byte-level BPE with HF `tokenizers` (byte
level: every string encodes, no unknown token needed) and saves it in the
Hugging Face layout, so `transformers.AutoTokenizer.from_pretrained(dir)`
and any HF tool can read it. `load_tokenizer` opens any such directory and
makes sure a pad token exists, telling the user when it had to pick one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from fgtui.engine.errors import FgError

log = logging.getLogger(__name__)

DEFAULT_SPECIAL_TOKENS = {
    "bos_token": "<|BOS|>",
    "eos_token": "<|EOS|>",
    "pad_token": "<|PAD|>",
}


def _text_batches(texts_or_dataset: Any, feature: str, batch_size: int) -> tuple[Iterator[list[str]], int | None]:
    """Batches of strings from a list of strings or a (possibly iterable) dataset."""
    if isinstance(texts_or_dataset, str):
        raise FgError(
            "train_bpe_tokenizer got a single string",
            hint="pass a list of texts or a dataset with a text column",
        )
    column_names = getattr(texts_or_dataset, "column_names", None)
    if column_names is not None:  # a datasets.Dataset / IterableDataset
        if feature not in column_names:
            raise FgError(
                f"dataset has no column {feature!r} (columns: {', '.join(column_names)})",
                hint="set feature= to the column holding the text",
            )
        total = len(texts_or_dataset) if hasattr(texts_or_dataset, "__len__") else None

        def from_dataset() -> Iterator[list[str]]:
            for batch in texts_or_dataset.iter(batch_size=batch_size):
                yield batch[feature]

        return from_dataset(), total

    texts: Iterable[str] = texts_or_dataset
    total = len(texts) if hasattr(texts, "__len__") else None

    def from_list() -> Iterator[list[str]]:
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) == batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    return from_list(), total


def train_bpe_tokenizer(
    texts_or_dataset: Any,
    vocab_size: int,
    *,
    bos_token: str = DEFAULT_SPECIAL_TOKENS["bos_token"],
    eos_token: str = DEFAULT_SPECIAL_TOKENS["eos_token"],
    pad_token: str = DEFAULT_SPECIAL_TOKENS["pad_token"],
    additional_special_tokens: Iterable[str] = (),
    model_max_length: int = 2048,
    min_frequency: int = 2,
    feature: str = "text",
    add_bos_on_encode: bool = True,
    save_dir: str | os.PathLike | None = None,
    show_progress: bool | None = None,
):
    """Train a byte-level BPE tokenizer and return it as a `PreTrainedTokenizerFast`.

    `texts_or_dataset` is an iterable of strings or a `datasets` dataset
    (its `feature` column is read). Special tokens get the first ids, in the
    order bos, eos, pad, then `additional_special_tokens`. With
    `add_bos_on_encode`, `tokenizer(text)` prepends BOS the way Llama
    tokenizers do (`add_special_tokens=False` turns it off, as the block
    tokenizer does). With `save_dir`, the tokenizer is saved there in HF format.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if save_dir is not None:
        _refuse_project_dir(Path(save_dir))
    specials = list(dict.fromkeys([bos_token, eos_token, pad_token, *additional_special_tokens]))
    if vocab_size < 256 + len(specials):
        raise FgError(
            f"vocab_size {vocab_size} is too small for a byte-level BPE",
            hint=f"use at least {256 + len(specials)} (256 bytes + {len(specials)} special tokens)",
        )
    batches, total = _text_batches(texts_or_dataset, feature, batch_size=1000)

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=_tty() if show_progress is None else show_progress,
    )
    tokenizer.train_from_iterator(batches, trainer=trainer, length=None if total is None else -(-total // 1000))

    steps = [processors.ByteLevel(trim_offsets=False)]
    if add_bos_on_encode:
        bos_id = tokenizer.token_to_id(bos_token)
        steps.append(
            processors.TemplateProcessing(
                single=f"{bos_token} $A",
                pair=f"{bos_token} $A {bos_token} $B",
                special_tokens=[(bos_token, bos_id)],
            )
        )
    tokenizer.post_processor = processors.Sequence(steps)

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=bos_token,
        eos_token=eos_token,
        pad_token=pad_token,
        additional_special_tokens=list(additional_special_tokens) or None,
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )
    if save_dir is not None:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        fast.save_pretrained(str(save_dir))
    return fast


def _refuse_project_dir(save_dir: Path) -> None:
    """Before training: a tokenizer saved into a project directory would mix its files
    with the project's. It happens by default when a workspace keeps its tokenizer
    projects in `tokenizers/`: `tokenizers/NAME` is then the project itself."""
    from fgtui.engine.project.workspace import META_NAME

    if (save_dir / META_NAME).is_file():
        raise FgError(
            f"the tokenizer would be saved into the project directory {save_dir} (it holds {META_NAME})",
            hint="save it elsewhere: --output-dir DIR, or set ns.tokenizers_dir in the config",
        )


def load_tokenizer(
    path: str | os.PathLike,
    *,
    pad_token: str | None = None,
    model_max_length: int | None = None,
    trust_remote_code: bool | None = None,
):
    """Load a Hugging Face tokenizer from a local directory (or a Hub name when online).

    `trust_remote_code` is passed on when given: False reads a model directory whose
    config.json maps shipped code without importing it (and without transformers asking
    on the terminal).

    A tokenizer without a pad token gets one: `pad_token` when given, else
    its EOS token (collators mask padding out of the loss and attention, so
    reusing EOS is safe and keeps the vocabulary unchanged); the user is told.
    """
    from transformers import AutoTokenizer

    path = os.fspath(path)
    local = Path(path).expanduser()
    if local.exists() and not local.is_dir():
        raise FgError(
            f"tokenizer path {path} is a file",
            hint="pass the directory that holds tokenizer.json / tokenizer_config.json",
        )
    try:
        trust = {} if trust_remote_code is None else {"trust_remote_code": trust_remote_code}
        tokenizer = AutoTokenizer.from_pretrained(str(local) if local.exists() else path, **trust)
    except (OSError, ValueError) as error:
        where = "directory" if local.exists() else "no such directory, nor a Hub tokenizer available offline:"
        raise FgError(
            f"cannot load a tokenizer from {where} {path}",
            hint="point at a directory written by save_pretrained (or train one with train_bpe_tokenizer)",
        ) from error
    if model_max_length is not None:
        tokenizer.model_max_length = model_max_length
    if tokenizer.pad_token is None:
        if pad_token is not None:
            tokenizer.add_special_tokens({"pad_token": pad_token})
            log.warning("tokenizer %s had no pad token; added %r (vocabulary grew by one)", path, pad_token)
        elif tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
            log.warning("tokenizer %s had no pad token; using its EOS token %r for padding", path, tokenizer.eos_token)
        else:
            raise FgError(
                f"tokenizer {path} has neither a pad nor an EOS token",
                hint="pass pad_token= to load_tokenizer to add one",
            )
    return tokenizer


def tokenizer_identity(tokenizer) -> str:
    """A stable digest of everything that decides how a tokenizer encodes,
    used to key the processed-dataset cache."""
    import hashlib

    digest = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        digest.update(backend.to_str().encode())
    else:  # a slow (Python) tokenizer: its vocabulary stands in for it
        digest.update(repr(sorted(tokenizer.get_vocab().items())).encode())
    digest.update(
        repr(
            (type(tokenizer).__name__, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
        ).encode()
    )
    return digest.hexdigest()


def _tty() -> bool:
    import sys

    return sys.stderr.isatty()
