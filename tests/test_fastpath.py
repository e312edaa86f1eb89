"""capsa.fastpath: its checks agree with ``re``, its private-module users with their fallbacks,
and no other module imports a private CPython module."""
from __future__ import annotations

import ast
import json
from pathlib import Path
import random
import re
import subprocess
import sys

import pytest

from capsa.fastpath import names

ROOT = Path(__file__).resolve().parent.parent  # the repository (capsa may be installed elsewhere)
PRIVATE = {"_json", "_sha2", "_sha256", "_sha1", "_md5", "_blake2", "_pickle", "_datetime", "_io", "_csv"}


def test_hand_written_checks_match_their_regular_expressions() -> None:
    """Each check in capsa.fastpath.names against the pattern it states (distribution/reference's
    for image references), on generated strings."""
    domain_component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    patterns = {
        names.is_path_component: re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"),
        names.is_domain: re.compile(rf"(?:{domain_component}(?:\.{domain_component})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"),
        names.is_domain_component: re.compile(domain_component),
        names.is_tag: re.compile(r"[\w][\w.-]*", re.ASCII),
        names.is_sha256_hex: re.compile(r"[a-f0-9]{64}"),
        names.is_safe_name: re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*"),
    }
    rng = random.Random(4)
    alphabet = "ab9Z._-_:[]/é "
    samples = ["", "a", "a__b", "a___b", "a--b", "a._b", "-a", "a-", "localhost:5000", "[::1]:5000", "[::1]", "[]",
               "host:", "a.b.c", "a..b", "x" * 64, "f" * 64, "_tag", ".tag", "é", "a\n"]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(4000)]
    for check, pattern in patterns.items():
        for text in samples:
            assert check(text) == bool(pattern.fullmatch(text)), (check.__name__, text)
    assert not names.is_safe_name("a" * 129, 128) and names.is_safe_name("a" * 128, 128)


def test_mountinfo_unescaping_matches_a_regular_expression() -> None:
    rng = random.Random(7)
    samples = ["/a\\040b", "\\134", "\\", "\\04", "\\0400", "\\8", "/x\\011y\\012", "plain"]
    samples += ["".join(rng.choice("\\0147a8 ") for _ in range(rng.randint(0, 10))) for _ in range(3000)]
    for text in samples:
        expected = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)
        assert names.unescape_mount_path(text) == expected, text


def _run(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("blocked", [(), ("_json",)])
def test_jsonio_gives_the_same_with_and_without_the_private_accelerator(blocked: tuple[str, ...]) -> None:
    """With ``_json`` made unimportable, jsonio falls back to ``json``: the same values, the same
    text, the same errors."""
    from test_jsonio import DOCUMENTS, INVALID

    code = f"""
import sys, json
for name in {blocked!r}:
    sys.modules[name] = None  # import fails
from capsa.fastpath import jsonio
assert (jsonio._scan is None) == bool({blocked!r})
docs = {DOCUMENTS!r}
out = []
for d in docs:
    v = jsonio.loads(d)
    out.append([repr(v), jsonio.dumps(v), jsonio.dumps(v, sort_keys=True), repr(jsonio.loads(d.encode()))])
for bad in {INVALID!r}:
    try:
        jsonio.loads(bad)
    except json.JSONDecodeError as exc:
        out.append(str(exc))
try:
    jsonio.dumps(object())
except TypeError as exc:
    out.append(str(exc))
print(json.dumps(out))
"""
    got = json.loads(_run(code))
    expected = []
    for d in DOCUMENTS:
        v = json.loads(d)
        expected.append([repr(v), json.dumps(v, separators=(",", ":")),
                         json.dumps(v, separators=(",", ":"), sort_keys=True), repr(json.loads(d.encode()))])
    for bad in INVALID:
        with pytest.raises(json.JSONDecodeError) as info:
            json.loads(bad)
        expected.append(str(info.value))
    expected.append("Object of type object is not JSON serializable")
    assert got == expected


@pytest.mark.parametrize("blocked", [(), ("_sha2", "_sha256")])
def test_digest_gives_hashlibs_sha256_with_and_without_the_builtin(blocked: tuple[str, ...]) -> None:
    import hashlib

    code = f"""
import sys
for name in {blocked!r}:
    sys.modules[name] = None
from capsa.fastpath import digest
assert (digest._BUILTIN is None) == bool({blocked!r})
h = digest.sha256(b"ab")
h.update(b"c" * 100000)
print(digest.sha256().hexdigest(), h.hexdigest(), digest.sha256(b"x").digest().hex())
"""
    expected = [hashlib.sha256().hexdigest(), hashlib.sha256(b"ab" + b"c" * 100000).hexdigest(),
                hashlib.sha256(b"x").hexdigest()]
    assert _run(code).split() == expected


def _python_files() -> list[Path]:
    return sorted(p for top in ("core", "plugins") for p in (ROOT / top).rglob("*.py"))


def _imported_names(tree: ast.AST) -> set[str]:
    """Every module an ``import``, ``from ... import`` or literal ``__import__("x")`` names."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                out.add(arg.value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in PRIVATE:
            out.add(node.value)  # a name handed to __import__ or importlib indirectly
    return out


def test_private_cpython_modules_are_imported_only_in_the_fastpath_package() -> None:
    files = _python_files()
    assert len(files) > 50
    offenders = {}
    for path in files:
        found = {m for m in _imported_names(ast.parse(path.read_text(), str(path))) if m.split(".")[0] in PRIVATE}
        if found and path.parent != ROOT / "core" / "capsa" / "fastpath":
            offenders[str(path.relative_to(ROOT))] = sorted(found)
    assert not offenders, offenders
    fastpath = ROOT / "core" / "capsa" / "fastpath"
    assert _imported_names(ast.parse((fastpath / "jsonio.py").read_text())) >= {"_json"}
    assert "_sha2" in _imported_names(ast.parse((fastpath / "digest.py").read_text()))


def test_plain_field_tables_match_the_template_engine() -> None:
    from capsa.fastpath.table import format_simple
    from capsa.formatting import format_items

    headers = {"ID": "CONTAINER ID", "Image": "IMAGE", "Names": "NAMES", "Size": "SIZE", "Empty": "", "Long": "L"}
    rng = random.Random(3)
    words = ["", "a", "busybox", "localhost/busybox:latest", "x" * 30, "é", "tab\there", "2 minutes ago"]
    fields = list(headers)
    templates = ["table {{.ID}}\t{{.Image}}\t{{.Names}}", "table {{.ID}}\\t{{ .Size }}", "table {{.Long}}",
                 "table {{.ID}} {{.Names}}\\n", "table X{{.Image}}Y\t{{.Empty}}\tZ"]
    templates += ["table " + "\t".join("{{.%s}}" % rng.choice(fields) for _ in range(rng.randint(1, 5)))
                  for _ in range(40)]
    for template in templates:
        for n in (0, 1, 5):
            items = [{f: rng.choice(words) if f != "Size" else rng.randint(0, 10**9) for f in fields} for _ in range(n)]
            assert format_simple(template, items, headers) == format_items(template, items, headers), (template, items)
    # beyond plain fields: the engine's job
    assert format_simple("table {{.ID | upper}}", [], headers) is None
    assert format_simple("{{.ID}}", [], headers) is None
    assert format_simple("table {{.Unknown}}", [], headers) is None
    assert format_simple("table {{.ID}}", [{"ID": None}], headers) is None
    assert format_simple("table {{.ID}}", [{"ID": True}], headers) is None
    assert format_simple("table {{if .ID}}x{{end}}", [], headers) is None
