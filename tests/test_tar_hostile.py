"""Layer extraction (capsa.store.tarextract) against hostile and broken archives: a table of
archives that try to write outside the layer, and one of archives that must fail with a
one-line ArchiveError; no fd or thread may leak. Runs as root (devices, trusted.* xattrs)."""
from __future__ import annotations

import gzip
import os
import tarfile
import threading
from pathlib import Path

import pytest

from capsa.errors import ArchiveError
from hostile_archives import HOSTILE, snapshot
from layer_tars import D, F, H, L, _info, extract, make_tar

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (devices, ownership, trusted.* xattrs)")


# --- hostile archives (the table: hostile_archives.py) ----------------------------------------

def test_the_hostile_table_is_big_enough() -> None:
    assert len(HOSTILE) >= 20


@pytest.mark.parametrize("mode", ["overlay", "apply"])
@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_archive_stays_inside(tmp_path: Path, case: str, mode: str) -> None:
    spec = HOSTILE[case]
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "dir/inner").write_bytes(b"inner")
    victim = outside / "victim"
    victim.write_bytes(b"precious")
    os.utime(victim, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    dest = tmp_path / "store" / "layer"
    dest.mkdir(parents=True)
    built = spec.build(outside)
    data = built if isinstance(built, bytes) else make_tar(built, spec.fmt)
    before = snapshot(tmp_path, (dest,))
    listing = sorted(os.listdir(outside))
    try:
        extract(data, dest, whiteouts=mode)
    except ArchiveError as err:
        assert spec.lands is None, f"{case}: unexpected {err}"
        assert "\n" not in str(err) and err.exit_code == 125
    else:
        assert spec.lands is not None, f"{case}: extraction should have been refused"
        spec.lands(dest, outside, mode)
    assert victim.read_bytes() == b"precious"
    assert os.lstat(victim).st_mtime_ns == 1_000_000_000_000_000_000
    assert sorted(os.listdir(outside)) == listing
    assert snapshot(tmp_path, (dest,)) == before


# --- errors ----------------------------------------------------------------------------------

def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1:]


TWO = make_tar([F("a", b"x" * 600), F("b", b"y")], tarfile.USTAR_FORMAT)
BAD: dict[str, bytes] = {
    "empty": b"",
    "garbage": b"this is not a tar archive " * 100,
    "truncated-in-data": TWO[:700],
    "truncated-in-header": TWO[:1536 + 100],
    "corrupt-second-header": _flip(TWO, 1536 + 148),
    "truncated-gzip": gzip.compress(TWO)[:-20],
    "corrupt-gzip": _flip(gzip.compress(TWO + os.urandom(4000)), 200),
    "sparse": make_tar([(_info("s", tarfile.GNUTYPE_SPARSE, 0o644), b"")], tarfile.GNU_FORMAT),
    "unknown-type": make_tar([(_info("v", b"Q", 0o644), b"")]),
    "hardlink-missing": make_tar([H("h", "nowhere")]),
    "empty-symlink": make_tar([L("s", "")]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_archives_are_one_line_archive_errors(tmp_path: Path, case: str) -> None:
    dest = tmp_path / "layer"
    dest.mkdir()
    with pytest.raises(ArchiveError) as err:
        extract(BAD[case], dest)
    message = str(err.value)
    assert err.value.exit_code == 125 and message and "\n" not in message
    if case in ("empty", "truncated-in-data", "truncated-in-header", "corrupt-second-header", "truncated-gzip"):
        assert message.startswith("layer archive is truncated or corrupt: ")


def test_missing_dest_is_a_storage_error(tmp_path: Path) -> None:
    from capsa.errors import StorageError
    with pytest.raises(StorageError):
        extract(make_tar([F("a")]), tmp_path / "nope")


def test_no_fd_or_thread_leaks(tmp_path: Path) -> None:
    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))
    archives = [make_tar([D(f"d{i}/e") for i in range(300)] + [F(f"d{i}/e/f") for i in range(300)]),
                *BAD.values()]
    for spec in HOSTILE.values():
        built = spec.build(tmp_path / "outside")
        archives.append(built if isinstance(built, bytes) else make_tar(built, spec.fmt))
    extract(archives[0], tmp_path)  # warm up whatever the interpreter opens once
    start, threads = fds(), threading.active_count()
    for i, data in enumerate(archives * 2):
        dest = tmp_path / f"run{i}"
        dest.mkdir()
        try:
            extract(data, dest, whiteouts="overlay" if i % 2 else "apply")
        except ArchiveError:
            pass
    assert fds() == start
    assert threading.active_count() == threads
