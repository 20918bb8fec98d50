"""The shape of the package stays what docs/architecture.md says it is.

- every module of ``ferviz/``, ``plugins/`` and ``models/`` is named in docs/architecture.md, and every
  path the doc names exists (a moved or new module without a line in the doc fails here);
- no module imports another at load time in a cycle (module-level imports, read from the source);
- every module opens with a docstring, and none is longer than about 400 lines;
- the layers point one way: the library never imports the command line, the report never the trainer;
- each extension point the doc lists names a hook that ``ferviz.hookspecs`` really declares.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "architecture.md").read_text()
MAX_LINES = 420  # "about 400": a module that grows past this is due for a split
PACKAGES = {"ferviz": ROOT / "ferviz", "ferviz.plugins": ROOT / "plugins", "ferviz.models": ROOT / "models"}


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the installed packages."""
    found = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


MODULES = modules()


def module_imports(name: str, path: Path) -> set[str]:
    """The ferviz modules that `name` imports when it is loaded (not inside functions)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in tree.body:  # module level only: imports inside functions are deliberately lazy
        if isinstance(node, ast.If) and not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
            nodes = node.body + node.orelse
        elif isinstance(node, ast.Try):
            nodes = node.body
        else:
            nodes = [node]
        for item in nodes:
            if isinstance(item, ast.Import):
                out.update(alias.name for alias in item.names)
            elif isinstance(item, ast.ImportFrom):
                base = item.module or ""
                if item.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - item.level + 1] + [base]).strip(".")
                out.add(base)
                out.update(f"{base}.{alias.name}" for alias in item.names)
    return {m for m in out if m in MODULES and m != name}


def test_every_module_is_in_the_doc_and_every_path_in_the_doc_exists():
    def named(name: str, path: Path) -> bool:
        rel = path.relative_to(ROOT).as_posix()
        folder = f"`{path.parent.relative_to(ROOT).as_posix()}/`"  # a package is named by its folder
        return f"`{rel}`" in DOC or f"`{name}`" in DOC or (path.name == "__init__.py" and folder in DOC)

    missing = [str(path.relative_to(ROOT)) for name, path in MODULES.items() if not named(name, path)]
    assert not missing, f"docs/architecture.md does not mention: {missing}"
    named = set(re.findall(r"`((?:ferviz|plugins|models|tests|docs|benchmarks|examples)/[\w/.-]*)`", DOC))
    absent = sorted(p for p in named if not (ROOT / p.rstrip("/")).exists())
    assert not absent, f"docs/architecture.md names paths that do not exist: {absent}"


@functools.lru_cache(maxsize=None)
def import_graph() -> dict[str, set[str]]:
    """Every module's load-time ferviz imports, each file parsed once."""
    return {name: module_imports(name, path) for name, path in MODULES.items()}


def test_no_import_cycles_at_load_time():
    graph = import_graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            # a package's __init__ importing its own submodule is loading, not a cycle
            if state.get(nxt) == 1 and not node.startswith(nxt + "."):
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_has_a_docstring_and_stays_small(name):
    path = MODULES[name]
    text = path.read_text()
    assert ast.get_docstring(ast.parse(text)), f"{path.relative_to(ROOT)} has no docstring at the top"
    assert text.count("\n") <= MAX_LINES, f"{path.relative_to(ROOT)} has {text.count(chr(10))} lines"


def reachable(start: str) -> set[str]:
    graph = import_graph()
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_layers_point_one_way():
    for name in MODULES:
        if not name.startswith(("ferviz.cli", "ferviz.__main__")):  # the entry points are the top layer
            cli = {m for m in reachable(name) if m.startswith("ferviz.cli")}
            assert not cli, f"{name} (library) imports the command line: {sorted(cli)}"
    for name in (n for n in MODULES if n.startswith("ferviz.report")):
        assert "ferviz.train.trainer" not in reachable(name), f"{name} imports the trainer"


def test_extension_points_name_real_hooks():
    from ferviz import hookspecs

    section = DOC.split("## Where a new piece goes", 1)[1].split("\n## ", 1)[0]
    hooks = set(re.findall(r"`(register_\w+|load_checkpoint)`", section))
    assert len(hooks) >= 5, f"the extension-point section names only {sorted(hooks)}"
    for hook in hooks:
        assert callable(getattr(hookspecs, hook, None)), f"docs/architecture.md names hook {hook!r}, not declared"


def test_setup_cfg_ships_every_package():
    """A wheel (not an editable install, which the suite runs from) holds only the packages setup.cfg lists."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    present = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    assert present == listed, f"setup.cfg [options] packages: missing {sorted(present - listed)}, " \
                              f"stale {sorted(listed - present)}"
