"""Hostile sizes and a full disk: special tar headers claiming gigabytes, the store's filesystem
filling up while loading or importing, image configs capsa could not show, and xz/bzip2 input.

Memory is measured in a subprocess (its peak RSS, ``VmHWM``); a full disk is a small tmpfs mounted in a
private mount namespace (``unshare -m``, as root).
"""
from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from archive_helpers import _tar, snapshot
from capsa.errors import ArchiveError
from capsa.image import mediatypes as mt
from capsa.image.archives import load_images
from capsa.image.importing import import_tarball
from capsa.store.store import Store
from capsa.store.tarextract import extract_layer
from capsa.testing.drivers import make_driver

GIB2 = 2 << 30
SPECIAL = {"pax": tarfile.XHDTYPE, "pax-global": tarfile.XGLTYPE, "gnu-longname": tarfile.GNUTYPE_LONGNAME,
           "gnu-longlink": tarfile.GNUTYPE_LONGLINK}


def special_header(kind: bytes, size: int) -> bytes:
    """One ustar header block of type ``kind`` claiming ``size`` bytes of data."""
    info = tarfile.TarInfo("././@LongLink" if kind in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
                           else "././@PaxHeader")
    info.type, info.size = kind, size
    return info.tobuf(tarfile.USTAR_FORMAT)


class _Zeros(io.RawIOBase):
    """``head``, then ``total`` zero bytes made on demand; ``count`` is what was read."""

    def __init__(self, head: bytes, total: int) -> None:
        super().__init__()
        self.data, self.left, self.count = head, total, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        n = min(len(buf), len(self.data) + self.left)
        take = self.data[:n]
        buf[:n] = take + bytes(n - len(take))
        self.data, self.left = self.data[len(take):], self.left - (n - len(take))
        self.count += n
        return n


# The peak RSS of this process since its exec (getrusage's ru_maxrss would also count the
# parent's peak: the kernel carries it over a vfork and exec).
_PEAK_RSS = """
def peak_rss_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) >> 10 for line in status if line.startswith("VmHWM:"))
"""


def _run(script: str, *args: str, unshare: bool = False) -> dict[str, Any]:
    argv = [sys.executable, "-c", _PEAK_RSS + script, *args]
    if unshare:
        argv = ["unshare", "-m", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- special headers claiming gigabytes ------------------------------------------------------

@pytest.mark.parametrize("kind", list(SPECIAL))
def test_huge_special_layer_header_is_refused_before_it_is_read(tmp_path: Path, kind: str) -> None:
    stream = _Zeros(special_header(SPECIAL[kind], GIB2), 64 << 20)
    with pytest.raises(ArchiveError) as err:
        extract_layer(stream, tmp_path, whiteouts="overlay", same_owner=False)  # type: ignore[arg-type]
    assert "1 MiB" in err.value.message and "\n" not in err.value.message and err.value.hint
    assert stream.count < 8 << 20  # the reader thread's few buffers, not the claimed size


def test_special_header_of_one_mib_is_still_read(tmp_path: Path) -> None:
    info = tarfile.TarInfo("f")
    info.pax_headers = {"comment": "x" * ((1 << 20) - 100)}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(b""))
    assert extract_layer(io.BytesIO(out.getvalue()), tmp_path, whiteouts="overlay", same_owner=False).entries == 1


_LAYER_BOMB = """
import json, sys
from capsa.errors import ArchiveError
from capsa.store.tarextract import extract_layer
try:
    with open(sys.argv[1], "rb") as fh:
        extract_layer(fh, sys.argv[2], whiteouts="overlay")
    error = ""
except ArchiveError as exc:
    error = exc.message
print(json.dumps({"error": error, "rss_mib": peak_rss_mib()}))
"""


