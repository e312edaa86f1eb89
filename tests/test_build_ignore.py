"""`.containerignore` / `.dockerignore` semantics: the tables of moby/patternmatcher's own tests
(MatchesOrParentMatches) and of Go's filepath.Match, and docker's dockerignore reader."""
from __future__ import annotations

import pytest

from capsa.build.ignore import IgnoreMatcher, clean, read_patterns
from capsa.errors import BuildError

# (pattern, path, excluded): moby/patternmatcher TestMatches, evaluated as the build walker does
# (a pattern matching the path or one of its parents excludes it)
SINGLE = [
    ("**", "file", True), ("**", "file/", True), ("**/", "file", True), ("**/", "file/", True), ("**", "/", True),
    ("**/", "/", True), ("**", "dir/file", True), ("**/", "dir/file", True), ("**", "dir/file/", True),
    ("**/", "dir/file/", True), ("**/**", "dir/file", True), ("**/**", "dir/file/", True),
    ("dir/**", "dir/file", True), ("dir/**", "dir/file/", True), ("dir/**", "dir/dir2/file", True),
    ("dir/**", "dir/dir2/file/", True), ("**/dir", "dir", True), ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True), ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True), ("**/dir2/**", "dir/dir2/dir3/file/", True),
    ("**file", "file", True), ("**file", "dir/file", True), ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True), ("**/file", "dir/dir/file", True), ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True), ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True), ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True), ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True), ("**/**/*.txt", "file.txt", True), ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True), ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False), ("a/*.txt", "a/file.txt", True), ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False), ("a[b-d]e", "ace", True), ("a[b-d]e", "aae", False), ("a[^b-d]e", "aze", True),
    (".*", ".foo", True), (".*", "foo", False), ("abc.def", "abcdef", False), ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False), ("abc?def", "abcZdef", True), ("abc?def", "abcdef", False),
    ("**/foo/bar", "foo/bar", True), ("**/foo/bar", "dir/foo/bar", True), ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False), ("abc/**", "abc/def", True), ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True), ("**/.foo", "bar.foo", False), ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False), ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\\\", "a\\", True), ("a\\*b", "a*b", True),
    # Go's filepath.Match table (moby's TestMatch)
    ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True), ("a*", "a", True), ("a*", "abc", True),
    ("a*", "ab/c", True), ("a*/b", "abc/b", True), ("a*/b", "a/c/b", False), ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True), ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False), ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False), ("ab[c]", "abc", True), ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False), ("ab[^c]", "abc", False), ("ab[^b-d]", "abc", False), ("ab[^e-g]", "abc", True),
    ("a\\*b", "ab", False), ("a?b", "a☺b", True), ("a[^a]b", "a☺b", True), ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False), ("[a-ζ]*", "α", True), ("*[a-ζ]", "A", False), ("a?b", "a/b", False),
    ("a*b", "a/b", False), ("[\\]a]", "]", True), ("[\\-]", "-", True), ("[x\\-]", "x", True), ("[x\\-]", "-", True),
    ("[x\\-]", "z", False), ("[\\-x]", "x", True), ("[\\-x]", "-", True), ("[\\-x]", "a", False), ("*x", "xxx", True),
    # directory patterns exclude everything below them; a leading "/" or "./" is the context root
    ("docs", "docs/README.md", True), ("docs/", "docs/a/b", True), ("/docs", "docs/a", True),
    ("./docs", "docs/a", True), ("docs", "src/docs", False), ("*/docs", "src/docs/x", True),
]

MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/other.md", True),
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    (["!fileutils.go", "*.go"], "fileutils.go", True),  # the last match wins
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-public.md", False),
    (["*.go"], ".", False),
]

BAD = ["[", "[^", "[^bc", "a[", "\\", "[]a]", "[-]", "[x-]", "[-x]", "[a-b-c]", "!"]


@pytest.mark.parametrize(("pattern", "path", "excluded"), SINGLE)
def test_single_pattern_table(pattern: str, path: str, excluded: bool) -> None:
    assert IgnoreMatcher([pattern]).matches(path) is excluded


@pytest.mark.parametrize(("patterns", "path", "excluded"), MULTI)
def test_negation_last_match_wins(patterns: list[str], path: str, excluded: bool) -> None:
    assert IgnoreMatcher(patterns).matches(path) is excluded


@pytest.mark.parametrize("pattern", BAD)
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(BuildError):
        IgnoreMatcher([pattern])


def test_no_patterns_exclude_nothing() -> None:
    matcher = IgnoreMatcher([])
    assert not matcher and not matcher.matches("any/path/there")


@pytest.mark.parametrize(("path", "cleaned"), [
    ("", "."), (".", "."), ("./a", "a"), ("a/", "a"), ("a//b", "a/b"), ("a/./b/../c", "a/c"), ("../a", "../a"),
    ("/..", "/"), ("/a/../../b", "/b"), ("a/b/../../..", ".."),
])
def test_clean_is_go_filepath_clean(path: str, cleaned: str) -> None:
    assert clean(path) == cleaned


def test_reader_comments_spaces_bom_and_leading_slashes() -> None:
    text = ("\ufeff# a comment\n"
            "  # not a comment: trimmed to one\n"
            "\n"
            "/abs/path   \n"
            "./rel/./path/\n"
            "!  /kept  \n"
            "a # b\n"
            "\t*.tmp\t\n"
            "/\n")
    assert read_patterns(text) == ["# not a comment: trimmed to one", "abs/path", "rel/path", "!kept", "a # b",
                                   "*.tmp", "/"]


def test_reader_patterns_match_as_docker_reads_them() -> None:
    matcher = IgnoreMatcher(read_patterns("/build\n*.log\n!important.log\n"))
    assert matcher.matches("build/out.o")
    assert matcher.matches("debug.log")
    assert not matcher.matches("important.log")
    assert not matcher.matches("src/build")  # a leading "/" anchors at the context root


@pytest.mark.parametrize(("patterns", "directory", "may"), [
    (["docs"], "docs", False),  # no negation: prune
    (["docs", "!docs/README.md"], "docs", True),
    (["docs", "!other/x"], "docs", False),
    (["**/node_modules", "!**/node_modules/keep"], "a/b/node_modules", True),
    (["a", "!a"], "a/b", True),  # re-included via its parent
    (["a/*", "!a/b*/x"], "a/bc", True),
    (["a/*", "!a/b*/x"], "a/cd", False),
])
def test_pruning_only_without_a_possible_reinclusion(patterns: list[str], directory: str, may: bool) -> None:
    matcher = IgnoreMatcher(patterns)
    assert matcher.may_include_below(directory) is may


def test_pruning_never_loses_a_reincluded_file(tmp_path) -> None:
    """Whatever ``may_include_below`` prunes holds nothing the matcher keeps (checked on a tree)."""
    import itertools

    names = ["a", "b", "keep", "x.txt"]
    paths = ["/".join(p) for n in (1, 2, 3) for p in itertools.product(names, repeat=n)]
    for patterns in (["a", "!a/keep"], ["**/b", "!**/keep"], ["*", "!*/x.txt"], ["a/*", "!a/b*/keep"], ["b", "!a"]):
        matcher = IgnoreMatcher(patterns)
        for directory in paths:
            if matcher.matches(directory) and not matcher.may_include_below(directory):
                below = [p for p in paths if p.startswith(directory + "/")]
                assert all(matcher.matches(p) for p in below), (patterns, directory)
