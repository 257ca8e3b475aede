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


def probe(project_dir: str, config: str, *, target: str, tokenizer_path: str | None, feature: str,
          tokenized: bool, samples: int, examples: int, seed: int) -> dict:
    from fgtui.engine.config import build, load_graph
    from fgtui.engine.data.histogram import length_histogram
    from fgtui.engine.errors import FgError
    from fgtui.engine.launch.launcher import render_config_for_launch

    rendered = render_config_for_launch(config, {}, project_dir=project_dir)
    graph = load_graph(rendered.text, rendered.source)
    if target not in graph.targets:
        raise FgError(f"the config has no target {target!r}", hint=f"targets: {', '.join(graph.targets)}")
    tokenizer = None
    if tokenizer_path:
        from fgtui.engine.data import load_tokenizer

        tokenizer = load_tokenizer(tokenizer_path)
    dataset = build(graph, target, context={"tokenizer": tokenizer})
    if not hasattr(dataset, "column_names"):
        raise FgError(f"target {target!r} built a {type(dataset).__name__}, not a dataset")
    stats = length_histogram(dataset, tokenizer, feature=feature, tokenized=tokenized, sample=samples,
                             seed=seed)
    rows = dataset.take(examples) if not hasattr(dataset, "__len__") else \
        dataset.select(range(min(examples, len(dataset))))
    shown = []
    for row in rows:
        if feature in row and not tokenized:
            shown.append(str(row[feature])[:4000])
        elif "input_ids" in row and tokenizer is not None:
            shown.append(tokenizer.decode(row["input_ids"])[:4000])
        else:
            shown.append(json.dumps({k: str(v)[:200] for k, v in row.items()}))
    return {"stats": asdict(stats), "examples": shown, "columns": list(dataset.column_names or [])}


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
        result = probe(args.project_dir, args.config, target=args.target, tokenizer_path=args.tokenizer,
                       feature=args.feature, tokenized=args.tokenized, samples=args.samples,
                       examples=args.examples, seed=args.seed)
    except FgError as error:
        result = {"error": error.one_line()}
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
