"""capsa.build.parser: buildkit's parser corpus (every dump), its negative cases, directives,
continuations, heredocs and line-numbered errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from capsa.build.parser import dump, parse, parse_heredoc
from capsa.errors import BuildError
from conftest import CONFORMANCE, conformance_dir

CORPUS = CONFORMANCE / "dockerfile-parser"


def _cases(folder: str) -> list:
    path = CORPUS / folder
    if not path.is_dir():
        return [pytest.param(None, id="corpus-absent")]
    return [pytest.param(case, id=case.name) for case in sorted(path.iterdir())]


def _read(path: Path) -> str:
    # undecodable bytes survive as surrogates (the dump writes them as \xNN, as Go does)
    return path.read_bytes().decode("utf-8", "surrogateescape")


@pytest.mark.parametrize("case", _cases("testfiles"))
def test_corpus_dump(case: Path | None) -> None:
    conformance_dir("dockerfile-parser")
    expected = _read(case / "result").replace("\r\n", "\n")
    assert dump(parse(_read(case / "Dockerfile"))) == expected


@pytest.mark.parametrize("case", _cases("testfiles-negative"))
def test_corpus_negative(case: Path | None) -> None:
    conformance_dir("dockerfile-parser")
    with pytest.raises(BuildError, match=r"^line \d+: "):
        parse(_read(case / "Dockerfile"))


def test_corpus_was_read() -> None:
    conformance_dir("dockerfile-parser")
    assert len(_cases("testfiles")) > 30 and len(_cases("testfiles-negative")) >= 4


def test_nodes_keep_lines_original_and_forms() -> None:
    df = parse("FROM a\n\n# comment\nRUN echo a \\\n  b\nCMD [\"x\", \"y\"]\nCOPY --from=b --chown=1:1 s /d\n")
    run, cmd, copy = df.nodes[1:]
    assert (run.start_line, run.end_line, run.original) == (4, 5, "RUN echo a   b")
    assert run.args == ["echo a   b"] and not run.json_form
    assert cmd.args == ["x", "y"] and cmd.json_form
    assert copy.flags == ["--from=b", "--chown=1:1"] and copy.args == ["s", "/d"]


def test_directives() -> None:
    df = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\nRUN echo `\n  b\n")
    assert df.directives == {"syntax": "docker/dockerfile:1", "escape": "`"}
    assert df.escape == "`"
    assert df.nodes[1].args == ["echo   b"]
    # a directive after an instruction or another comment is a plain comment
    late = parse("FROM a\n# escape=`\nRUN x \\\n y\n")
    assert late.escape == "\\" and late.directives == {} and late.nodes[1].args == ["x  y"]


@pytest.mark.parametrize(("text", "message"), [
    ("# escape=x\nFROM a\n", "line 1: invalid escape token 'x'"),
    ("# escape=`\n# escape=\\\nFROM a\n", "line 2: only one escape parser directive can be used"),
    ("FROM a\nCMD [1, 2]\n", "line 2: when using JSON array syntax"),
    ("FROM a\n\nLABEL a=b c\n", "line 3: Syntax error - can't find = in \"c\""),
    ("FROM a\nRUN <<EOF\nnever ends\n", "line 2: unterminated heredoc"),
    ("\n\n# nothing\n", "line 3: file with no instructions"),
])
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(BuildError) as err:
        parse(text)
    assert str(err.value).startswith(message)
    assert err.value.hint


def test_heredoc_run() -> None:
    df = parse("FROM a\nRUN <<EOF\necho $HOME\n  indented\nEOF\nRUN echo after\n")
    run = df.nodes[1]
    assert run.args == ["<<EOF"] and (run.start_line, run.end_line) == (2, 5)
    [doc] = run.heredocs
    assert (doc.name, doc.content, doc.expand, doc.chomp) == ("EOF", "echo $HOME\n  indented\n", True, False)
    assert df.nodes[2].args == ["echo after"] and df.nodes[2].start_line == 6


def test_heredoc_chomp_quoted_and_several() -> None:
    text = ("FROM a\nCOPY <<-\"ONE\" <<'TWO' <<THREE /dest/\n\t\tfirst\n\tONE\nsecond $X\nTWO\n"
            "third\nTHREE\n")
    copy = parse(text).nodes[1]
    one, two, three = copy.heredocs
    assert (one.name, one.chomp, one.expand, one.text()) == ("ONE", True, False, "first\n")
    assert one.content == "\t\tfirst\n"
    assert (two.name, two.expand, two.content) == ("TWO", False, "second $X\n")
    assert (three.name, three.expand, three.content) == ("THREE", True, "third\n")
    assert copy.args == ['<<-"ONE"', "<<'TWO'", "<<THREE", "/dest/"]


def test_heredoc_only_where_docker_takes_them() -> None:
    # exec form and other instructions keep "<<" as text and read no body
    df = parse('FROM a\nRUN ["cat", "<<EOF"]\nLABEL x=<<EOF\nCMD cat <<EOF\n')
    assert [n.heredocs for n in df.nodes] == [[], [], [], []]
    assert len(df.nodes) == 4
    onbuild = parse("FROM a\nONBUILD RUN <<EOF\nhi\nEOF\n").nodes[1]
    assert onbuild.child is not None and onbuild.child.heredocs[0].content == "hi\n"


def test_parse_heredoc_word() -> None:
    assert parse_heredoc("<<EOF").name == "EOF"
    quoted = parse_heredoc('<<"E F"')
    assert (quoted.name, quoted.expand) == ("E F", False)
    assert parse_heredoc("<<") is None and parse_heredoc("file") is None
    assert parse_heredoc("2<<-X").chomp is True


def test_onbuild_dump_and_child() -> None:
    df = parse("FROM a\nonbuild copy --chown=1 . /\n")
    node = df.nodes[1]
    assert node.keyword == "onbuild" and node.child.keyword == "copy"
    assert node.child.flags == ["--chown=1"] and node.child.original == "copy --chown=1 . /"
    assert dump(df) == '(from "a")\n(onbuild (copy ["--chown=1"] "." "/"))\n'


def test_crlf_and_bom() -> None:
    df = parse("\ufeffFROM a\r\nRUN x \\\r\n  y\r\n")
    assert df.nodes[1].args == ["x   y"]


def test_heredoc_delimiter_apart_from_its_opener() -> None:
    df = parse("FROM a\nRUN <<- EOF\n\tx\n\tEOF\nCOPY << one /d\nbody\none\nRUN cat << -X\n-X\n")
    run, copy, dash = df.nodes[1:]
    assert (run.heredocs[0].name, run.heredocs[0].chomp, run.heredocs[0].text()) == ("EOF", True, "x\n")
    assert copy.heredocs[0].name == "one" and copy.heredocs[0].content == "body\n"
    assert dash.heredocs[0].name == "-X" and not dash.heredocs[0].chomp


def test_heredoc_terminators_are_matched_per_heredoc_in_order() -> None:
    copy = parse("FROM a\nCOPY <<X <<Y /dest\nY\nX\nX\nY\n").nodes[1]
    assert [(d.name, d.content) for d in copy.heredocs] == [("X", "Y\n"), ("Y", "X\n")]


@pytest.mark.parametrize(("word", "name", "expand"), [
    ("<<eo'f'", "eof", False), ("<<eo\\'f", "eo'f", True), ("<<'e'o\\'f", "eo'f", False),
    ("<<$EOF", "$EOF", True), ('<<EO"F"', "EOF", False), ("<<- EOF", "EOF", True),
])
def test_heredoc_delimiter_quoting(word: str, name: str, expand: bool) -> None:
    doc = parse_heredoc(word)
    assert (doc.name, doc.expand) == (name, expand)


@pytest.mark.parametrize("word", ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh", "<<'EOF"])
def test_not_heredocs(word: str) -> None:
    assert parse_heredoc(word) is None


def test_json_constants_go_does_not_know_are_shell_form() -> None:
    # Go's encoding/json rejects NaN/Infinity, so docker reads these lines as shell form
    df = parse("FROM a\nCMD [NaN]\nRUN [Infinity, \"x\"]\n")
    assert [(n.args, n.json_form) for n in df.nodes[1:]] == [(["[NaN]"], False), (['[Infinity, "x"]'], False)]
