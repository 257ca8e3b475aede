"""LogStreamReader: incremental reads, partial lines, bad lines, truncation, deletion."""

from __future__ import annotations

import json
import os

from fgtui.engine.runs.reader import LogStreamReader, parse_lines, read_all
from fgtui.engine.runs.schema import validate_record
from fgtui.engine.runs.synthetic import run_records


def _line(record) -> str:
    return json.dumps(record) + "\n"


def test_synthetic_records_conform_to_schema():
    records = list(run_records(50, eval_every=10, end_status="stopped"))
    for record in records:
        assert validate_record(record) == [], record
    assert {r["type"] for r in records} == {"train", "eval", "sample", "event"}


def test_poll_reads_only_new_records(tmp_path):
    path = tmp_path / "metrics.jsonl"
    records = list(run_records(10))
    path.write_text("".join(_line(r) for r in records[:4]))
    reader = LogStreamReader(path)
    assert reader.poll() == records[:4]
    assert reader.poll() == []
    with open(path, "a") as handle:
        handle.write("".join(_line(r) for r in records[4:]))
    assert reader.poll() == records[4:]
    assert reader.bad_lines == 0


def test_partial_last_line_is_held_back(tmp_path):
    path = tmp_path / "metrics.jsonl"
    first, second = list(run_records(2, end_status=None))[:2]
    text = _line(second)
    path.write_text(_line(first) + text[:17])
    reader = LogStreamReader(path)
    assert reader.poll() == [first]
    assert reader.pending_partial
    with open(path, "a") as handle:
        handle.write(text[17:])
    assert reader.poll() == [second]
    assert not reader.pending_partial and reader.bad_lines == 0


def test_bad_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "metrics.jsonl"
    good = list(run_records(3, end_status=None))[:3]
    path.write_text(
        _line(good[0])
        + "{not json\n"
        + "[1, 2]\n"
        + '{"type": "mystery"}\n'
        + "\n"
        + _line(good[1])
        + "\x00\x00garbage\n"
        + _line(good[2])
    )
    records, bad = read_all(path)
    assert records == good
    assert bad == 4


def test_truncated_file_is_read_again_from_the_start(tmp_path):
    path = tmp_path / "metrics.jsonl"
    records = list(run_records(6))
    path.write_text("".join(_line(r) for r in records))
    reader = LogStreamReader(path)
    assert len(reader.poll()) == len(records)
    path.write_text(_line(records[0]))  # same inode, smaller: truncated and rewritten
    assert reader.poll() == [records[0]]
    assert reader.resets == 1


def test_replaced_file_is_noticed_by_inode(tmp_path):
    path = tmp_path / "metrics.jsonl"
    records = list(run_records(6))
    path.write_text("".join(_line(r) for r in records[:2]))
    reader = LogStreamReader(path)
    reader.poll()
    replacement = tmp_path / "new.jsonl"
    replacement.write_text("".join(_line(r) for r in records))
    os.replace(replacement, path)
    assert reader.poll() == records
    assert reader.resets == 1


def test_deleted_file_reports_missing_and_recovers(tmp_path):
    path = tmp_path / "metrics.jsonl"
    records = list(run_records(3))
    path.write_text(_line(records[0]))
    reader = LogStreamReader(path)
    reader.poll()
    path.unlink()
    assert reader.poll() == [] and reader.missing
    path.write_text("".join(_line(r) for r in records))
    assert reader.poll() == records
    assert not reader.missing


def test_missing_file_from_the_start(tmp_path):
    reader = LogStreamReader(tmp_path / "nope.jsonl")
    assert reader.poll() == [] and reader.missing


def test_small_chunks_give_the_same_records(tmp_path):
    path = tmp_path / "metrics.jsonl"
    records = list(run_records(40, eval_every=7))
    path.write_text("".join(_line(r) for r in records))
    reader = LogStreamReader(path, chunk_bytes=97)
    seen = []
    while not reader.at_end():
        seen.extend(reader.poll())
    assert seen == records


def test_parse_lines_ignores_blank_lines():
    records, bad = parse_lines([b"", b"   ", b'{"type": "event", "event": "x"}'])
    assert len(records) == 1 and bad == 0


def test_a_diverged_loss_written_as_nan_is_read_not_counted_bad(tmp_path):
    import json
    import math

    from fgtui.engine.runs.reader import read_all

    record = {
        "type": "train",
        "time": 1.0,
        "step": 1,
        "epoch": 0.1,
        "tokens": 10,
        "loss": float("nan"),
        "lr": 0.1,
        "grad_norm": None,
        "tokens_per_s": 1.0,
        "mfu": None,
        "peak_mem_gib": None,
        "step_time_s": 0.1,
    }
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps(record) + "\n")
    assert "NaN" in path.read_text()
    records, bad = read_all(path)
    assert bad == 0 and math.isnan(records[0]["loss"])
