"""The parse table (capsa.cli.parsetable) and its dispatcher (capsa.cli.dispatch) against typer.

Cases are generated from the typer app itself: for every command the table marks fast, every
option is given in each of its spellings, and the callback arguments and global options that
typer produces are compared with the dispatcher's.
"""
from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys
from typing import Any

import pytest

from capsa.cli import dispatch, parsetable
from capsa.errors import UsageError
from conftest import CAPSA, Capsa


@pytest.fixture(scope="module")
def app() -> Any:
    from capsa.cli.app import build_command

    return build_command(None)


@pytest.fixture(scope="module")
def derived(app: Any) -> dict[str, Any]:
    return parsetable.derive(app)


@pytest.fixture(scope="module")
def table(derived: dict[str, Any]) -> parsetable.Table:
    return parsetable.Table(parsetable.serialize(derived))


_TREE: list[Any] = []


def _typer_tree() -> Any:
    """One click tree of the whole CLI for every case (building it costs about a second; a
    case swaps its command's callback and puts it back)."""
    if not _TREE:
        from capsa.cli.app import build_command

        _TREE.append(build_command(None))
    return _TREE[0]


def _typer_parse(args: list[str]) -> tuple[dict[str, Any], Any]:
    """What typer passes the command's callback for ``args``: (arguments but the context, the
    session's global options)."""
    from capsa.cli.main import command_words
    from capsa.cli.context import session

    root = _typer_tree()
    command = root
    words = [a for a in command_words(args) if not a.startswith("-")]
    for word in words:
        sub = getattr(command, "commands", {}).get(word)
        if sub is None:
            break
        command = sub
    wrapper = command.callback
    cells = dict(zip(wrapper.__code__.co_freevars, wrapper.__closure__))
    seen: dict[str, Any] = {}
    context_name = cells["context_param_name"].cell_contents

    def record(**kwargs: Any) -> None:
        ctx = kwargs.pop(context_name) if context_name else None
        seen.update(values=kwargs, session=session(ctx) if ctx is not None else None)

    original = cells["callback"].cell_contents
    cells["callback"].cell_contents = record
    from capsa.cli.app import explicit_bools

    try:
        root.main(args=explicit_bools(root, args), prog_name="capsa", standalone_mode=False)
    finally:
        cells["callback"].cell_contents = original  # (the tree serves the next case)
    return seen["values"], seen["session"]


def _fast_parse(args: list[str], table: parsetable.Table) -> tuple[dict[str, Any], Any]:
    _name, spec, root_values, values, late = dispatch.parse(args, table)
    return values, dispatch._session(table, root_values, late)


def _sample(param: dict[str, Any], n: int) -> str:
    if param["type"] == "choice":
        return param["choices"][n % len(param["choices"])]
    return {"int": str(7 + n), "float": f"{1.5 + n}", "str": f"v{n}"}.get(param["type"], f"v{n}")


def _required_words(spec: dict[str, Any]) -> list[str]:
    return [_sample(p, 0) if p["type"] == "choice" else f"arg{i}"
            for i, p in enumerate(spec["params"]) if p["argument"] and p["required"]]


def _cases(table: dict[str, Any]) -> list[list[str]]:
    """Argument lists for every fast command of the derived ``table``."""
    cases = []
    for path, spec in sorted(table["commands"].items()):
        if not spec["fast"]:
            continue
        head = path.split()
        tail = _required_words(spec)
        cases.append(head + tail)
        for param in spec["params"]:
            if param["argument"]:
                if param["nargs"] == -1:
                    cases.append(head + ["w1", "w2", "w3"] if param["type"] != "choice" else head + tail)
                continue
            for opt in param["opts"] + param["secondary"]:
                if param["flag"]:
                    cases.append(head + [opt] + tail)
                    if opt.startswith("--"):  # podman's --flag=true|false (Go's ParseBool words)
                        words = ("true", "1") if param["default"] and not param["secondary"] else ("true", "false", "1", "F")
                        cases += [head + [f"{opt}={word}"] + tail for word in words]
                    continue
                a, b = _sample(param, 0), _sample(param, 1)
                if opt.startswith("--"):
                    forms = [[opt, a], [f"{opt}={a}"]]
                else:
                    forms = [[opt, a], [opt + a]]
                for form in forms:
                    extra = [opt, b] if param["multiple"] else []
                    cases.append(head + form + tail + extra)  # (options after the arguments too)
        flags = [p["opts"][-1] for p in spec["params"] if p["flag"] and len(p["opts"][-1]) == 2]
        if len(flags) > 1:
            cases.append(head + ["-" + "".join(f[1] for f in flags)] + tail)  # a cluster
        cases.append(["--root", "/r1", "--storage-opt", "a=1"] + head + tail + ["--runroot", "/x", "--storage-opt", "b=2",
                                                                                  "--log-level", "DEBUG"])
    return cases


def test_every_option_of_every_command_parses_as_typer_parses_it(derived: dict[str, Any], table: parsetable.Table) -> None:
    cases = _cases(derived)
    fast = [path for path, spec in derived["commands"].items() if spec["fast"]]
    assert len(fast) > 40 and "ps" in fast and "images" in fast and "image ls" in fast
    assert len(cases) > 300
    for args in cases:
        expected_values, expected_session = _typer_parse(args)
        values, sess = _fast_parse(args, table)
        assert values == expected_values, args
        if expected_session is None:  # (a command that takes no context)
            continue
        assert sess.options == expected_session.options, args
        assert sess.log_level == expected_session.log_level, args


