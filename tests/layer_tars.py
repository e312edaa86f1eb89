"""Building layer tars for the extraction tests: F(ile), D(ir), L(symlink), H(ardlink),
C(har device) and W(hiteout) entries, ``make_tar`` and ``extract``."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

from capsa.store.tarextract import ExtractResult, extract_layer

MTIME = 1_600_000_000
Entry = tuple[tarfile.TarInfo, bytes]


def _info(name: str, kind: bytes, mode: int, **kw) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, kw.pop("mtime", MTIME)
    info.pax_headers = kw.pop("pax", {})
    for key, value in kw.items():
        setattr(info, key, value)
    return info


def F(name: str, data: bytes = b"data", mode: int = 0o644, **kw) -> Entry:
    return _info(name, tarfile.REGTYPE, mode, **kw), data


def D(name: str, mode: int = 0o755, **kw) -> Entry:
    return _info(name, tarfile.DIRTYPE, mode, **kw), b""


def L(name: str, target: str, **kw) -> Entry:
    return _info(name, tarfile.SYMTYPE, 0o777, linkname=target, **kw), b""


def H(name: str, target: str, **kw) -> Entry:
    return _info(name, tarfile.LNKTYPE, 0o644, linkname=target, **kw), b""


def C(name: str, major: int, minor: int, mode: int = 0o666, **kw) -> Entry:
    return _info(name, tarfile.CHRTYPE, mode, devmajor=major, devminor=minor, **kw), b""


def W(name: str) -> Entry:
    """A whiteout: an empty regular file named .wh.*"""
    return F(name, b"")


def make_tar(entries: list[Entry], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in entries:
            if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def extract(data: bytes, dest: Path, whiteouts: str = "overlay", **kw) -> ExtractResult:
    return extract_layer(io.BytesIO(data), dest, whiteouts=whiteouts, **kw)  # type: ignore[arg-type]
