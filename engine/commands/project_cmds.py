"""Workspace and project commands: ws, project, ls, index, trefs, tlist.

    fgtui ws [create --name N --description D [-l LIB ...]]
    fgtui project [create|show|new_config]
    fgtui ls [-r] [--check] [--no-cache] [--debug] [DIR ...]
    fgtui index | fgtui trefs [--format tree|files] | fgtui tlist [--format files|md]

None of them imports an ML library: listing a project reads each config's
`meta` values as data, without rendering where the templates allow
(project/quick_listing.py), else by rendering and parsing the config.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(subparsers, common: argparse.ArgumentParser, command: str | None = None) -> None:
    """Add the subcommands; with `command`, only that one (the command being run: the
    parsers of the others cost a cold `fgtui ls` about 2% of its run)."""
    if command in (None, "ws"):
        ws = subparsers.add_parser("ws", parents=[common], help="show or create a workspace")
        ws.set_defaults(handler=_ws_show)
        ws_sub = ws.add_subparsers(dest="ws_command", metavar="SUBCOMMAND")
        create = ws_sub.add_parser("create", parents=[common], help="create a workspace here")
        _add_name_args(create, "workspace")
        create.add_argument(
            "-l",
            "--lib",
            action="append",
            default=None,
            metavar="LIB",
            help="templatelib library to search, e.g. -l base (repeatable; default: base)",
        )
        create.add_argument(
            "--search-path",
            action="append",
            default=[],
            metavar="DIR",
            help="extra template directory searched before the workspace's own (repeatable)",
        )
        _add_directory_arg(create, "--workspace-dir")
        create.add_argument(
            "--fgtui-dir",
            "--forgather-dir",
            dest="fgtui_dir",
            default=None,
            metavar="DIR",
            help="installation whose templatelib/ to use (default: this fgtui)",
        )
        create.set_defaults(handler=_ws_create)

    if command in (None, "project"):
        project = subparsers.add_parser("project", parents=[common], help="show or create projects and configs")
        project.set_defaults(handler=_project_dir)
        sub = project.add_subparsers(dest="project_command", metavar="SUBCOMMAND")
        create = sub.add_parser("create", parents=[common], help="create a project in the current directory")
        _add_name_args(create, "project")
        create.add_argument(
            "--default-config",
            default="default.yaml",
            metavar="NAME",
            help="name of the first config (default: default.yaml)",
        )
        create.add_argument(
            "--config-prefix",
            default="configs",
            metavar="DIR",
            help="directory of the configs under templates/ (default: configs)",
        )
        _add_directory_arg(create, "--project-dir-name")
        create.add_argument(
            "source_config",
            nargs="?",
            default=None,
            metavar="SOURCE_CONFIG",
            help="config file, or template name on the search path (datasets/local_text.yaml), to start from",
        )
        create.set_defaults(handler=_project_create)
        show = sub.add_parser("show", parents=[common], help="show the project's meta data")
        show.set_defaults(handler=_project_show)
        new = sub.add_parser("new_config", parents=[common], help="add a config (or project/workspace template)")
        new.add_argument(
            "--type",
            choices=("config", "project", "ws"),
            default="config",
            help="config: under the config prefix; project: next to project.yaml; ws: in the workspace",
        )
        new.add_argument("config_name", metavar="NAME", help="file name, e.g. 4k.yaml")
        new.add_argument(
            "copy_from",
            nargs="?",
            default=None,
            metavar="SOURCE",
            help="file (or template name) to copy as the starting point",
        )
        new.set_defaults(handler=_project_new_config)

    if command in (None, "ls"):
        ls = subparsers.add_parser("ls", parents=[common], help="list configs with title and description")
        ls.add_argument("-r", "--recursive", action="store_true", help="list every project below here")
        ls.add_argument(
            "--check",
            action="store_true",
            help="render every config whole, so that one that fails anywhere shows PARSE ERROR (by default "
            "names are read without rendering where the templates allow, and only what that reads is checked); "
            "a project's checked listing is kept until a file it depends on changes",
        )
        ls.add_argument(
            "--no-cache",
            action="store_true",
            help="with --check, render every config again (the cache follows file changes, not getenv or the clock)",
        )
        ls.add_argument("dirs", nargs="*", metavar="DIR", help="projects (or, with -r, trees) to list")
        ls.set_defaults(handler=_ls)

    if command in (None, "index"):
        index = subparsers.add_parser("index", parents=[common], help="markdown index of the project")
        index.set_defaults(handler=_index)
    if command in (None, "trefs"):
        trefs = subparsers.add_parser("trefs", parents=[common], help="templates a config pulls in, as a tree")
        trefs.add_argument("--format", choices=("tree", "files"), default="tree")
        trefs.set_defaults(handler=_trefs)
    if command in (None, "tlist"):
        tlist = subparsers.add_parser("tlist", parents=[common], help="templates on the project's search path")
        tlist.add_argument("--format", choices=("files", "md"), default="files")
        tlist.set_defaults(handler=_tlist)


def _add_name_args(create: argparse.ArgumentParser, what: str) -> None:
    """The name and description that `ws create` and `project create` both take."""
    create.add_argument("--name", required=True, help=f"{what} name (also names its directory)")
    create.add_argument("--description", default="", help="one-line description")


def _add_directory_arg(create: argparse.ArgumentParser, flag: str) -> None:
    create.add_argument(flag, default=None, metavar="DIR", help="directory to create (default: derived from --name)")


def _warn(messages: list[str], printed: set[str] | None = None) -> None:
    for message in messages:
        if printed is not None:
            if message in printed:
                continue
            printed.add(message)
        print(f"fgtui: warning: {message}", file=sys.stderr)


def _open(args):
    from fgtui.engine.project.project import Project

    project = Project.open(getattr(args, "project_dir", None))
    _warn(project.meta.warnings)
    return project


def _ws_show(args) -> int:
    from fgtui.engine.errors import FgError
    from fgtui.engine.project.workspace import find_workspace

    where = getattr(args, "project_dir", None) or os.getcwd()
    root = find_workspace(where)
    if root is None:
        raise FgError(
            f"no workspace at or above {where!r} (no forgather_workspace/ directory)",
            hint="create one with `fgtui ws create --name NAME`",
        )
    print(f"Workspace Directory: {root}")
    return 0


def _ws_create(args) -> int:
    from fgtui.engine.project.scaffold import create_workspace

    root, warnings = create_workspace(
        getattr(args, "project_dir", None) or os.getcwd(),
        args.name,
        args.description,
        libraries=args.lib or ["base"],
        search_paths=args.search_path,
        workspace_dir=args.workspace_dir,
        fgtui_dir=args.fgtui_dir,
    )
    _warn(warnings)
    print(f"Created workspace {args.name!r} in {root}")
    for name in ("base_directories.yaml", "meta_defaults.yaml", "README.md"):
        print(f"  forgather_workspace/{name}")
    return 0


def _project_dir(args) -> int:
    from fgtui.engine.project.workspace import require_project_dir

    print(f"Project Directory: {require_project_dir(getattr(args, 'project_dir', None))}")
    return 0


def _project_create(args) -> int:
    from fgtui.engine.project.project import Project
    from fgtui.engine.project.scaffold import create_project

    root = create_project(
        getattr(args, "project_dir", None) or os.getcwd(),
        args.name,
        args.description,
        default_config=args.default_config,
        source_config=args.source_config,
        config_prefix=args.config_prefix,
        project_dir=args.project_dir_name,
    )
    project = Project.open(root)
    _warn(project.meta.warnings)
    print(f"Created project {args.name!r} in {root}")
    default = project.default_config()
    source = f" (copied from {args.source_config})" if args.source_config else ""
    print(f"  default config: {project.config_dir() / default}{source}")
    return 0


def _project_show(args) -> int:
    project = _open(args)
    meta = project.meta
    rows = [
        ("Project Name", meta.name),
        ("Description", meta.description),
        ("Default Config", project.default_config() or "(none)"),
        ("Project Directory", str(meta.project_dir)),
        ("Workspace Root", str(meta.workspace_root) + ("" if meta.has_workspace else " (no workspace)")),
        ("Config Prefix", meta.config_prefix),
        ("Search Path", ""),
    ]
    for label, value in rows:
        print(f"{label}: {value}".rstrip())
    for path in meta.declared_searchdir:
        print(f"    {path}{'' if path.is_dir() else '   (missing)'}")
    if meta.system_path:
        print("System Path: " + os.pathsep.join(meta.system_path))
    if meta.nproc_per_node is not None:
        print(f"Processes per Node: {meta.nproc_per_node}")
    print("Configs: " + ", ".join(project.configs()))
    return 0


def _project_new_config(args) -> int:
    from fgtui.engine.project.scaffold import new_config

    project = _open(args)
    path = new_config(project, args.config_name, args.copy_from, kind=args.type)
    copied = f" (copied from {args.copy_from})" if args.copy_from else ""
    print(f"Created {path}{copied}")
    return 0


def _ls(args) -> int:
    from fgtui.engine.errors import FgError
    from fgtui.engine.project.listing import list_dir, list_tree
    from fgtui.engine.project.workspace import require_project_dir

    debug = getattr(args, "debug", False)
    # --debug needs the exceptions themselves, which are not cached. Reading names
    # without rendering costs about what checking a cached listing's files does.
    cache = None
    if args.check and not (args.no_cache or debug):
        from fgtui.engine.project.listing_cache import ListingCache

        cache = ListingCache()
    if args.recursive:
        roots = args.dirs or [getattr(args, "project_dir", None) or os.getcwd()]
        listings = [listing for root in roots for listing in list_tree(root, cache, quick=not args.check)]
        if not listings:
            raise FgError(f"no projects below {', '.join(map(str, roots))}")
    else:
        dirs = args.dirs or [getattr(args, "project_dir", None)]
        listings = [list_dir(require_project_dir(d), cache, quick=not args.check) for d in dirs]
        for listing in listings:
            if listing.exception is not None:
                raise listing.exception
    printed: set[str] = set()
    base = Path(os.getcwd())
    for number, listing in enumerate(listings):
        _warn(listing.warnings, printed)
        if number:
            print()
        lines = listing.lines()
        if args.recursive:
            lines[0] = f"{_relative(listing.project_dir, base)}: {lines[0]}"
        print("\n".join(lines))
        if debug:
            _print_debug(listing)
    return 0


def _relative(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path, base)
    except ValueError:
        return str(path)


def _print_debug(listing) -> None:
    import traceback

    failures = [(str(listing.project_dir), listing.exception)] if listing.exception else []
    failures += [(entry.name, entry.exception) for entry in listing.entries if entry.exception]
    for name, exception in failures:
        print(f"\n--- {name} ---", file=sys.stderr)
        traceback.print_exception(exception, file=sys.stderr)


def _index(args) -> int:
    from fgtui.engine.project.listing import list_project
    from fgtui.engine.project.template_refs import project_index

    project = _open(args)
    print(project_index(project, list_project(project)))
    return 0


def _trefs(args) -> int:
    from fgtui.engine.project.template_refs import reference_tree

    project = _open(args)
    rendered = project.render(getattr(args, "config_template", None))
    tree = reference_tree(project, rendered)
    if args.format == "files":
        print("\n".join(str(node.path) for node in tree.walk() if node.path is not None))
    else:
        print(tree.format())
    return 0


def _tlist(args) -> int:
    from fgtui.engine.project.template_refs import template_list_markdown

    project = _open(args)
    if args.format == "md":
        print(template_list_markdown(project))
    else:
        for name, path in project.templates():
            print(f"{name:<48} {path}")
    return 0
