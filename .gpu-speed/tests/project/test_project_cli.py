"""The project commands as a user runs them, and the workspace/project
steps of the Lovecraft tutorials (002/004) up to the training step."""

from __future__ import annotations


import pytest

from fgproj_helpers import REPO, run_cli, write

DATASET_SOURCE = """\
-- extends 'datasets/dataset_type.yaml'

[config_metadata]
    == super()
    -- set ns.config_name = "Sliding Window"
    -- set ns.config_description = "Overlapping blocks of long documents"
    -- set ns.dataset_path = dataset_path | default("/path/to/dataset")

[main_body]
dataset_dict: &dataset_dict !dict:@dataset_dict
    data_dir: {{ ns.dataset_path | toyaml }}
    max_length: {{ max_length | default(4096) }}
train_dataset: &train_dataset !dict:@train_dataset
    source: *dataset_dict
    preprocess_args: !var { name: "preprocess_args", default: null }
eval_dataset: &eval_dataset !dict:@eval_dataset
    source: *dataset_dict

[dynamic_args]
    == super()
    dataset_path:
        names: "--dataset-path"
        type: path
        help: "Local path to dataset"
    max_length:
        names: "--max-length"
        type: "int"
        help: "Maximum tokens per output block"
"""

FINETUNE_PROJECT = """\
-- extends 'config_type.yaml'

[config_metadata]
    == super()
    -- set ns.config_name = "Lovecraft Finetune"
    -- set ns.config_description = "Fine-tune a causal LM on H.P. Lovecraft"
    -- set ns.dataset_proj = joinpath(workspace_root, 'lovecraft_dataset')
    -- set ns.dataset_config = dataset_config | default("4k.yaml")
    -- set ns.seq_len = seq_len | default(4096)

[main_body]
train_dataset: &train_dataset !singleton:fgtui.engine.project:from_project
    project_dir: {{ ns.dataset_proj | toyaml }}
    config_template: {{ ns.dataset_config | toyaml }}
    targets: "train_dataset"
    preprocess_args:
        max_length: {{ ns.seq_len }}

[dynamic_args]
    == super()
    seq_len:
        names: "--seq-len"
        type: int
        default: {{ ns.seq_len }}
        help: "Sequence length"
    dataset_config:
        names: "--dataset-config"
        help: "Config of the dataset project"

[main_output]
main: *train_dataset
"""


def ok(result):
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_lovecraft_tutorial_workspace_and_project_steps(tmp_path, isolated_home):
    source = write(tmp_path, {"src/sliding_window.yaml": DATASET_SOURCE}) / "src/sliding_window.yaml"
    corpus = tmp_path / "hp_lovecraft"
    corpus.mkdir()

    out = ok(
        run_cli(
            "ws",
            "create",
            "--name",
            "H.P. Lovecraft Workspace",
            "--description",
            "H.P. Lovecraft tutorial workspace",
            "-l",
            "base",
            cwd=tmp_path,
        )
    )
    ws = tmp_path / "hp_lovecraft_workspace"
    assert "forgather_workspace/meta_defaults.yaml" in out
    assert (ws / "forgather_workspace/base_directories.yaml").is_file()

    ok(
        run_cli(
            "project",
            "create",
            "--name",
            "Lovecraft Dataset",
            "--description",
            "The complete works of H.P. Lovecraft",
            "--default-config",
            "lovecraft.yaml",
            str(source),
            cwd=ws,
        )
    )
    data = ws / "lovecraft_dataset"
    assert (data / "templates/configs/lovecraft.yaml").read_text() == DATASET_SOURCE
    assert "Default Config: lovecraft.yaml" in ok(run_cli("project", "show", cwd=data))

    lovecraft = data / "templates/configs/lovecraft.yaml"
    lovecraft.write_text(
        DATASET_SOURCE.replace('"Sliding Window"', '"Lovecraft"').replace(
            '"Overlapping blocks of long documents"', '"The complete works of H.P. Lovecraft"'
        )
    )
    ok(run_cli("project", "new_config", "4k.yaml", "templates/configs/lovecraft.yaml", cwd=data))
    (data / "templates/configs/4k.yaml").write_text(
        "-- extends 'configs/lovecraft.yaml'\n\n[config_metadata]\n    == super()\n"
        '    -- set ns.config_name = "Lovecraft 4K"\n'
        '    -- set ns.config_description = "Lovecraft with 4K Blocks"\n'
        f'    -- set ns.dataset_path = "{corpus}"\n'
    )
    assert ok(run_cli("ls", cwd=data)).splitlines() == [
        "Lovecraft Dataset : The complete works of H.P. Lovecraft",
        "    4k.yaml                        Lovecraft 4K : Lovecraft with 4K Blocks",
        "    [lovecraft.yaml]               Lovecraft : The complete works of H.P. Lovecraft",
    ]
    built = ok(run_cli("-t", "4k.yaml", "construct", "--target", "dataset_dict", "--format", "json", cwd=data))
    assert str(corpus) in built

    ok(
        run_cli(
            "project",
            "create",
            "--name",
            "Finetune Lovecraft",
            "--description",
            "Finetune a model on the complete works of H.P. Lovecraft",
            "--default-config",
            "default.yaml",
            cwd=ws,
        )
    )
    tune = ws / "finetune_lovecraft"
    ok(run_cli("project", "new_config", "--type", "project", "project.yaml", cwd=tune))
    (tune / "templates/project.yaml").write_text(FINETUNE_PROJECT)
    refused = run_cli("project", "new_config", "default.yaml", cwd=tune)
    assert refused.returncode == 2 and "already exists" in refused.stderr
    ok(run_cli("project", "new_config", "16k.yaml", cwd=tune))
    assert (tune / "templates/configs/16k.yaml").read_text().startswith("-- extends 'project.yaml'")
    (tune / "templates/configs/default.yaml").write_text(
        "-- extends 'project.yaml'\n[config_metadata]\n    == super()\n"
        '    -- set ns.config_name = "Lovecraft Default"\n'
        '    -- set ns.config_description = "Single-GPU 4K-context fine-tune"\n'
    )
    listing = ok(run_cli("ls", cwd=tune))
    assert "[default.yaml]                 Lovecraft Default : Single-GPU 4K-context fine-tune" in listing
    assert "PARSE ERROR" not in listing

    help_text = ok(run_cli("train", "--help", cwd=tune))
    assert "--seq-len SEQ_LEN" in help_text and "(default: 4096)" in help_text
    assert "--dataset-config" in help_text

    built = ok(run_cli("construct", "--format", "json", cwd=tune))
    assert '"max_length": 4096' in built and str(corpus) in built  # from the sibling project
    trefs = ok(run_cli("trefs", cwd=tune))
    assert "extends project.yaml" in trefs and "config_type.yaml" in trefs


