"""``capsa import`` from a URL (a local http.server on 127.0.0.1, no other traffic) and of
archives that are no tarballs: podman accepts ``podman import URL``; a corrupt file's hint must
point at the file, not at a registry."""
from __future__ import annotations

import gzip
import http.server
import json
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from conftest import Capsa, make_rootfs_tar, tree_snapshot


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, directory it serves) of an HTTP server on 127.0.0.1."""
    folder = tmp_path / "www"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def diff_ids(capsa: Capsa, name: str) -> list[str]:
    r = capsa("image", "inspect", "--format", "{{json .RootFS.Layers}}", name)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_import_from_an_http_url_streams_the_tarball(capsa: Capsa, served: tuple[str, Path], tmp_path: Path) -> None:
    base, folder = served
    tar = make_rootfs_tar(tmp_path / "rootfs.tar", {"etc/motd": "hello\n"}, busybox=False)
    (folder / "rootfs.tar.gz").write_bytes(gzip.compress(tar.read_bytes()))
    r = capsa("import", "-q", "-c", 'CMD ["/bin/sh"]', f"{base}/rootfs.tar.gz", "fromurl")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() and r.stderr == ""
    assert capsa("import", "-q", str(tar), "fromfile").returncode == 0
    assert diff_ids(capsa, "fromurl") == diff_ids(capsa, "fromfile")
    names = capsa("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert "localhost/fromurl:latest" in names


def test_import_of_a_url_that_fails_changes_nothing(capsa: Capsa, served: tuple[str, Path]) -> None:
    base, folder = served
    (folder / "garbage.tar").write_bytes(b"this is no tarball\n" * 100)
    capsa("images")  # the store exists
    before = tree_snapshot(capsa.root)
    r = capsa("import", f"{base}/missing.tar", "x")
    assert r.returncode == 125
    assert r.stderr.startswith(f"Error: cannot download {base}/missing.tar: HTTP 404"), r.stderr
    assert "no such file" not in r.stderr
    r = capsa("import", f"{base}/garbage.tar", "x")
    assert r.returncode == 125
    lines = r.stderr.splitlines()
    assert lines[0].startswith("Error: the archive is not a valid tarball, or it is truncated or corrupt ("), r.stderr
    assert "check the file" in lines[1] and "pull" not in r.stderr
    with __import__("socket").socket() as sock:  # a port nobody listens on (bound, never listening)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        r = capsa("import", f"http://127.0.0.1:{port}/x.tar")
    assert r.returncode == 125 and r.stderr.startswith(f"Error: cannot download http://127.0.0.1:{port}/x.tar: ")
    assert len([line for line in r.stderr.splitlines() if line.startswith("Error:")]) == 1
    assert tree_snapshot(capsa.root) == before


def test_import_of_a_corrupt_file_says_so_and_points_at_the_file(capsa: Capsa, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"this is no tarball\n" * 1000)
    truncated = tmp_path / "cut.tar.gz"
    tar = make_rootfs_tar(tmp_path / "rootfs.tar", {"etc/motd": __import__("os").urandom(5000).hex()}, busybox=False)
    truncated.write_bytes(gzip.compress(tar.read_bytes())[:300])
    for path in (bad, truncated):
        r = capsa("import", str(path), "x")
        assert r.returncode == 125, r.stderr
        error, hint = r.stderr.splitlines()
        assert error.startswith("Error: the archive is not a valid tarball, or it is truncated or corrupt ("), error
        assert hint.startswith("check the file given to import") and "pull" not in hint
    r = capsa("import", str(tmp_path / "absent.tar"))
    assert r.returncode == 125 and r.stderr.startswith(f"Error: {tmp_path / 'absent.tar'}: no such file")
