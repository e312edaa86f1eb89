"""capsa.fastpath.jsonio gives what json.loads / json.dumps(separators=(",", ":")) give (checked side by side)."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import capsa
from capsa.fastpath import jsonio

DOCUMENTS = [
    '{"a": [1, 2.5, -3e10, true, false, null, "x\\u00e9\\ud83d\\ude00"], "b": {"c": {}}}',
    " [] \n", '"s"', "1", "-0.0", "1e400", '{"a":1,"a":2}', "[Infinity, -Infinity]", '"\\ud800"',
    '{"id": "' + "a" * 64 + '", "mounts": [{"type": "bind", "options": ["ro", "rbind"]}]}',
]
INVALID = ["", " ", "[1,]", '{"a"}', "[1] x", "\ufeff[]", "nul", '{"a":1', "[01]", '"\x01"', "{'a': 1}"]
VALUES = [{"a": [1, 2.5, None, True, "é\n\u2028"], "b": {"c": []}}, [], "x", 1, 1.5, -0.0, float("inf"),
          {1: 2, None: 3, True: 4, 2.5: 1}, ("tuple", 1), "\ud800", 10**30]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_loads_matches_json_for_text_and_utf8_bytes(text: str) -> None:
    assert repr(jsonio.loads(text)) == repr(json.loads(text))
    assert repr(jsonio.loads(text.encode("utf-8", "surrogatepass"))) == repr(json.loads(text.encode("utf-8", "surrogatepass")))


@pytest.mark.parametrize("data", [b'\xef\xbb\xbf["bom"]', '["sixteen"]'.encode("utf-16"), '["be"]'.encode("utf-32-be")])
def test_loads_reads_other_encodings_as_json_does(data: bytes) -> None:
    assert jsonio.loads(data) == json.loads(data)


@pytest.mark.parametrize("text", INVALID)
def test_invalid_documents_raise_json_errors(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as ours:
        jsonio.loads(text)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(text)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_dumps_matches_compact_json(value: object) -> None:
    assert jsonio.dumps(value) == json.dumps(value, separators=(",", ":"))


def test_dumps_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsonio.dumps({"a": object()})
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        jsonio.dumps(loop)
    shared = [1]
    assert jsonio.dumps([shared, shared]) == "[[1],[1]]"  # a failed call leaves no stale markers


def test_round_trip_of_a_nan() -> None:
    assert math.isnan(jsonio.loads(jsonio.dumps(float("nan"))))


def test_importing_it_imports_neither_json_nor_re() -> None:
    code = "import sys, capsa.fastpath.jsonio as j; j.loads(j.dumps({'a': [1, 'b']})); print(sorted({'json', 're', 'enum'} & set(sys.modules)))"
    package_parent = str(Path(capsa.__file__).parent.parent)  # -S: no site (an editable install's hook imports re)
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": package_parent}).stdout
    assert out.strip() == "[]"


def test_records_are_written_as_asdict_has_them() -> None:
    """Records, nested ones and ones inside lists and dicts included, come out as
    ``json.dumps(asdict(...))`` writes them, without being copied first."""
    from capsa.container.model import ContainerConfig, MountSpec
    from capsa.fastpath.record import asdict

    config = ContainerConfig(id="a" * 64, name="n", image_id=None, image_name="busybox",
                             mounts=[MountSpec("bind", "/dst", "/src", ["ro"])], labels={"k": "v"})
    for value in (config, [config, config], {"c": config}):
        plain = [asdict(config)] * 2 if isinstance(value, list) else {"c": asdict(config)} if isinstance(value, dict) else asdict(config)
        assert jsonio.dumps(value) == json.dumps(plain, separators=(",", ":"))
        assert jsonio.loads(jsonio.dumps(value)) == plain


def test_sorted_keys_match_json() -> None:
    value = {"b": 1, "a": {"d": [3, {"z": 1, "y": 2}], "c": None}}
    assert jsonio.dumps(value, sort_keys=True) == json.dumps(value, sort_keys=True, separators=(",", ":"))
