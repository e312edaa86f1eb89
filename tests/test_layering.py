"""The layers, checked on the import graph (statically, so every import counts: at module level,
inside functions, under ``TYPE_CHECKING``, relative ones, and ``importlib.import_module`` /
``__import__`` with a literal name).

- Nothing outside ``capsa.cli`` imports ``capsa.cli``: the engine (``capsa.engine``) and what is
  below it serve any front end. The one exception is ``capsa/__main__.py``: ``python -m capsa``
  is the program's entry, the same as the ``capsa`` console script (``capsa.cli.main:entry``),
  and nothing imports it.
- Nothing under core/ imports a plugin package (any top-level module that plugins/* or
  tests/plugins/* provides): the core reaches plugins only through entry points.
- The CLI reaches the work through the engine: a ``capsa.cli`` module imports only
  ``capsa.cli``, ``capsa.engine``, ``capsa.errors``, ``capsa.fastpath`` and the front-end
  helpers of :data:`CLI_MAY_ALSO_IMPORT` (never ``capsa.registry``, ``capsa.store``,
  ``capsa.image``, ``capsa.drivers``, or the rest of ``capsa.container``).
- The layers below the engine (``capsa.registry``, ``capsa.image``, ``capsa.store``,
  ``capsa.drivers``) import nothing of ``capsa.engine``: the engine passes down what they need
  (the registry layer gets a ``capsa.registry.connect.Access``).
See docs/architecture.md.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "core"
PLUGIN_DIRS = [p for p in sorted((REPO / "plugins").iterdir()) + sorted((REPO / "tests" / "plugins").iterdir())
               if p.is_dir()]

CLI_ENTRY = {"capsa/__main__.py"}  # the program entry (see above)
KNOWN_PLUGIN_IMPORTS: set[str] = set()
CLI_MAY_IMPORT = ("capsa.cli", "capsa.engine", "capsa.errors", "capsa.fastpath")
CLI_MAY_ALSO_IMPORT = {
    "capsa.__version__": "--version and the cache keys",
    "capsa.cache": "the help cache and the parse table's files",
    "capsa.entrypoints": "'capsa plugins' lists the entry-point index",
    "capsa.plugins": "loading the hook plugins' commands and warnings at start-up",
    "capsa.config": "the driver kinds 'capsa plugins' lists",
    "capsa.formatting": "--format: JSON and Go templates",
    "capsa.humanize": "sizes in 'system df'",
    # run/create's flags: the parsers and the ContainerConfig record they build, which the
    # engine takes; the lean run path imports them directly (pure functions of the flags)
    "capsa.container.flags": "parsing run/create/volume flags",
    "capsa.container.model": "ContainerConfig, what engine.containers.create/run take",
    "capsa.pod.model": "PodConfig, what the engine's pod operations take and return",
    "capsa.container.hostdevices": "--device checked when parsed, as podman's create does",
}
BELOW_THE_ENGINE = ("capsa.registry", "capsa.image", "capsa.store", "capsa.drivers", "capsa.build")  # (spec.py imported capsa_isolation_linux until the isolation branch)


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, module name) of every import in ``source`` (the code of ``module``); for
    ``from X import y`` both ``X`` and ``X.y`` (y may be a submodule)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join([*anchor, *([base] if base else [])])
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__"):
                yield node.lineno, node.args[0].value


def python_files(base: Path) -> Iterator[Path]:
    for path in sorted(base.rglob("*.py")):
        if ".venv" not in path.parts and "build" not in path.parts:
            yield path


def plugin_modules() -> set[str]:
    """Top-level modules the plugin distributions provide."""
    names = set()
    for plugin in PLUGIN_DIRS:
        for entry in plugin.iterdir():
            if entry.is_dir() and (entry / "__init__.py").exists():
                names.add(entry.name)
            elif entry.suffix == ".py":
                names.add(entry.stem)
    return names - {"tests", "setup", "conftest"}


def imports_under(base: Path) -> Iterator[tuple[str, int, str]]:
    """(file relative to ``base``, line, imported module) for every .py under ``base``."""
    for path in python_files(base):
        rel = path.relative_to(base).as_posix()
        for line, name in imported_names(path.read_text(), module_name(path, base), path.name == "__init__.py"):
            yield rel, line, name


def is_within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_checker_sees_every_kind_of_import() -> None:
    source = (
        "import os\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from capsa.cli.context import session\n"
        "def f():\n    import capsa_isolation_linux.caps\n"
        "from capsa import cli\n"
        "from ..cli import output\n"
        "import importlib; importlib.import_module('capsa_net_host')\n"
    )
    names = [name for _, name in imported_names(source, "capsa.engine.images", is_package=False)]
    assert "capsa.cli.context" in names
    assert "capsa_isolation_linux.caps" in names
    assert "capsa.cli" in names  # from capsa import cli
    assert "capsa.cli.output" in names  # relative, two levels up from capsa.engine.images
    assert "capsa_net_host" in names
    assert {"capsa_isolation_linux", "capsa_storage_vfs", "capsa_tiny_driver"} <= plugin_modules()


def test_nothing_outside_the_cli_imports_the_cli() -> None:
    offenders = []
    for base in (CORE, *PLUGIN_DIRS):
        for rel, line, name in imports_under(base):
            if base == CORE and (rel.startswith("capsa/cli/") or rel in CLI_ENTRY):
                continue
            if is_within(name, "capsa.cli"):
                offenders.append(f"{base.relative_to(REPO)}/{rel}:{line} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_the_core_imports_no_plugin_package() -> None:
    plugins = plugin_modules()
    offenders, known = [], set()
    for rel, line, name in imports_under(CORE):
        if name.split(".")[0] in plugins:
            if rel in KNOWN_PLUGIN_IMPORTS:
                known.add(rel)
                continue
            offenders.append(f"core/{rel}:{line} imports {name}")
    assert not offenders, "\n".join(offenders)
    assert known == KNOWN_PLUGIN_IMPORTS, f"no longer imports a plugin: drop {KNOWN_PLUGIN_IMPORTS - known} from the list"


def cli_may_import(name: str) -> bool:
    """Whether a ``capsa.cli`` module may import ``name`` (see the module's docstring)."""
    if name.split(".")[0] != "capsa":
        return True  # the standard library, third parties
    if any(is_within(name, allowed) for allowed in CLI_MAY_IMPORT):
        return True
    # an allowed module, or a package on the way to one (``from capsa.container import flags``
    # names ``capsa.container`` too; ``capsa.container.lifecycle`` is still refused)
    return any(is_within(name, allowed) or is_within(allowed, name) for allowed in CLI_MAY_ALSO_IMPORT
               if allowed != "capsa")


def test_the_cli_rule_refuses_what_it_should() -> None:
    assert cli_may_import("capsa.engine.push.TransferEvent") and cli_may_import("typer") and cli_may_import("capsa")
    assert cli_may_import("capsa.container.flags.parse_labels")
    for name in ("capsa.registry.connect", "capsa.registry.progress.TransferEvent", "capsa.store.images",
                 "capsa.image.reference", "capsa.drivers.registry", "capsa.container.lifecycle", "capsa.registry"):
        assert not cli_may_import(name), name


def test_the_cli_imports_only_the_engine_and_front_end_helpers() -> None:
    offenders = [f"core/{rel}:{line} imports {name}" for rel, line, name in imports_under(CORE)
                 if rel.startswith("capsa/cli/") and not cli_may_import(name)]
    assert not offenders, "\n".join(offenders)


def test_the_layers_below_the_engine_import_nothing_of_it() -> None:
    offenders = []
    for rel, line, name in imports_under(CORE):
        if any(is_within(module_name(CORE / rel, CORE), below) for below in BELOW_THE_ENGINE) \
                and is_within(name, "capsa.engine"):
            offenders.append(f"core/{rel}:{line} imports {name}")
    assert not offenders, "\n".join(offenders)
