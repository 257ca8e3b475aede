"""Examples and length statistics of a dataset config, as one JSON object on stdout.

Run by the dataset screen as `python -m fgtui.app.dataset_probe ...` in a
child process: building a dataset imports datasets/tokenizers (and through
them, often torch), which the UI process must never load, and a config that
crashes while building must not take the UI down with it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict


# The engine's hints name `fgtui dataset`'s flags; the screen has a control for each.
_SCREEN_CONTROLS = (
    ("pass -T TOKENIZER", 'fill in "tokenizer"'),
    ("-T TOKENIZER", '"tokenizer"'),
    ("pick the text column with --feature", 'type the text column in "text feature"'),
    ("--feature", '"text feature"'),
    ("drop --tokenized", 'switch off "tokenized"'),
    ("--tokenized", 'the "tokenized" box'),
    ("--target", '"target"'),
)


def in_screen_words(message: str) -> str:
    """An engine message with `fgtui dataset`'s flags replaced by the screen's controls."""
    for flag, control in _SCREEN_CONTROLS:
        message = message.replace(flag, control)
    return message


def _stage(text: str) -> None:
    """A progress line for the dataset screen, which shows the latest one."""
    print(text, file=sys.stderr, flush=True)


def _column_problem(columns: list[str], feature: str, tokenized: bool) -> tuple[str | None, bool]:
    """(why the split cannot be measured as asked, in the screen's own words, or
    None; whether to read input_ids instead). A tokenized split asked for its
    text is read as tokenized: that is what the "tokenized" box is for."""
    if tokenized:
        if "input_ids" in columns:
            return None, True
        return (
            f"the split has no input_ids (columns: {', '.join(columns)}): "
            f'switch off the "tokenized" box to measure the {feature!r} text'
        ), False
    if feature in columns:
        return None, False
    if "input_ids" in columns:
        return None, True
    return (
        f"the split has no {feature!r} column (columns: {', '.join(columns)}): "
        'type the one holding the text in "text feature"'
    ), False


def probe(
    project_dir: str,
    config: str,
    *,
    target: str,
    tokenizer_path: str | None,
    feature: str,
    tokenized: bool,
    samples: int,
    examples: int,
    seed: int,
) -> dict:
    from fgtui.engine.config import Builder
    from fgtui.engine.data.histogram import length_histogram
    from fgtui.engine.errors import FgError
    from fgtui.engine.launch.launcher import render_config_for_launch

    _stage("reading the config")
    rendered = render_config_for_launch(config, {}, project_dir=project_dir)
    graph = rendered.graph  # parsed with the line map: errors name the template line
    if target not in graph.targets:
        raise FgError(f"the config has no target {target!r}", hint=f"targets: {', '.join(graph.targets)}")
    context: dict = {}
    tokenizer = None
    if tokenizer_path and not tokenizer_path.startswith("config:"):
        from fgtui.engine.data import load_tokenizer

        _stage(f"loading the tokenizer {tokenizer_path}")
        tokenizer = context["tokenizer"] = load_tokenizer(tokenizer_path)
    builder = Builder(graph, context)
    if tokenizer_path and tokenizer_path.startswith("config:"):
        name = tokenizer_path[len("config:") :]
        if name not in graph.targets:
            raise FgError(
                f"the config has no target {name!r} for the tokenizer", hint=f"targets: {', '.join(graph.targets)}"
            )
        _stage(f"building the config's {name}")
        tokenizer = builder.build(name)
        builder.context.setdefault("tokenizer", tokenizer)
    _stage(f"building {target}")
    dataset = builder.build(target)
    if not hasattr(dataset, "column_names"):
        raise FgError(f"target {target!r} built a {type(dataset).__name__}, not a dataset")
    columns = list(dataset.column_names or [])
    problem, read_ids = _column_problem(columns, feature, tokenized)
    if problem:
        return {"error": problem}
    if not read_ids and tokenizer is None:
        return {
            "error": 'measuring text needs a tokenizer: fill in "tokenizer" (a directory, or '
            'config:TARGET), or switch on "tokenized" for a tokenized split'
        }
    _stage(f"measuring up to {samples} examples")
    stats = length_histogram(dataset, tokenizer, feature=feature, tokenized=read_ids, sample=samples, seed=seed)
    rows = (
        dataset.take(examples)
        if not hasattr(dataset, "__len__")
        else dataset.select(range(min(examples, len(dataset))))
    )
    shown = []
    for row in rows:
        if feature in row and not read_ids:
            shown.append(str(row[feature])[:4000])
        elif "input_ids" in row and tokenizer is not None:
            shown.append(tokenizer.decode(row["input_ids"])[:4000])
        else:
            shown.append(json.dumps({k: str(v)[:200] for k, v in row.items()}))
    result = {"stats": asdict(stats), "examples": shown, "columns": columns, "tokenized": read_ids}
    if read_ids and not tokenized:
        result["note"] = (
            f'the split is tokenized (no {feature!r} column): measured its input_ids and switched on "tokenized"'
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fgtui-dataset-probe")
    parser.add_argument("project_dir")
    parser.add_argument("config")
    parser.add_argument("--target", default="train_dataset")
    parser.add_argument("--tokenizer", default=None)
    parser.add_argument("--feature", default="text")
    parser.add_argument("--tokenized", action="store_true")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--examples", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    from fgtui.engine.errors import FgError

    try:
        result = probe(
            args.project_dir,
            args.config,
            target=args.target,
            tokenizer_path=args.tokenizer,
            feature=args.feature,
            tokenized=args.tokenized,
            samples=args.samples,
            examples=args.examples,
            seed=args.seed,
        )
    except FgError as error:
        result = {"error": in_screen_words(error.one_line())}
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
