"""Tests for capsa.formatting: podman's --format (Go text/template subset, table, json)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from capsa.formatting import TemplateError, format_items, render


@dataclass
class Ctr:
    ID: str
    Names: list[str]
    Labels: dict[str, str] = field(default_factory=dict)

    def Short(self) -> str:
        return self.ID[:3]


ITEMS = [
    {"ID": "3f4a2b1c9d8e", "Names": "web", "Status": "Up 2 hours"},
    {"ID": "a1", "Names": "database-primary", "Status": "Exited (0)"},
]


# ---- field access and value rendering ------------------------------------------------------

def test_field_access_mapping_nested_and_dot() -> None:
    item = {"ID": "abc", "Config": {"Image": "alpine", "Env": {"A": "1"}}}
    assert render("{{.ID}}", item) == "abc"
    assert render("{{.Config.Image}} {{.Config.Env.A}}", item) == "alpine 1"
    assert render("{{ .ID }}!", item) == "abc!"
    assert render("{{.}}", "plain") == "plain"
    assert render("{{$.ID}}", item) == "abc"


def test_field_access_object_attribute_and_method() -> None:
    c = Ctr("deadbeef", ["a", "b"])
    assert render("{{.ID}} {{.Names}} {{.Short}}", c) == "deadbeef [a b] dea"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "<no value>"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (1.5, "1.5"),
        (2.0, "2"),
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1234567.5, "1.2345675e+06"),
        (0.0001, "0.0001"),
        (1e-05, "1e-05"),
        (["a", "b", "c"], "[a b c]"),
        ([1, None, True], "[1 <nil> true]"),
        ((), "[]"),
        ({"b": 2, "a": "x", "c": [1, 2]}, "map[a:x b:2 c:[1 2]]"),
        ({}, "map[]"),
        ({"/vol": {}, "80/tcp": {}}, "map[/vol:{} 80/tcp:{}]"),  # Go's map[string]struct{}: Volumes, ExposedPorts
        ("text", "text"),
    ],
)
def test_values_render_like_go(value: object, expected: str) -> None:
    assert render("{{.V}}", {"V": value}) == expected


# ---- functions ----------------------------------------------------------------------------

def test_json_function_and_pipeline() -> None:
    item = {"Labels": {"k": "v", "é": "<>&"}, "Ports": [80, 443], "N": None}
    assert render("{{json .Labels}}", item) == '{"k":"v","é":"<>&"}'
    assert render("{{.Ports | json}}", item) == "[80,443]"
    assert render("{{json .N}}", item) == "null"
    assert render("{{json .}}", Ctr("x", ["n"])) == '{"ID":"x","Names":["n"],"Labels":{}}'


def test_string_functions() -> None:
    item = {"Name": "Hello wORLD foo-bar", "ID": "0123456789abcdef", "Names": ["a", "b", 3]}
    assert render("{{upper .Name}}", item) == "HELLO WORLD FOO-BAR"
    assert render("{{lower .Name}}", item) == "hello world foo-bar"
    assert render("{{title .Name}}", {"Name": "hello wORLD foo-bar 1abc"}) == "Hello WORLD Foo-Bar 1abc"
    assert render('{{join .Names ","}}', item) == "a,b,3"
    assert render("{{truncate .ID 12}}", item) == "0123456789ab"
    assert render("{{truncate .ID 99}}", item) == "0123456789abcdef"
    assert render("{{len .ID}} {{len .Names}} {{len .}}", item) == "16 3 3"
    assert render('{{join (split "a:b:c" ":") "-"}}', {}) == "a-b-c"
    assert render('[{{pad "x" 2 1}}]', {}) == "[  x ]"


def test_pipelines_and_subexpressions() -> None:
    item = {"Name": "web", "M": {"k": [1, 2, 3]}}
    assert render('{{.Name | upper | printf "<%s>"}}', item) == "<WEB>"
    assert render('{{printf "%s/%s" (upper .Name) .Name}}', item) == "WEB/web"
    assert render('{{len (index .M "k")}} {{index .M "k" 1}}', item) == "3 2"
    assert render('{{index .M "missing"}}', item) == "<no value>"


def test_printf_verbs() -> None:
    item = {"A": "ab", "B": 5, "F": 3.14159, "L": ["x", "y"], "T": True}
    assert render('{{printf "%s-%d" .A .B}}', item) == "ab-5"
    assert render('{{printf "[%5s|%-5s|%05d|%-4d]" .A .A .B .B}}', item) == "[   ab|ab   |00005|5   ]"
    assert render('{{printf "%q %v %x %X %o %b" .A .L 255 255 8 5}}', item) == '"ab" [x y] ff FF 10 101'
    assert render('{{printf "%.2f %6.1f %e %g" .F .F 1500.0 .F}}', item) == "3.14    3.1 1.500000e+03 3.14159"
    assert render('{{printf "%t %v %.1s %x %% %c" .T .T .A .A 65}}', item) == "true true a 6162 % A"
    assert render('{{printf "%d|%d" "x"}}', item) == "%!d(str=x)|%!d(MISSING)"
    assert render('{{printf "%s" .A 1}}', item) == "ab%!(EXTRA int=1)"


def test_literals_and_escapes() -> None:
    assert render(r'{{"a\"b\\c\x41\u00e9\101"}}', {}) == 'a"b\\cAéA'
    assert render("{{`raw \\n`}}", {}) == "raw \n"  # the \n escape is normalized before parsing
    assert render('{{printf "%d %d %v" 7 -3 true}}', {}) == "7 -3 true"
    assert render("{{-3}}", {}) == "-3"  # '{{-' without a following space is a number
    assert render('{{print "a" 1 2 "b" nil}}', {}) == "a1 2b<nil>"


def test_logic_and_comparison_functions() -> None:
    item = {"S": "running", "N": 3, "E": ""}
    assert render('{{if eq .S "exited" "running"}}y{{end}}', item) == "y"
    assert render('{{if ne .S "running"}}y{{else}}n{{end}}', item) == "n"
    assert render("{{if lt .N 5}}a{{end}}{{if ge .N 3}}b{{end}}{{if gt .N 3}}c{{end}}", item) == "ab"
    assert render('{{or .E "default"}} {{and 1 0 2}} {{and 1 2}} {{not .E}}', item) == "default 0 2 true"


# ---- actions --------------------------------------------------------------------------------

def test_if_else_and_else_if() -> None:
    tmpl = "{{if .A}}a{{else if .B}}b{{else}}none{{end}}"
    assert render(tmpl, {"A": 1, "B": 1}) == "a"
    assert render(tmpl, {"A": 0, "B": 1}) == "b"
    assert render(tmpl, {"A": 0, "B": 0}) == "none"
    assert render("{{if .A}}yes{{end}}", {"A": ""}) == ""


def test_with_rebinds_dot() -> None:
    assert render("{{with .C}}{{.Image}}{{else}}none{{end}}", {"C": {"Image": "alpine"}}) == "alpine"
    assert render("{{with .C}}{{.Image}}{{else}}none{{end}}", {"C": None}) == "none"


def test_range() -> None:
    item = {"Name": "n", "L": ["a", "b"], "M": {"z": 1, "a": 2}, "E": [], "Ports": [{"P": 80}, {"P": 443}]}
    assert render("{{range .L}}[{{.}}]{{end}}", item) == "[a][b]"
    assert render("{{range .L}}{{$.Name}}:{{.}} {{end}}", item) == "n:a n:b "
    assert render("{{range .M}}{{.}},{{end}}", item) == "2,1,"  # map values in key order
    assert render("{{range .E}}x{{else}}empty{{end}}", item) == "empty"
    assert render("{{range .Ports}}{{.P}}/tcp {{end}}", item) == "80/tcp 443/tcp "
    assert render("{{range .L}}{{range $.L}}{{.}}{{end}}|{{end}}", item) == "ab|ab|"


@pytest.mark.parametrize(
    ("value", "truthy"),
    [(False, False), (True, True), (0, False), (1, True), (0.0, False), (-1, True),
     ("", False), ("0", True), (None, False), ([], False), ([0], True), ({}, False),
     ({"a": 1}, True), ((), False), (set(), False), (Ctr("x", []), True)],
)
def test_go_truthiness(value: object, truthy: bool) -> None:
    assert render("{{if .V}}y{{else}}n{{end}}", {"V": value}) == ("y" if truthy else "n")


def test_whitespace_trimming_and_comments() -> None:
    assert render("a  {{- .X -}}  b", {"X": "X"}) == "aXb"
    assert render("a  {{.X}}  b", {"X": "X"}) == "a  X  b"
    assert render("{{if .X -}}\n   yes\n{{- end}}", {"X": 1}) == "yes"
    assert render("{{range .L -}}\n  {{.}}\n{{- end}}", {"L": [1, 2]}) == "12"
    assert render("a{{/* a comment */}}b {{- /* trimmed */ -}} c", {}) == "abc"


# ---- errors ---------------------------------------------------------------------------------

def test_unknown_field_message() -> None:
    with pytest.raises(TemplateError) as exc:
        render("{{.Foo}}", {"ID": 1})
    assert str(exc.value) == 'template: unknown field "Foo" in {{.Foo}}'
    with pytest.raises(TemplateError, match='unknown field "Nope"'):
        render("{{.Nope}}", Ctr("x", []))
    with pytest.raises(TemplateError, match="can't evaluate field Foo in type str"):
        render("{{.ID.Foo}}", {"ID": "x"})
    with pytest.raises(TemplateError, match='unknown field "_private"'):
        render("{{._private}}", Ctr("x", []))


def test_unknown_function_is_a_parse_error() -> None:
    with pytest.raises(TemplateError) as exc:
        format_items("{{nope .ID}}", [])  # detected even when there is nothing to render
    assert str(exc.value) == 'template: function "nope" not defined in {{nope .ID}}'
    with pytest.raises(TemplateError, match='function "bogus" not defined'):
        render("{{.ID | bogus}}", {"ID": 1})


@pytest.mark.parametrize(
    ("tmpl", "message"),
    [
        ("abc {{.ID", "unclosed action"),
        ("{{.ID}", "unexpected '}'"),
        ('{{"abc}}', "unterminated quoted string"),
        ("x{{end}}", "template: unexpected {{end}}"),
        ("x{{else}}y", "template: unexpected {{else}}"),
        ("{{if .A}}x{{end}}{{end}}", "template: unexpected {{end}}"),
        ("{{if .A}}x", "missing {{end}} for {{if .A}}"),
        ("{{range .L}}{{if .}}x{{end}}", "missing {{end}} for {{range .L}}"),
        ("{{if .A}}x{{else}}y{{else}}z{{end}}", "expected {{end}}, found {{else}}"),
        ("{{if}}x{{end}}", "missing value for command"),
        ("{{}}", "missing value for command"),
        ('{{define "x"}}y{{end}}', "unsupported action"),
        ("{{.A .B}}", "can't give argument to non-function"),
        ('{{.A | "x"}}', "can't give argument to non-function"),
        ("{{$x := .A}}", "variable"),
        ("{{printf (upper .A}}", "unbalanced parentheses"),
        ('{{"\\q"}}', "unknown escape sequence"),
        ("{{.A @}}", "unexpected '@'"),
    ],
)
def test_malformed_templates(tmpl: str, message: str) -> None:
    with pytest.raises(TemplateError) as exc:
        render(tmpl, {"A": 1, "B": 2, "L": [1]})
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("tmpl", "message"),
    [
        ("{{len .N}}", "error calling len: len of type int"),
        ("{{upper}}", "wrong number of args for upper: want 1 got 0"),
        ("{{truncate .S}}", "wrong number of args for truncate: want 2 got 1"),
        ("{{index .L 5}}", "error calling index"),
        ("{{join .S \",\"}}", "error calling join"),
        ("{{range .S}}x{{end}}", "range can't iterate over abc"),
        ("{{lt .S .N}}", "error calling lt"),
    ],
)
def test_execution_errors(tmpl: str, message: str) -> None:
    with pytest.raises(TemplateError, match=None) as exc:
        render(tmpl, {"N": 3, "S": "abc", "L": [1]})
    assert message in str(exc.value)


def test_template_error_is_value_error() -> None:
    assert issubclass(TemplateError, ValueError)


# ---- format_items: plain templates, json ----------------------------------------------------

def test_format_items_one_line_per_item() -> None:
    assert format_items("{{.ID}}", ITEMS) == "3f4a2b1c9d8e\na1\n"
    assert format_items("{{.ID}}\n", ITEMS) == "3f4a2b1c9d8e\na1\n"  # no doubled newline
    assert format_items("{{.ID}}", []) == ""
    assert format_items("{{.ID}} {{.Short}}", [Ctr("deadbeef", [])]) == "deadbeef dea\n"


def test_backslash_escapes_as_typed_on_a_shell() -> None:
    # the user typed --format '{{.ID}}\t{{.Names}}\n': two characters each, not control codes
    assert format_items(r"{{.ID}}\t{{.Names}}", ITEMS) == "3f4a2b1c9d8e\tweb\na1\tdatabase-primary\n"
    assert format_items(r"{{.ID}}\n{{.Names}}", ITEMS[:1]) == "3f4a2b1c9d8e\nweb\n"
    assert render(r"{{.ID}}\t{{.Names}}\n", ITEMS[1]) == "a1\tdatabase-primary\n"


def test_json_format() -> None:
    items = [{"ID": "abc", "Ports": [80, 443], "Labels": {"a": "é"}}, Ctr("x", ["n"])]
    expected = (
        "[\n"
        "    {\n"
        '        "ID": "abc",\n'
        '        "Ports": [\n'
        "            80,\n"
        "            443\n"
        "        ],\n"
        '        "Labels": {\n'
        '            "a": "é"\n'
        "        }\n"
        "    },\n"
        "    {\n"
        '        "ID": "x",\n'
        '        "Names": [\n'
        '            "n"\n'
        "        ],\n"
        '        "Labels": {}\n'
        "    }\n"
        "]\n"
    )
    assert format_items("json", items) == expected
    assert format_items("json", []) == "[]\n"


def test_json_dot_one_compact_line_per_item() -> None:
    items = [{"ID": "a", "N": 1}, {"ID": "b", "N": None}]
    assert format_items("{{json .}}", items) == '{"ID":"a","N":1}\n{"ID":"b","N":null}\n'
    assert format_items("{{ json . }}", items[:1]) == '{"ID":"a","N":1}\n'


# ---- format_items: tables (tabwriter minwidth 12, padding 2, last cell unpadded) -------------

def test_table_alignment() -> None:
    out = format_items(r"table {{.ID}}\t{{.Names}}\t{{.Status}}", ITEMS)
    # column 0: widest "3f4a2b1c9d8e" (12) + 2 = 14; column 1: "database-primary" (16) + 2 = 18
    assert out == (
        "ID            NAMES             STATUS\n"
        "3f4a2b1c9d8e  web               Up 2 hours\n"
        "a1            database-primary  Exited (0)\n"
    )


def test_table_minwidth_and_real_tabs() -> None:
    out = format_items("table {{.ID}}\t{{.Name}}", [{"ID": "1", "Name": "a"}])
    assert out == "ID" + " " * 10 + "NAME\n" + "1" + " " * 11 + "a\n"


def test_table_spaces_are_column_breaks_as_podmans() -> None:
    """podman turns every space of a ``table`` template into a tab (inside actions too)."""
    out = format_items('table {{.ID}} {{printf "a b"}}|{{ .Names }}', ITEMS)
    assert out.splitlines()[0] == "ID            a           b|NAMES"
    assert out.splitlines()[1] == "3f4a2b1c9d8e  a           b|web"
    assert format_items('{{.ID}} {{printf "a b"}}', ITEMS[:1]) == "3f4a2b1c9d8e a b\n"


def test_table_header_overrides_and_camel_case() -> None:
    items = [{"ID": "1", "CreatedAt": "now", "ImageID": "sha", "Config": {"Image": "alp"}}]
    out = format_items(
        r"table {{.ID}}\t{{.CreatedAt}}\t{{.ImageID}}\t{{.Config.Image}}", items, {"ID": "CONTAINER ID"}
    )
    assert out == (
        "CONTAINER ID  CREATED AT  IMAGE ID    IMAGE\n"
        "1             now         sha         alp\n"
    )
    out = format_items(r"table {{.Config.Image}}", items, {"Config.Image": "IMG"})
    assert out == "IMG\nalp\n"


def test_table_header_with_functions_and_blocks() -> None:
    items = [{"Name": "web", "Labels": {"a": "b"}, "Ports": [80, 443], "X": 0, "Y": "y"}]
    out = format_items(
        r"table {{upper .Name}}\t{{json .Labels}}\t{{range .Ports}}{{.}},{{end}}\t{{if .X}}{{.Y}}{{end}}", items
    )
    assert out == (
        "NAME        LABELS      PORTS       Y\n"
        'WEB         {"a":"b"}   80,443,     \n'
    )
    assert format_items("table {{.Name}}/({{.Y}})", items) == "NAME/(Y)\nweb/(y)\n"


def test_table_empty_list_prints_header_only() -> None:
    assert format_items(r"table {{.ID}}\t{{.Names}}", []) == "ID          NAMES\n"


def test_table_last_cell_is_not_padded_and_trailing_tab_pads() -> None:
    out = format_items("table {{.A}}\t", [{"A": "x"}])
    assert out == "A" + " " * 11 + "\n" + "x" + " " * 11 + "\n"


def test_table_lines_without_tabs_end_column_blocks() -> None:
    # A line without a cell in a column ends that column's block: the header block (alone)
    # keeps the minimum width while the row's block is sized by its own long cell.
    items = [{"A": "a" * 18, "B": "b", "C": "c"}]
    out = format_items(r"table {{.A}}\t{{.B}}\n{{.C}}", items)
    assert out == "A           B\nC\n" + "a" * 18 + "  b\nc\n"


def test_table_uneven_column_counts() -> None:
    # column 1 exists only on lines 1-2, so its width comes from those lines alone
    text = "table {{.A}}\t{{.B}}\t{{.C}}"
    items = [{"A": "a", "B": "bbbbbbbbbbbbbbbbbbbb", "C": "c"}]
    out = format_items(text, items)
    assert out == "A           B                     C\na           bbbbbbbbbbbbbbbbbbbb  c\n"


def test_go_field_names_reach_camel_case_json_keys():
    data = {"store": {"graphRoot": "/var/lib/capsa"}, "ID": "x"}
    assert render("{{.Store.GraphRoot}} {{.store.graphRoot}} {{.ID}}", data) == "/var/lib/capsa /var/lib/capsa x"
    with pytest.raises(TemplateError):
        render("{{.Id}}", data)
    data = {"host": {"ociRuntime": {"name": "crun"}, "os": "linux"}}  # (Go names that start with an acronym)
    assert render("{{.Host.OCIRuntime.Name}} {{.Host.OS}}", data) == "crun linux"
    with pytest.raises(TemplateError):
        render("{{.Host.Ociruntime}}", data)


def test_since_an_unknown_time_is_unknown_not_the_epoch() -> None:
    from capsa.humanize import since

    assert since("") == since("garbage") == "Unknown"  # an unreadable record's creation time
    assert since("2020-01-01T00:00:00Z").endswith(" ago")