def test_ls_recursive_reports_parse_errors_in_one_line(tmp_path, isolated_home):
    ok(run_cli("ws", "create", "--name", "W", cwd=tmp_path))
    ws = tmp_path / "w"
    write(
        ws,
        {
            "p/meta.yaml": '-- extends "meta_defaults.yaml"\n[configs]\nname: "P"\ndescription: "d"\n',
            "p/templates/configs/good.yaml": 'meta: {config_name: "Good", config_description: "fine"}\nmain: 1\n',
            "p/templates/configs/bad.yaml": "main: [1, 2\n",
            "q/meta.yaml": "-- extends 'nope.yaml'\n",
        },
    )
    result = run_cli("ls", "-r", cwd=ws)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "p: P : d"
    # Without a default_config the first config is the default, as in Forgather.
    assert lines[1].startswith("    [bad.yaml]") and "PARSE ERROR:" in lines[1]
    assert lines[2] == "    good.yaml                      Good : fine"
    assert any(line.startswith("q: ") and "PARSE ERROR" in line and "nope.yaml" in line for line in lines)
    debug = run_cli("ls", "-r", "--debug", cwd=ws)
    assert "Traceback" in debug.stderr


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["ls"], "not inside a project"),
        (["project", "show"], "not inside a project"),
        (["-p", "nowhere", "ls"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, argv, fragment):
    result = run_cli(*argv, cwd=tmp_path)
    assert result.returncode == 2
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_wrong_config_name_suggests_the_nearest(isolated_home):
    result = run_cli("-t", "ful_list.yaml", "pp", cwd=REPO / "examples/tutorials/project_composition")
    assert result.returncode == 2 and "did you mean 'full_list.yaml'" in result.stderr


def test_unknown_config_option_is_an_error(isolated_home):
    where = REPO / "examples/tutorials/project_composition"
    result = run_cli("-t", "counted_list.yaml", "train", "--dry-run", "--cuont", "3", cwd=where)
    assert result.returncode == 2 and "--cuont" in result.stderr


def test_missing_search_directory_warns_by_name(tmp_path, isolated_home):
    write(
        tmp_path,
        {"p/meta.yaml": 'searchdir: ["templates", "lost_dir"]\nname: "P"\n', "p/templates/configs/x.yaml": "main: 1\n"},
    )
    result = run_cli("ls", cwd=tmp_path / "p")
    assert result.returncode == 0
    assert "warning" in result.stderr and "lost_dir" in result.stderr


def test_tlist_and_index(isolated_home):
    where = REPO / "examples/tutorials/project_composition"
    names = [line.split()[0] for line in ok(run_cli("tlist", cwd=where)).splitlines()]
    assert "list_base.yaml" in names and "config_type.yaml" in names
    assert "base/config_type.yaml" not in names  # the same file, reachable by a longer name
    md = ok(run_cli("tlist", "--format", "md", cwd=where))
    assert "- `configs/full_list.yaml` — extends configs/list.yaml" in md
    index = ok(run_cli("index", cwd=where))
    assert index.startswith("# Project Composition") and "**list.yaml**" in index