def test_zstd_layer_with_a_2gib_pax_header_keeps_memory_small(tmp_path: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    bomb = tmp_path / "bomb.tar.zst"
    with open(bomb, "wb") as fh, zstandard.ZstdCompressor().stream_writer(fh) as out:
        out.write(special_header(tarfile.XHDTYPE, GIB2))
        for _ in range(256):
            out.write(bytes(1 << 20))
    assert bomb.stat().st_size < 100_000
    (tmp_path / "layer").mkdir()
    found = _run(_LAYER_BOMB, str(bomb), str(tmp_path / "layer"))
    assert found["rss_mib"] < 160, found
    assert "pax extended header of 2147483648 bytes" in found["error"]


_ARCHIVE_BOMB = """
import json, sys
from pathlib import Path
from capsa.errors import ArchiveError
from capsa.image.archives import load_images
from capsa.store.store import Store
from capsa.testing.drivers import make_driver
base = Path(sys.argv[2])
try:
    load_images(Store(base / "root", base / "run", make_driver("storage", "vfs", base)), sys.argv[1])
    error = ""
except ArchiveError as exc:
    error = exc.message
print(json.dumps({"error": error, "rss_mib": peak_rss_mib()}))
"""


@pytest.mark.parametrize("kind", ["pax", "gnu-longname"])
def test_archive_with_a_2gib_special_header_keeps_memory_small(tmp_path: Path, kind: str) -> None:
    bomb = tmp_path / "bomb.tar"
    with open(bomb, "wb") as fh:
        fh.write(special_header(SPECIAL[kind], GIB2))
        fh.truncate(300 << 20)  # sparse: what a careless reader would pull into memory
    found = _run(_ARCHIVE_BOMB, str(bomb), str(tmp_path / "store"))
    assert found["rss_mib"] < 160, found
    assert found["error"].startswith(f"{bomb}: the archive has a ") and "1 MiB" in found["error"]


# -- a full disk -----------------------------------------------------------------------------

_FULL_DISK = """
import io, json, os, subprocess, sys
from pathlib import Path
mnt, case, source = sys.argv[1:4]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", mnt], check=True)
from capsa.image.archives import load_images
from capsa.image.importing import import_tarball
from capsa.store.store import Store
from capsa.testing.drivers import make_driver
sys.path.insert(0, sys.argv[4])
from archive_helpers import _tar, snapshot
base = Path(mnt)
store = Store(base / "root", base / "run", make_driver("storage", "vfs", base))
import_tarball(store, io.BytesIO(_tar([("gamma", b"already here\\n")])), ["localhost/gamma:latest"], [], "")
before = snapshot(store.root)
try:
    if case.startswith("import"):
        with open(source, "rb") as fh:
            import_tarball(store, fh, ["localhost/big:1"], [], "")
    else:
        load_images(store, source)
    error = None
except Exception as exc:
    error = {"type": type(exc).__name__, "message": str(exc), "hint": getattr(exc, "hint", "")}
with store.reading():
    names = [image.names for image in store.images.all()]
print(json.dumps({"error": error, "same": snapshot(store.root) == before, "names": names}))
"""


def docker_archive(plain_layers: list[bytes], config: dict[str, Any] | None = None,
                   pack: Callable[[bytes], bytes] = lambda data: data) -> bytes:
    """A docker archive of one image named x:1 (``config`` entries replace the defaults;
    ``pack`` compresses each layer blob)."""
    diffs = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in plain_layers]
    doc = {"architecture": "amd64", "os": "linux", "created": "2024-05-01T12:00:00Z", "config": {"Cmd": ["/bin/sh"]},
           "rootfs": {"type": "layers", "diff_ids": diffs}, "history": [{"created_by": "test"}], **(config or {})}
    paths = [f"layer{n}.tar" for n in range(len(plain_layers))]
    manifest = [{"Config": "config.json", "RepoTags": ["x:1"], "Layers": paths}]
    return _tar([*((p, pack(layer)) for p, layer in zip(paths, plain_layers)),
                 ("config.json", json.dumps(doc).encode()), ("manifest.json", json.dumps(manifest).encode())])


FULL: dict[str, tuple[Callable[[], bytes], str]] = {
    "storing": (lambda: docker_archive([_tar([("big", os.urandom(8 << 20))])]), "storing layer0.tar in the store"),
    "extracting": (lambda: docker_archive([_tar([("big", bytes(8 << 20))])], pack=gzip.compress), "extracting 'big'"),
    "spooling": (lambda: gzip.compress(docker_archive([_tar([("big", bytes(8 << 20))])])), "spooling "),
    "import-storing": (lambda: _tar([("big", os.urandom(8 << 20))]), "storing the tarball in the store"),
    "import-extracting": (lambda: gzip.compress(_tar([("big", bytes(8 << 20))])), "extracting 'big'"),
}


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare to mount a tmpfs")
@pytest.mark.parametrize("case", list(FULL))
def test_a_full_disk_is_a_one_line_storage_error_and_the_store_is_untouched(tmp_path: Path, case: str) -> None:
    build, doing = FULL[case]
    source = tmp_path / "input"
    source.write_bytes(build())
    (tmp_path / "mnt").mkdir()
    found = _run(_FULL_DISK, str(tmp_path / "mnt"), case, str(source), str(Path(__file__).parent), unshare=True)
    assert found["error"] and found["error"]["type"] == "StorageError", found  # not ArchiveError: the input is fine
    assert found["error"]["message"].startswith(f"no space left on device while {doing}"), found
    assert "\n" not in found["error"]["message"] and found["error"]["hint"] == "free space under the store root"
    assert found["same"] and found["names"] == [["localhost/gamma:latest"]]


# -- image configs ---------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    driver = make_driver("storage", "vfs", tmp_path)
    yield Store(tmp_path / "root", tmp_path / "run", driver)
    driver.cleanup()