def test_the_table_survives_its_text_round_trip(derived: dict[str, Any], table: parsetable.Table) -> None:
    assert {k: v for k, v in derived.items() if k != "commands"} == {k: v for k, v in table.root.items() if k != "size"}
    for path, spec in derived["commands"].items():
        assert table.command(path) == spec
    assert table.command("no such") is None and table.command("image") is None


@pytest.mark.parametrize("args", [["ps", "--help"], ["ps", "-h"], ["container"], ["nosuch"], ["ps", "--last", "x"],
                                  ["tag", "onlyone"], ["--version", "ps"],
                                  ["ps", "--format"], ["ps", "extra"]])
def test_what_typer_must_answer_falls_back(table: parsetable.Table, args: list[str]) -> None:
    with pytest.raises(dispatch.Fallback):
        dispatch.parse(args, table)


def test_a_boolean_flag_takes_podmans_values_only(table: parsetable.Table) -> None:
    for word, value in (("true", True), ("1", True), ("t", True), ("T", True), ("false", False), ("0", False), ("F", False)):
        assert dispatch.parse(["ps", f"--all={word}"], table)[3]["all"] is value, word
    with pytest.raises(UsageError) as info:
        dispatch.parse(["ps", "--all=yes"], table)
    assert info.value.message == 'invalid argument "yes" for "-a, --all" flag: strconv.ParseBool: parsing "yes": invalid syntax'


def test_unknown_flags_are_refused_in_podmans_words(table: parsetable.Table) -> None:
    with pytest.raises(UsageError) as info:
        dispatch.parse(["ps", "-a", "--bogus"], table)
    assert info.value.message == "unknown flag: --bogus" and info.value.hint == "See 'capsa ps --help'"
    with pytest.raises(UsageError) as info:
        dispatch.parse(["container", "ls", "-aqz"], table)
    assert info.value.message == "unknown shorthand flag: 'z' in -z"


@pytest.mark.parametrize("cached", [False, True])
@pytest.mark.parametrize("argv", [["ps", "--bogus"], ["images", "-qz"], ["--bogus", "images"], ["volume", "ls", "--nope=1"]])
def test_unknown_flag_wording_is_the_same_on_both_paths(capsa: Capsa, cached: bool, argv: list[str]) -> None:
    if cached:
        capsa("version")  # makes the table
    else:
        assert not (Path(capsa.env["CAPSA_CACHE_DIR"]) / parsetable.NAME).exists()
    r = capsa(*argv)
    assert r.returncode == 125
    bad = next(a for a in argv if a.startswith("-"))
    flag = bad.split("=")[0]
    expected = f"Error: unknown flag: {flag}" if flag.startswith("--") else "Error: unknown shorthand flag: 'z' in -z"  # pflag: from the letter on
    path = " ".join(w for w in argv[:argv.index(bad)] if not w.startswith("-"))  # where the flag was given
    assert r.stderr.splitlines() == [expected, f"See 'capsa {path} --help'".replace("capsa  ", "capsa ")]


def test_the_table_is_rebuilt_when_sources_or_distributions_change(capsa: Capsa, tmp_path: Path) -> None:
    cache = Path(capsa.env["CAPSA_CACHE_DIR"]) / parsetable.NAME
    assert capsa("images").returncode == 0
    first = cache.read_text()
    assert capsa("images").returncode == 0
    assert cache.read_text() == first  # a hit: not rewritten
    env = {**os.environ, "CAPSA_CACHE_DIR": capsa.env["CAPSA_CACHE_DIR"]}
    code = "from capsa.cli import parsetable; print(parsetable.load() is not None)"
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout.strip() == "True"
    # a distribution installed or removed changes a sys.path entry's mtime; a source edit, its own
    site = tmp_path / "site"
    site.mkdir()
    env_site = {**env, "PYTHONPATH": str(site)}
    assert subprocess.run([sys.executable, "-c", code], env=env_site, capture_output=True, text=True).stdout.strip() == "False"
    marker = Path(parsetable.__file__).with_name("app.py")
    stat = marker.stat()
    try:
        os.utime(marker, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout.strip() == "False"
        assert capsa("images").returncode == 0  # typer serves it and derives the table again
        assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout.strip() == "True"
    finally:
        os.utime(marker, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_stale_or_torn_table_is_a_miss(capsa: Capsa) -> None:
    cache = Path(capsa.env["CAPSA_CACHE_DIR"]) / parsetable.NAME
    assert capsa("images").returncode == 0
    key, _, body = cache.read_text().partition("\n")
    cache.write_text(key + "\n" + body[: len(body) // 2])
    r = capsa("images")
    assert r.returncode == 0 and r.stdout.startswith("REPOSITORY")
    assert cache.read_text() != key + "\n" + body[: len(body) // 2]  # rebuilt
    assert str(CAPSA)


def test_every_fast_command_is_callable_without_importing_typer(derived: dict[str, Any]) -> None:
    """The callbacks the table points at come from modules that import no typer (bar
    ``completion``, whose work is typer's completion scripts)."""
    modules = sorted({spec["module"] for spec in derived["commands"].values() if spec["fast"]} - {"capsa.cli.completion"})
    assert "capsa.cli.ps" in modules and "capsa.cli.images" in modules and len(modules) >= 7
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'click')))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
