"""The search-path walk: what it finds, and when it walks again."""

from __future__ import annotations

import os
import time

import pytest

from fgtui.engine.config import dirscan
from fgtui.engine.config.dirscan import TreeScanner
from fgtui.engine.errors import FgError


def _age(root, seconds: float = 10.0) -> None:
    """Make every directory under root look modified `seconds` ago (outside the racy window)."""
    stamp = time.time() - seconds
    for dirpath, _, _ in os.walk(root):
        os.utime(dirpath, (stamp, stamp))


@pytest.fixture
def walks(monkeypatch):
    count = {"n": 0}
    real_walk = dirscan._walk

    def counting(path, *args):
        count["n"] += 1
        return real_walk(path, *args)

    monkeypatch.setattr(dirscan, "_walk", counting)
    return count


def test_lists_template_files_sorted_with_real_paths(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b/x.yaml").write_text("")
    (tmp_path / "a.jinja").write_text("")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / ".hidden.yaml").write_text("")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__/c.yaml").write_text("")
    real = os.path.realpath(tmp_path)
    assert TreeScanner().files(str(tmp_path)) == [
        ("a.jinja", os.path.join(real, "a.jinja")),
        ("b/x.yaml", os.path.join(real, "b", "x.yaml")),
    ]


def test_an_unchanged_old_tree_is_not_walked_again(tmp_path, walks):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/a.yaml").write_text("")
    _age(tmp_path)
    scanner = TreeScanner()
    first = scanner.files(str(tmp_path))
    after_first = walks["n"]
    assert scanner.files(str(tmp_path)) == first
    assert walks["n"] == after_first


@pytest.mark.parametrize("change", ["add", "remove", "rename"])
def test_a_changed_directory_is_walked_again(tmp_path, change):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/a.yaml").write_text("")
    _age(tmp_path)
    scanner = TreeScanner()
    scanner.files(str(tmp_path))
    if change == "add":
        (tmp_path / "sub/b.yaml").write_text("")
        expected = ["sub/a.yaml", "sub/b.yaml"]
    elif change == "remove":
        (tmp_path / "sub/a.yaml").unlink()
        expected = []
    else:
        (tmp_path / "sub/a.yaml").rename(tmp_path / "sub/c.yaml")
        expected = ["sub/c.yaml"]
    assert [rel for rel, _ in scanner.files(str(tmp_path))] == expected


def test_a_recently_modified_directory_is_walked_every_time(tmp_path, walks):
    (tmp_path / "a.yaml").write_text("")
    scanner = TreeScanner()
    scanner.files(str(tmp_path))
    scanner.files(str(tmp_path))
    assert walks["n"] == 2  # mtime within the racy window: a same-tick change could hide


def test_a_symlink_cycle_is_not_followed(tmp_path):
    (tmp_path / "a.yaml").write_text("")
    (tmp_path / "loop").symlink_to(tmp_path)
    assert [rel for rel, _ in TreeScanner().files(str(tmp_path))] == ["a.yaml"]


def test_symlinked_files_have_their_target_as_real_path(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/base.yaml").write_text("")
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl/linked").symlink_to(tmp_path / "lib")
    files = TreeScanner().files(str(tmp_path / "tpl"))
    assert files == [("linked/base.yaml", os.path.join(os.path.realpath(tmp_path), "lib", "base.yaml"))]


def test_too_many_files_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(dirscan, "MAX_FILES_PER_DIR", 3)
    for i in range(4):
        (tmp_path / f"t{i}.yaml").write_text("")
    with pytest.raises(FgError, match="more than 3 template files"):
        TreeScanner().files(str(tmp_path))


def test_environment_sees_a_template_added_to_an_old_directory(tmp_path):
    from fgtui.engine.config import TemplateEnvironment

    (tmp_path / "main.yaml").write_text("-- include 'extra.yaml'\n")
    (tmp_path / "other.yaml").write_text("x: 1\n#---- part ----\ny: 2\n")
    _age(tmp_path)
    env = TemplateEnvironment([str(tmp_path)])
    assert env.inline_template_names() == ["part"]
    (tmp_path / "extra.yaml").write_text("z: 3\n#---- second ----\nw: 4\n")
    assert env.inline_template_names() == ["part", "second"]
    assert env.render("main.yaml").text.strip() == "z: 3"


def test_a_root_symlink_pointed_elsewhere_is_walked_again(tmp_path):
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.yaml").write_text("")
    (tmp_path / "root").symlink_to(tmp_path / "one")
    _age(tmp_path)
    scanner = TreeScanner()
    assert [rel for rel, _ in scanner.files(str(tmp_path / "root"))] == ["one.yaml"]
    (tmp_path / "root").unlink()
    (tmp_path / "root").symlink_to(tmp_path / "two")
    assert [rel for rel, _ in scanner.files(str(tmp_path / "root"))] == ["two.yaml"]
