"""`fgtui dataset` on a small dataset config."""

from __future__ import annotations

from fgtui.engine.cli import main

CONFIG = """\
dataset_dict: &dataset_dict !singleton:fgtui.engine.data:load_text_dataset
    data_dir: "{corpus}"
    data_files:
        train: "*.txt"
    cache_dir: "{hf}"
train_dataset_split: &train_dataset_split !singleton:getitem [ *dataset_dict, "train" ]
train_dataset: &train_dataset !singleton:fgtui.engine.data:preprocess_dataset
    dataset: *train_dataset_split
    tokenizer: !var "tokenizer"
    cache: false
    map_fn: !partial:fgtui.engine.data:block_tokenize_fn
        max_length: 96
        packed: true
"""


def test_dataset_command_examples_and_histogram(tmp_path, corpus_dir, tokenizer, capsys, monkeypatch):
    tok_dir = tmp_path / "tok"
    tokenizer.save_pretrained(tok_dir)
    config = tmp_path / "ds.yaml"
    config.write_text(CONFIG.format(corpus=corpus_dir, hf=tmp_path / "hf"))

    assert main(["-t", str(config), "dataset", "--target", "train_dataset_split", "-n", "1", "--truncate", "8"]) == 0
    out = capsys.readouterr().out
    assert "example 0:" in out and "AZATHOTH" in out

    assert main(["-t", str(config), "dataset", "-T", str(tok_dir), "-s", "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("example ") == 2 and "96 tokens" in out

    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["-t", str(config), "dataset", "-T", str(tok_dir), "-s", "--histogram"]) == 0
    out = capsys.readouterr().out
    for key in ("count:", "min:", "max:", "mean:", "median:", "std:", "p90:", "p99:", "fill:"):
        assert key in out
    assert "max:    96" in out
    # Written where the user is, never beside the config's templates.
    assert sorted(p.name for p in tmp_path.glob("*.svg")) == []
    assert (elsewhere / "ds-train_dataset-lengths.svg").read_text().startswith("<svg")
    assert "histogram: ds-train_dataset-lengths.svg" in out
    assert main(["-t", str(config), "dataset", "-T", str(tok_dir), "-s", "-H", "--svg", "../h.svg"]) == 0
    assert (tmp_path / "h.svg").is_file()


def test_dataset_command_errors(tmp_path, corpus_dir, capsys):
    config = tmp_path / "ds.yaml"
    config.write_text(CONFIG.format(corpus=corpus_dir, hf=tmp_path / "hf"))
    assert main(["-t", str(config), "dataset", "--target", "nope"]) == 2
    assert "no target 'nope'" in capsys.readouterr().err
    assert main(["-t", str(config), "dataset"]) == 2  # block tokenizing without -T
    assert "needs a tokenizer" in capsys.readouterr().err
