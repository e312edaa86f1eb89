"""Building blocks for the save/load tests: images built for real (``import_tarball``) in
temporary stores on both storage drivers, and tar helpers to inspect and spoil archives."""
from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from capsa.image.archives import save_images
from capsa.image.importing import import_tarball
from capsa.store.images import Image
from capsa.store.store import Store
from capsa.testing.drivers import make_driver

FORMATS = ["oci-dir", "oci-archive", "docker-archive"]
REF_NAME = "org.opencontainers.image.ref.name"


# -- building blocks -------------------------------------------------------------------------

def _tar(entries: list[tuple[str, Any]], prefix: str = "") -> bytes:
    """A tar of (name, content): bytes = file, ("dir",) = directory, ("sym", target),
    ("hard", target), ("exec", bytes) = mode 0755 file."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in entries:
            info = tarfile.TarInfo(prefix + name)
            info.mtime = 1_700_000_000
            data = b""
            if isinstance(content, bytes):
                info.mode, data = 0o644, content
            elif content[0] == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif content[0] == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
            elif content[0] == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, prefix + content[1]
            elif content[0] == "exec":
                info.mode, data = 0o755, content[1]
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def alpha_rootfs() -> bytes:
    return _tar([("bin", ("dir",)), ("bin/tool", ("exec", b"#!/bin/sh\necho tool\n")), ("etc", ("dir",)),
                 ("etc/hello", b"hello, world\n"), ("etc/hello-hard", ("hard", "etc/hello")),
                 ("usr", ("dir",)), ("usr/share", ("dir",)), ("usr/share/doc", ("dir",)),
                 ("usr/share/doc/readme", b"read me\n" * 100), ("link", ("sym", "etc/hello"))])


def beta_rootfs() -> bytes:
    return _tar([("data", ("dir",)), ("data/beta.txt", b"beta\n"), ("data/sub", ("dir",)),
                 ("data/sub/deep.txt", os.urandom(3000))])


def build_images(store: Store) -> tuple[Image, Image]:
    """alpha: a gzip layer with files, a symlink, a hardlink and subdirs; beta: a plain layer
    sharing nothing with it."""
    alpha = import_tarball(store, io.BytesIO(gzip.compress(alpha_rootfs())), ["localhost/alpha:1"],
                           ['CMD ["/bin/tool"]'], "alpha")
    beta = import_tarball(store, io.BytesIO(beta_rootfs()), ["localhost/beta:latest"], [], "beta")
    return alpha, beta


@pytest.fixture(params=["overlay", "vfs"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], Store]]:
    """Makes stores (one per name) on the parametrized driver; unmounts everything afterwards."""
    drivers: list[Any] = []

    def make(name: str) -> Store:
        base = tmp_path / name
        driver = make_driver("storage", request.param, base)
        drivers.append(driver)
        return Store(base / "root", base / "run", driver)

    yield make
    for driver in drivers:
        driver.cleanup()


@pytest.fixture
def src(new_store: Callable[[str], Store]) -> tuple[Store, Image, Image]:
    store = new_store("src")
    return (store, *build_images(store))


def files_of(store: Store, image: Image) -> dict[str, Any]:
    """Every path of the image's mounted root: type, mode, content or link target; hardlinked
    files carry the list of their fellow names."""
    root = Path(store.driver.mount(image.top_layer))
    try:
        out: dict[str, Any] = {}
        inodes: dict[int, list[str]] = {}
        for path in sorted(root.rglob("*")):
            rel, st = str(path.relative_to(root)), path.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode), path.read_bytes())
                inodes.setdefault(st.st_ino, []).append(rel)
        for names in inodes.values():
            for name in names:
                out[name] += (tuple(names),)
        return out
    finally:
        store.driver.unmount(image.top_layer)


def diff_ids(store: Store, image: Image) -> list[str]:
    return [layer.diff_id for layer in store.image_layers(image)]  # type: ignore[misc]


def snapshot(root: Path) -> dict[str, Any]:
    """The store's files: regular files with their sizes, links, directories."""
    out: dict[str, Any] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(dirpath, name)
            st = path.lstat()
            out[str(path.relative_to(root))] = st.st_size if stat.S_ISREG(st.st_mode) else stat.S_IFMT(st.st_mode)
    return out


def saved(store: Store, refs: list[str], fmt: str, tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    dest = tmp_path / ("out-dir" if fmt == "oci-dir" else f"out-{fmt}.tar")
    save_images(store, refs, fmt, dest)  # type: ignore[arg-type]
    return dest


def tar_members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def tar_read(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.extractfile(name).read()  # type: ignore[union-attr]


def rewrite_tar(data: bytes, change: Callable[[str, bytes], bytes | None], extra: dict[str, bytes] | None = None) -> bytes:
    """A copy of a tar with each regular member's content passed through ``change`` (None drops it)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as old, tarfile.open(fileobj=out, mode="w") as new:
        for m in old.getmembers():
            if not m.isreg():
                new.addfile(m)
                continue
            content = change(m.name, old.extractfile(m).read())  # type: ignore[union-attr]
            if content is not None:
                m.size = len(content)
                new.addfile(m, io.BytesIO(content))
        for name, content in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            new.addfile(info, io.BytesIO(content))
    return out.getvalue()
