"""The Forgather-style fixture config, filled in for one test (a module: tests/ is not a package)."""

from __future__ import annotations

from pathlib import Path

FIXTURE = Path(__file__).parent / "forgather_fixture"


def fixture_config(tmp: Path, *, max_steps: int = 8, replace: dict[str, str] | None = None) -> Path:
    """Write the fixture config for output dir `tmp/out`; `replace` edits its text."""
    text = (FIXTURE / "train.yaml").read_text()
    text = text.replace("DATA_MODULE", str(FIXTURE / "tiny_data.py")).replace("OUTPUT_DIR", str(tmp / "out"))
    text = text.replace("MAX_STEPS", str(max_steps))
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp / "train.yaml"
    path.write_text(text)
    return path


REPO = Path(__file__).resolve().parent.parent.parent
SHARED = next(
    (
        base / "shared"
        for base in (REPO.parent, REPO.parent.parent)
        if (base / "shared" / "forgather" / "templatelib").is_dir()
    ),
    None,
)


def forgather_tree(root: Path, examples: list[str]) -> Path:
    """A copy of Forgather's tree (templatelib, modelsrc, workspace) with `examples`, and the
    stand-ins the examples need on a machine without the Hub:

    - examples/tokenizers/wikitext: the tokenizer project the model examples name is not in
      the subset; a project whose main loads the fixture's character tokenizer stands in;
    - prompts/tiny_stories.yaml, which the text-generation callback reads, is not either.

    Until issue 12 lands, fgtui's loader wants `!dict:@name` where Forgather also takes
    `!dict@name`; the copy's templates are spelled so.
    """
    import re
    import shutil
    import sys

    tree = root / "forgather"
    for part in ("templatelib", "modelsrc", "forgather_workspace"):
        shutil.copytree(SHARED / "forgather" / part, tree / part)
    for example in examples:
        shutil.copytree(SHARED / "forgather" / "examples" / example, tree / "examples" / example)
    for path in (tree / "templatelib").rglob("*.yaml"):
        text = path.read_text()
        fixed = re.sub(r"!(dict|list|tuple|dlist)@", r"!\1:@", text)
        if fixed != text:
            path.write_text(fixed)
    sys.path.insert(0, str(FIXTURE))
    from fgtui.engine.compat.forgather.importer import install

    install()
    import tiny_data

    tokenizer_dir = root / "char_tokenizer"
    tokenizer = tiny_data.tokenizer()
    tokenizer.model_max_length = 4096  # the examples' collators ask for up to 4096 (Forgather checks)
    tokenizer.save_pretrained(tokenizer_dir)
    project = tree / "examples" / "tokenizers" / "wikitext"
    (project / "templates" / "configs").mkdir(parents=True)
    (project / "meta.yaml").write_text(
        '-- extends "meta_defaults.yaml"\n\n-- block configs\nname: "stand-in"\n'
        'config_prefix: "configs"\ndefault_config: "2k.yaml"\n<< endblock configs\n'
    )
    for name in ("2k.yaml", "4k.yaml"):
        (project / "templates" / "configs" / name).write_text(
            f'main: !singleton:transformers:AutoTokenizer.from_pretrained [ "{tokenizer_dir}" ]\n'
        )
    (tree / "prompts").mkdir()
    (tree / "prompts" / "tiny_stories.yaml").write_text('- "Once upon a time"\n- "The old house"\n')
    return tree


def hub_stand_in(cwd: Path, name: str, *, train: int, validation: int) -> None:
    """`datasets.load_dataset(name)` finds a local directory of that name first: JSON lines of
    Lovecraft paragraphs (../shared/corpora) stand in for a Hub dataset: `train` rows, then
    `validation` rows."""
    import json

    paragraphs = []
    for path in sorted((SHARED / "corpora" / "lovecraft").glob("*.txt")):
        paragraphs += [
            " ".join(p.split()) for p in path.read_text(errors="replace").split("\n\n") if len(" ".join(p.split())) > 40
        ]
    # More rows than the corpus has paragraphs repeat it (configs that take 10% of a split).
    rows_needed = train + validation
    paragraphs = (paragraphs * (rows_needed // len(paragraphs) + 1))[:rows_needed]
    directory = cwd / name
    directory.mkdir(parents=True)
    for split, rows in (("train", paragraphs[:train]), ("validation", paragraphs[train:])):
        (directory / f"{split}.jsonl").write_text("".join(json.dumps({"text": p}) + "\n" for p in rows))
