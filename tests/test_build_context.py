"""Build contexts: the Containerfile and ignore file podman picks, a context from a tar on stdin
(hostile ones included), COPY source globs and the cache checksum."""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
from pathlib import Path

import pytest

from capsa.build.context import BuildContext, find_containerfile, open_context, tree_checksum
from capsa.errors import BuildError


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _file(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def _dir(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info, None


# -- the Containerfile -------------------------------------------------------------------------

def test_containerfile_is_preferred_over_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM docker\n")
    assert find_containerfile(str(tmp_path), []) == [(str(tmp_path / "Dockerfile"), "FROM docker\n")]
    (tmp_path / "Containerfile").write_text("FROM containerfile\n")
    assert find_containerfile(str(tmp_path), []) == [(str(tmp_path / "Containerfile"), "FROM containerfile\n")]


def test_lower_case_names_are_not_found_as_podman(tmp_path: Path) -> None:
    (tmp_path / "containerfile").write_text("FROM a\n")
    (tmp_path / "dockerfile").write_text("FROM a\n")
    with pytest.raises(BuildError) as err:
        find_containerfile(str(tmp_path), [])
    assert str(err.value) == f"stat {tmp_path}/Dockerfile: no such file or directory"
    assert err.value.exit_code == 125 and err.value.hint


def test_f_is_relative_to_the_current_directory_then_the_context(tmp_path: Path, monkeypatch) -> None:
    ctx, cwd = tmp_path / "ctx", tmp_path / "cwd"
    ctx.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    (ctx / "Build.file").write_text("FROM in-context\n")
    assert find_containerfile(str(ctx), ["Build.file"]) == [(str(ctx / "Build.file"), "FROM in-context\n")]
    (cwd / "Build.file").write_text("FROM in-cwd\n")
    assert find_containerfile(str(ctx), ["Build.file"]) == [(str(cwd / "Build.file"), "FROM in-cwd\n")]
    with pytest.raises(BuildError, match="no such file or directory"):
        find_containerfile(str(ctx), ["nope"])
    (ctx / "sub").mkdir()
    with pytest.raises(BuildError, match='containerfile: "sub" cannot be path to a directory'):
        find_containerfile(str(ctx), ["sub"])


def test_several_f_in_order_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "one").write_text("FROM a\n")
    (tmp_path / "two").write_text("RUN b\n")
    found = find_containerfile(str(tmp_path), [str(tmp_path / "one"), "-", str(tmp_path / "two")],
                               io.BytesIO(b"RUN from-stdin\n"))
    assert [text for _, text in found] == ["FROM a\n", "RUN from-stdin\n", "RUN b\n"]
    assert found[1][0] == "-"


# -- the ignore file ---------------------------------------------------------------------------

def _ignored_names(ctx: BuildContext, names: list[str]) -> list[str]:
    return [n for n in names if ctx.ignore.matches(n)]


def test_ignore_file_choice_follows_podman(tmp_path: Path) -> None:
    names = ["a", "b", "c", "d"]
    for name in names:
        (tmp_path / name).write_text(name)
    (tmp_path / "Containerfile").write_text("FROM x\n")
    ctx = open_context(str(tmp_path))
    assert ctx.ignore_file is None and _ignored_names(ctx, names) == []
    (tmp_path / ".dockerignore").write_text("a\n")
    ctx.containerfiles([])
    assert _ignored_names(ctx, names) == ["a"]
    (tmp_path / ".containerignore").write_text("b\n")  # .containerignore wins over .dockerignore
    ctx.containerfiles([])
    assert _ignored_names(ctx, names) == ["b"] and ctx.ignore_file == str(tmp_path / ".containerignore")
    (tmp_path / "Containerfile.containerignore").write_text("c\n")  # next to the Containerfile: first
    ctx.containerfiles([])
    assert _ignored_names(ctx, names) == ["c"]
    (tmp_path / "Containerfile.dockerignore").write_text("d\n")  # both there: podman 4.3 takes this one
    ctx.containerfiles([])
    assert _ignored_names(ctx, names) == ["d"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "CF").write_text("FROM x\n")
    (other / "CF.containerignore").write_text("a\nb\n")
    ctx.containerfiles([str(other / "CF")])
    assert _ignored_names(ctx, names) == ["a", "b"]


def test_containerfile_and_ignore_file_are_read_even_when_excluded(tmp_path: Path) -> None:
    (tmp_path / "Containerfile").write_text("FROM x\n")
    (tmp_path / ".dockerignore").write_text("Containerfile\n.dockerignore\n")
    ctx = open_context(str(tmp_path))
    assert ctx.containerfiles([]) == [(str(tmp_path / "Containerfile"), "FROM x\n")]
    assert ctx.ignore.matches("Containerfile")  # (read, but COPY leaves it out: docker and podman alike)
    with pytest.raises(BuildError, match=r"no items matching glob .*\(1 filtered out using .*\.dockerignore\)"):
        ctx.sources(["Containerfile"])


# -- opening a context -------------------------------------------------------------------------

def test_missing_or_file_context_is_an_error(tmp_path: Path) -> None:
    for path in (tmp_path / "missing", tmp_path / "file"):
        if path.name == "file":
            path.write_text("x")
        with pytest.raises(BuildError) as err:
            open_context(str(path))
        assert str(err.value) == f'context must be a directory: "{path}"'
        assert err.value.exit_code == 125 and err.value.hint


@pytest.mark.parametrize("compress", [None, gzip.compress, bz2.compress, lzma.compress])
def test_context_from_a_tar_on_stdin(compress) -> None:
    data = _tar([_dir("src"), _file("src/main.c", b"int main;\n"), _file("Containerfile", b"FROM x\nCOPY src /src\n"),
                 _file(".dockerignore", b"src/*.o\n"), _file("src/main.o", b"\x7fELF"), _link("src/l", "main.c")])
    ctx = open_context("-", io.BytesIO(compress(data) if compress else data))
    try:
        root = Path(ctx.root)
        assert ctx.temporary and (root / "src" / "main.c").read_bytes() == b"int main;\n"
        assert os.readlink(root / "src" / "l") == "main.c"
        assert ctx.containerfiles([]) == [(str(root / "Containerfile"), "FROM x\nCOPY src /src\n")]
        assert ctx.sources(["src/*"]) == ["src/l", "src/main.c"]
    finally:
        ctx.close()
    assert not root.exists() and not root.parent.exists()


def test_a_containerfile_on_stdin_is_an_empty_context() -> None:
    ctx = open_context("-", io.BytesIO(b"FROM busybox\nRUN true\n"))
    try:
        assert os.listdir(ctx.root) == []
        assert [text for _, text in ctx.containerfiles([])] == ["FROM busybox\nRUN true\n"]
    finally:
        ctx.close()


@pytest.mark.parametrize("members", [
    [_file("../escape", b"x")],
    [_file("a/../../escape", b"x")],
    [_file("f", b"x"), _link("h", "../escape", tarfile.LNKTYPE)],
])
def test_hostile_stdin_tar_is_refused_and_cleaned_up(tmp_path: Path, members, monkeypatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(BuildError, match="the build context on stdin is not a usable tar archive"):
        open_context("-", io.BytesIO(_tar(members)))
    assert os.listdir(tmp_path) == []  # (the temporary context is gone, nothing escaped)


def test_stdin_tar_symlinks_never_lead_out(tmp_path: Path) -> None:
    canary = tmp_path / "host"
    canary.mkdir()
    data = _tar([_link("out", str(canary)), _file("out/planted", b"pwned"), _link("rel", "../../../../" + str(canary)),
                 _file("rel/planted2", b"pwned")])
    ctx = open_context("-", io.BytesIO(data))
    try:
        assert os.listdir(canary) == []
        # what the links named was made inside the context, as if it were "/"
        assert (Path(ctx.root) / str(canary).lstrip("/") / "planted").read_bytes() == b"pwned"
    finally:
        ctx.close()


def test_stdin_tar_containerfile_and_ignore_file_links_never_read_host_files(tmp_path: Path) -> None:
    canary = tmp_path / "host"
    canary.mkdir()
    (canary / "Containerfile").write_text("FROM host-secret\n")
    (canary / "ignore").write_text("host-secret-pattern\n")
    data = _tar([_link("Containerfile", str(canary / "Containerfile")), _link(".dockerignore", str(canary / "ignore")),
                 _link("rel.containerfile", "../../../../../../" + str(canary / "Containerfile"))])
    ctx = open_context("-", io.BytesIO(data))
    try:
        assert ctx.ignore_file is None or "host-secret-pattern" not in [p.text for p in ctx.ignore.patterns]
        with pytest.raises(BuildError) as err:  # (the links name the context's own files, which are not there)
            ctx.containerfiles([])
        assert "host-secret" not in str(err.value)
        with pytest.raises(BuildError):
            ctx.containerfiles([str(Path(ctx.root) / "rel.containerfile")])
        # what the links name inside the context is what is read
        inside = Path(ctx.root) / str(canary).lstrip("/")
        inside.mkdir(parents=True)
        (inside / "Containerfile").write_text("FROM inside\n")
        (inside / "ignore").write_text("inside-pattern\n")
        assert [text for _, text in ctx.containerfiles([])] == ["FROM inside\n"]
        assert [p.text for p in ctx.ignore.patterns] == ["inside-pattern"]
    finally:
        ctx.close()


@pytest.mark.parametrize("name", ["Containerfile", ".dockerignore"])
def test_special_files_as_containerfile_or_ignore_file_are_errors_not_hangs(tmp_path: Path, name: str) -> None:
    import signal

    (tmp_path / "Dockerfile").write_text("FROM x\n")
    os.mkfifo(tmp_path / name)  # (opening a fifo for reading blocks until a writer comes)

    def hung(*_: object) -> None:
        raise TimeoutError(f"reading the fifo {name} hung")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(5)
    try:
        with pytest.raises(BuildError, match="not a regular file"):
            ctx = open_context(str(tmp_path))
            ctx.containerfiles([str(tmp_path / name)] if name == "Containerfile" else [])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# -- sources -----------------------------------------------------------------------------------

@pytest.fixture
def tree(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    for rel, text in {"a.txt": "a", "b.txt": "b", "c.md": "c", "dir/x.txt": "x", "dir/sub/y.txt": "y",
                      "secret/key": "k", "secret/public.pem": "p", "[lit]": "l", "build/out": "o"}.items():
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        (ctx / rel).write_text(text)
    (ctx / ".dockerignore").write_text("secret\n!secret/*.pem\n*.md\n/build\n")
    return ctx


def test_sources_globs_and_ignored_paths(tree: Path) -> None:
    ctx = open_context(str(tree))
    assert ctx.sources(["*.txt"]) == ["a.txt", "b.txt"]
    assert ctx.sources(["*/*.txt"]) == ["dir/x.txt"]
    assert ctx.sources(["d?r/sub/*"]) == ["dir/sub/y.txt"]
    assert ctx.sources(["[ab].txt", "dir"]) == ["a.txt", "b.txt", "dir"]
    assert ctx.sources(["\\[lit]"]) == ["[lit]"]
    assert ctx.sources(["*"]) == [".dockerignore", "[lit]", "a.txt", "b.txt", "dir", "secret"]
    assert ctx.sources(["secret/*"]) == ["secret/public.pem"]
    assert ctx.sources(["/a.txt", "./b.txt", "../../a.txt"]) == ["a.txt", "b.txt", "a.txt"]  # never above the root
    assert ctx.sources(["."]) == [""]
    # "**" in a COPY source is two "*" of Go's filepath.Match (buildah's Glob; podman 4.3 copies
    # "xaby" for "x**y"), never crossing a "/"
    assert ctx.sources(["a**t", "d*r/s**b/y**t", "**/*.txt"]) == ["a.txt", "dir/sub/y.txt", "dir/x.txt"]


@pytest.mark.parametrize(("pattern", "message"), [
    ("nothere", 'checking on sources under "{root}": copier: stat: "/nothere": no such file or directory'),
    ("*.nomatch", 'checking on sources under "{root}": copier: stat: ["/*.nomatch"]: no such file or directory'),
    ("c.md", 'no items matching glob "{root}/c.md" copied (1 filtered out using {root}/.dockerignore): '
             "no such file or directory"),
    ("secret/k*", 'no items matching glob "{root}/secret/k*" copied (1 filtered out using {root}/.dockerignore): '
                  "no such file or directory"),
])
def test_sources_matching_nothing_are_errors_in_buildahs_words(tree: Path, pattern: str, message: str) -> None:
    ctx = open_context(str(tree))
    with pytest.raises(BuildError) as err:
        ctx.sources([pattern])
    assert str(err.value) == message.format(root=tree)
    assert err.value.hint


def test_sources_resolve_symlinks_inside_the_context(tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "shadow").write_text("host secret")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "escape").symlink_to(host)
    with pytest.raises(BuildError, match="no such file or directory"):
        open_context(str(ctx)).sources(["escape/shadow"])  # (the context's own tmp/.../host/shadow: none)
    with pytest.raises(BuildError, match="no such file or directory"):
        open_context(str(ctx)).sources(["escape/*"])


# -- the checksum ------------------------------------------------------------------------------

def test_checksum_changes_exactly_when_a_copied_file_changes(tree: Path) -> None:
    def checksum() -> str:
        ctx = open_context(str(tree))
        return ctx.checksum(ctx.sources(["dir", "secret", "a.txt"]))

    first = checksum()
    assert checksum() == first
    os.utime(tree / "dir" / "x.txt", (1, 1))  # a touch: docker's cache still hits
    assert checksum() == first
    (tree / "secret" / "key").write_text("ignored, so it changes nothing")
    (tree / "b.txt").write_text("not copied")
    (tree / "c.md").write_text("ignored")
    assert checksum() == first
    changes = [lambda: (tree / "dir" / "sub" / "y.txt").write_text("Y"),
               lambda: os.chmod(tree / "a.txt", 0o600),
               lambda: (tree / "secret" / "public.pem").write_text("P"),
               lambda: (tree / "dir" / "new").write_text(""),
               lambda: (tree / "dir" / "link").symlink_to("x.txt"),
               lambda: ((tree / "dir" / "link").unlink(), (tree / "dir" / "link").symlink_to("sub")),
               lambda: (tree / "dir" / "sub" / "y.txt").rename(tree / "dir" / "sub" / "z.txt")]
    seen = {first}
    for change in changes:
        change()
        now = checksum()
        assert now not in seen
        seen.add(now)


def test_checksum_hashes_each_file_once_and_owners_on_request(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(os.urandom(4096))
    cache: dict = {}
    first = tree_checksum(str(tmp_path), ["f"], cache=cache)
    assert len(cache) == 1 and tree_checksum(str(tmp_path), ["f"], cache=cache) == first
    owned = tree_checksum(str(tmp_path), ["f"], owners=True)
    os.chown(tmp_path / "f", 1234, 1234)
    assert tree_checksum(str(tmp_path), ["f"]) == first
    assert tree_checksum(str(tmp_path), ["f"], owners=True) != owned


def test_find_sources_globs_in_another_stages_root(tmp_path: Path) -> None:
    from capsa.build.context import find_sources

    for rel in ("usr/lib/a.so", "usr/lib/b.so", "usr/lib/c.a"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    (tmp_path / "lib").symlink_to("/usr/lib")  # resolved inside this root
    assert find_sources(str(tmp_path), ["/lib/*.so"]) == ["lib/a.so", "lib/b.so"]
    with pytest.raises(BuildError, match=r'copier: stat: \["/usr/\*.dll"\]'):
        find_sources(str(tmp_path), ["/usr/*.dll"])
