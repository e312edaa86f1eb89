"""capsa.build.shellwords against buildkit's shell lexer tables (envVarTest, wordsTest), every row."""
from __future__ import annotations

import pytest

from capsa.build.shellwords import expand, expand_words, go_quote
from capsa.errors import BuildError
from conftest import CONFORMANCE, conformance_dir

# the environment buildkit's own test runs the envVarTest table with
ENV_VAR_TEST_ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


def _env_var_rows() -> list:
    path = CONFORMANCE / "dockerfile-parser" / "envVarTest"
    if not path.is_file():
        return [pytest.param(None, None, id="corpus-absent")]
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        platform, source, expected = (part.strip() for part in line.split("|"))
        if platform in ("A", "U"):   # all platforms, or unix only (W = windows only)
            rows.append(pytest.param(source, expected, id=f"line{number}"))
    return rows


def _words_rows() -> list:
    path = CONFORMANCE / "dockerfile-parser" / "wordsTest"
    if not path.is_file():
        return [pytest.param(None, None, None, id="corpus-absent")]
    rows, env = [], {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("ENV "):
            key, _, value = line[3:].lstrip(" ").partition("=")
            env = {**env, key: value}
            continue
        source, expected = line.split("|")
        rows.append(pytest.param(source.strip(), expected.lstrip(" "), env, id=f"line{number}"))
    return rows


@pytest.mark.parametrize(("source", "expected"), _env_var_rows())
def test_env_var_table(source: str | None, expected: str | None) -> None:
    conformance_dir("dockerfile-parser")
    if expected == "error":
        with pytest.raises(BuildError, match="failed to process"):
            expand(source, ENV_VAR_TEST_ENV)
    else:
        assert expand(source, ENV_VAR_TEST_ENV) == expected


@pytest.mark.parametrize(("source", "expected", "env"), _words_rows())
def test_words_table(source: str | None, expected: str | None, env: dict) -> None:
    conformance_dir("dockerfile-parser")
    if expected == "error":
        with pytest.raises(BuildError):
            expand_words(source, env)
    else:
        assert expand_words(source, env) == expected.split(",")


def test_tables_were_read() -> None:
    """Guards against a table format change silently parametrising nothing."""
    conformance_dir("dockerfile-parser")
    assert len(_env_var_rows()) > 200 and len(_words_rows()) > 20


@pytest.mark.parametrize(("word", "env", "expected"), [
    ("${V#*/}", {"V": "a/b/c"}, "b/c"),
    ("${V##*/}", {"V": "a/b/c"}, "c"),
    ("${V%/*}", {"V": "a/b/c"}, "a/b"),
    ("${V%%/*}", {"V": "a/b/c"}, "a"),
    ("${V/b/X}", {"V": "abab"}, "aXab"),
    ("${V//b/X}", {"V": "abab"}, "aXaX"),
    ("`$V", {"V": "x"}, "$V"),
])
def test_trim_replace_and_escape_token(word: str, env: dict, expected: str) -> None:
    escape = "`" if word.startswith("`") else "\\"
    assert expand(word, env, escape) == expected


def test_error_names_the_word() -> None:
    with pytest.raises(BuildError) as err:
        expand("${X:?must be set}", {})
    assert str(err.value) == 'failed to process "${X:?must be set}": X: must be set'


def test_go_quote() -> None:
    assert go_quote('a"b\\c\n\x00♥\x7f') == '"a\\"b\\\\c\\n\\x00♥\\x7f"'
