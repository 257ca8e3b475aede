"""Which templates reference which: `trefs`, `tlist --format md`, `index`.

`trefs` shows what a render really pulled in (the environment records each
template a template loads), so computed names such as
`-- extends ns.trainer_class` appear too; the kind of each reference
(extends, include, import) is read from the parent's source.
`tlist --format md` reads `extends` statically from each file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

_STATEMENT = re.compile(
    r"""^\s*(?:--|<<|>>)\s+(extends|include|import|from)\s+(.*)$"""
    r"""|\{%-?\s*(extends|include|import|from)\s+(.*?)-?%\}""",
    re.MULTILINE,
)
_STRING = re.compile(r"""^(['"])(.+?)\1""")


@dataclass
class RefNode:
    """A template in the reference tree."""

    name: str
    path: Path | None
    kind: str = "config"
    children: list["RefNode"] = field(default_factory=list)
    note: str = ""

    def walk(self) -> Iterator["RefNode"]:
        yield self
        for child in self.children:
            yield from child.walk()

    def format(self) -> str:
        lines = [self._label()]
        self._format_children(lines, "")
        return "\n".join(lines)

    def _label(self) -> str:
        where = f"  [{self.path}]" if self.path is not None and self.kind != "config" else ""
        kind = "" if self.kind == "config" else f"{self.kind} "
        note = f"  ({self.note})" if self.note else ""
        return f"{kind}{self.name}{where}{note}"

    def _format_children(self, lines: list[str], indent: str) -> None:
        for index, child in enumerate(self.children):
            last = index == len(self.children) - 1
            lines.append(f"{indent}{'└── ' if last else '├── '}{child._label()}")
            child._format_children(lines, indent + ("    " if last else "│   "))


def references(text: str) -> list[tuple[str, str | None]]:
    """(kind, template name) for each reference; the name is None when it is
    computed at render time."""
    found: list[tuple[str, str | None]] = []
    for match in _STATEMENT.finditer(text):
        kind = match.group(1) or match.group(3)
        rest = (match.group(2) or match.group(4) or "").strip()
        literal = _STRING.match(rest)
        found.append((kind, literal.group(2) if literal else None))
    return found


def _read(path: str | Path | None) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def reference_tree(project, rendered) -> RefNode:
    """The templates `rendered` (a RenderedConfig of `project`) pulled in,
    as the render recorded them (`rendered.edges`), so computed names such
    as `-- extends ns.trainer_class` appear too."""
    files: dict[str, str] = dict(getattr(rendered, "files_by_name", {}) or {})
    children: dict[str, list[str]] = {}
    for parent, child in getattr(rendered, "edges", []) or []:
        children.setdefault(parent, []).append(child)
    kinds: dict[str, dict[str, str]] = {}

    def kind_of(parent: str, child: str) -> str:
        if parent not in kinds:
            kinds[parent] = {}
            for kind, name in references(_read(files.get(parent))):
                if name is not None:
                    kinds[parent].setdefault(name, kind)
        return kinds[parent].get(child, "extends (computed)")

    root_name = rendered.name or str(rendered.source)
    seen: set[str] = set()

    def node_for(name: str, kind: str) -> RefNode:
        file = files.get(name)
        node = RefNode(name, Path(file) if file else None, kind)
        if name in seen:
            node.note = "see above" if children.get(name) else ""
            return node
        seen.add(name)
        for child in children.get(name, []):
            node.children.append(node_for(child, kind_of(name, child)))
        return node

    return node_for(root_name, "config")


def template_list_markdown(project) -> str:
    """Every template on the search path with what it extends, as markdown."""
    lines = [f"# Templates of {project.name}", ""]
    current_dir = None
    for name, path in project.templates():
        directory = str(path)[: -len(name)].rstrip("/") or "/"
        if directory != current_dir:
            lines += ["", f"## {directory}", ""]
            current_dir = directory
        parents = [ref for kind, ref in references(_read(path)) if kind == "extends"]
        extends = f" — extends {', '.join(p or '(computed)' for p in parents)}" if parents else ""
        lines.append(f"- `{name}`{extends}")
    return "\n".join(lines).replace("\n\n\n", "\n\n")


def project_index(project, listing) -> str:
    """A markdown summary of the project: meta, configs, search path."""
    meta = project.meta
    lines = [
        f"# {meta.name}",
        "",
        meta.description,
        "",
        f"- Project directory: `{meta.project_dir}`",
        f"- Workspace root: `{meta.workspace_root}`",
        f"- Default config: `{project.default_config()}`",
        "",
        "## Configs",
        "",
    ]
    for entry in listing.entries:
        name = f"**{entry.name}**" if entry.is_default else entry.name
        if entry.error:
            lines.append(f"- {name}: PARSE ERROR: {entry.error}")
        else:
            lines.append(f"- {name} — {entry.title}: {entry.description}")
    lines += ["", "## Search path", ""]
    lines += [f"- `{p}`" + ("" if p.is_dir() else " (missing)") for p in meta.declared_searchdir]
    return "\n".join(lines)
