"""`fgtui dataset`: look inside a dataset config's splits.

    fgtui -t CFG dataset [--target T] [-T TOKENIZER] [-n N] [-s] [--histogram] [config options]

Builds target T (default `train_dataset`) with the tokenizer and the
config's own options (`--dataset-path`, `--max-length`, ... as the config
declares them), then prints N examples, or with `--histogram` the length
statistics, writing an SVG of them to `--svg PATH` (default
`<config>-<target>-lengths.svg` in the current directory: beside the
templates it would be taken for one).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fgtui.engine.errors import FgError


def register(subparsers, common: argparse.ArgumentParser) -> None:
    from fgtui.engine.commands.config_parser import add_config_command

    parser = add_config_command(
        subparsers, "dataset", parents=[common], help="print examples or a length histogram of a dataset config"
    )
    parser.add_argument("--target", default="train_dataset", help="the target to build (default: train_dataset)")
    parser.add_argument(
        "-T",
        "--tokenizer",
        metavar="TOKENIZER",
        default=None,
        help="tokenizer directory, passed to the config as the `tokenizer` variable",
    )
    parser.add_argument("-n", "--examples", type=int, default=1, metavar="N", help="examples to print")
    parser.add_argument(
        "-s",
        "--tokenized",
        action="store_true",
        help="the split is tokenized: read input_ids rather than the text feature",
    )
    parser.add_argument("--feature", default="text", help="the text column (default: text)")
    parser.add_argument("--histogram", "-H", action="store_true", help="print length statistics and write an SVG")
    parser.add_argument(
        "--svg",
        default=None,
        metavar="PATH",
        help="where --histogram writes its SVG (default: ./CONFIG-TARGET-lengths.svg)",
    )
    parser.add_argument(
        "--histogram-samples",
        type=int,
        default=1000,
        metavar="N",
        help="examples sampled for the histogram (default: 1000)",
    )
    parser.add_argument("--seed", type=int, default=42, help="sampling seed")
    parser.add_argument(
        "--truncate", type=int, default=None, metavar="CHARS", help="print at most CHARS characters of each example"
    )
    parser.set_defaults(handler=run_dataset)


def run_dataset(args: argparse.Namespace) -> int:
    from fgtui.engine.config import build
    from fgtui.engine.project.static_values import static_value
    from fgtui.engine.launch.launcher import render_config_for_launch

    variables = dict(getattr(args, "dynamic_args", None) or {})
    rendered = render_config_for_launch(
        getattr(args, "config_template", None), variables, project_dir=getattr(args, "project_dir", None)
    )
    graph = rendered.graph  # parsed with the line map: errors name the template line
    if args.target not in graph.targets:
        raise FgError(f"the config has no target {args.target!r}", hint=f"targets: {', '.join(graph.targets)}")
    if "meta" in graph.targets:
        meta = static_value(graph.root["meta"])  # data: the build below runs code, not this check
        config_class = meta.get("config_class") if isinstance(meta, dict) else None
        if config_class and not str(config_class).startswith("type.dataset"):
            raise FgError(f"this config is a {config_class}, not a dataset config (type.dataset)")

    tokenizer = None
    if args.tokenizer:
        from fgtui.engine.data import load_tokenizer

        tokenizer = load_tokenizer(args.tokenizer)
    context = {"tokenizer": tokenizer}
    dataset = build(graph, args.target, context=context)
    if not hasattr(dataset, "column_names"):
        raise FgError(f"target {args.target!r} built a {type(dataset).__name__}, not a dataset")

    if args.histogram:
        return _histogram(args, dataset, tokenizer, variables, rendered.source)
    _print_examples(args, dataset, tokenizer)
    return 0


def _histogram(args, dataset, tokenizer, variables, source) -> int:
    from fgtui.engine.data import format_histogram, length_histogram, write_histogram_svg

    stats = length_histogram(
        dataset,
        tokenizer,
        feature=args.feature,
        tokenized=args.tokenized,
        sample=args.histogram_samples,
        seed=args.seed,
        max_length=variables.get("max_length"),
    )
    print(format_histogram(stats))
    stem = Path(source).stem if source else "dataset"
    path = Path(args.svg).expanduser() if args.svg else Path(f"{stem}-{args.target}-lengths.svg")
    svg = write_histogram_svg(stats, path, title=f"{stem}: {args.target}")
    print(f"histogram: {svg}")
    return 0


def _print_examples(args, dataset, tokenizer) -> None:
    rows = (
        dataset.take(args.examples)
        if not hasattr(dataset, "__len__")
        else dataset.select(range(min(args.examples, len(dataset))))
    )
    for i, row in enumerate(rows):
        if args.tokenized or (args.feature not in row and "input_ids" in row):
            ids = row["input_ids"]
            if tokenizer is None:
                raise FgError("printing tokenized examples needs a tokenizer", hint="pass -T TOKENIZER")
            starts = row.get("document_starts")
            header = f"example {i}: {len(ids)} tokens" + (f", documents start at {list(starts)}" if starts else "")
            text = tokenizer.decode(ids)
        elif args.feature in row:
            text = str(row[args.feature])
            header = f"example {i}: {len(text)} characters"
        else:
            raise FgError(f"examples have no {args.feature!r} column", hint=f"columns: {', '.join(row)}")
        if args.truncate is not None:
            text = text[: args.truncate]
        print(f"{'-' * 20} {header} {'-' * 20}")
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