LAYER = _tar([("etc", ("dir",)), ("etc/motd", b"hello\n")])
BAD_CONFIGS: dict[str, dict[str, Any]] = {
    "created-yesterday": {"created": "yesterday"},
    "created-number": {"created": 1700000000},
    "created-null": {"created": None},
    "created-no-zone": {"created": "2024-05-01T12:00:00"},
    "created-month-13": {"created": "2024-13-01T12:00:00Z"},
    "created-beyond-9999": {"created": "9999-12-31T23:59:59-23:59"},
    "config-string": {"config": "Cmd"},
    "config-null": {"config": None},
    "history-object": {"history": {"created_by": "x"}},
    "history-entry-string": {"history": ["ADD"]},
    "history-created-bad": {"history": [{"created": "last week"}]},
    "history-created-by-list": {"history": [{"created_by": ["/bin/sh"]}]},
    "diff-ids-string": {"rootfs": {"type": "layers", "diff_ids": "sha256:" + "a" * 64}},
    "diff-ids-md5": {"rootfs": {"type": "layers", "diff_ids": ["md5:" + "a" * 32]}},
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_configs_capsa_could_not_show_are_refused(store: Store, tmp_path: Path, case: str) -> None:
    import_tarball(store, io.BytesIO(_tar([("gamma", b"x")])), ["localhost/gamma:latest"], [], "")
    before = snapshot(store.root)
    (tmp_path / "in.tar").write_bytes(docker_archive([LAYER], BAD_CONFIGS[case]))
    with pytest.raises(ArchiveError) as err:
        load_images(store, tmp_path / "in.tar")
    assert "\n" not in err.value.message and err.value.hint == "the image is corrupt"
    assert snapshot(store.root) == before


def test_configs_with_every_valid_time_form_load_and_show(store: Store, tmp_path: Path) -> None:
    from capsa.image.views import history_rows, inspect_doc, list_json, list_rows

    config = {"created": "2024-05-01T12:00:00+02:00", "history": [
        {"created": "0001-01-01T00:00:00Z", "created_by": "a", "comment": "", "author": "me", "empty_layer": True},
        {"created": "2024-05-01T10:00:00.123456789-01:30", "created_by": "b"}, {}]}
    (tmp_path / "in.tar").write_bytes(docker_archive([LAYER], config))
    (image,) = load_images(store, tmp_path / "in.tar")
    with store.reading():
        assert list_rows(image)[0]["CreatedAt"] == "2024-05-01 10:00:00 +0000 UTC"
        assert list_json(image, store.config_of(image))["Created"] == 1714557600
        assert [row["CreatedBy"] for row in history_rows(store, image)] == ["", "b", "a"]
        assert inspect_doc(store, image)["Created"] == config["created"]


# -- xz and bzip2 ----------------------------------------------------------------------------

@pytest.mark.parametrize("pack", [lzma.compress, bz2.compress], ids=["xz", "bzip2"])
def test_xz_and_bzip2_tarballs_import_and_load_stored_uncompressed(store: Store, tmp_path: Path,
                                                                   pack: Callable[[bytes], bytes]) -> None:
    diff_id = "sha256:" + hashlib.sha256(LAYER).hexdigest()
    imported = import_tarball(store, io.BytesIO(pack(LAYER)), ["localhost/imported:1"], [], "")
    (tmp_path / "in.tar").write_bytes(docker_archive([LAYER, _tar([("etc/more", b"more\n")])], pack=pack))
    (loaded,) = load_images(store, tmp_path / "in.tar")
    with store.reading():
        for image in (imported, loaded):
            layer = store.image_layers(image)[0]
            assert layer.diff_id == diff_id and layer.blob == diff_id and layer.blob_media_type == mt.OCI_LAYER
        root = Path(store.driver.mount(loaded.top_layer))
        try:
            assert (root / "etc/motd").read_bytes() == b"hello\n" and (root / "etc/more").read_bytes() == b"more\n"
        finally:
            store.driver.unmount(loaded.top_layer)


@pytest.mark.parametrize("pack", [lzma.compress, bz2.compress], ids=["xz", "bzip2"])
def test_corrupt_xz_and_bzip2_tarballs_are_refused(store: Store, pack: Callable[[bytes], bytes]) -> None:
    import_tarball(store, io.BytesIO(_tar([("gamma", b"x")])), ["localhost/gamma:latest"], [], "")
    before = snapshot(store.root)
    packed = pack(_tar([("f", os.urandom(100_000))]))
    with pytest.raises(ArchiveError) as err:
        import_tarball(store, io.BytesIO(packed[:len(packed) // 2]), ["localhost/bad:1"], [], "")
    assert err.value.message.startswith("the archive is not a valid tarball, or it is truncated or corrupt (") and "\n" not in err.value.message
    assert snapshot(store.root) == before
