"""Compiled seccomp filters, cached: libseccomp compiles a profile once, later containers install
the stored BPF program with prctl(PR_SET_SECCOMP) and never call into libseccomp.

The key is the SHA-256 of: the profile's canonical JSON, the capabilities among those its
includes/excludes name (the only ones that change the rules), the machine and kernel release
(arches, minKernel, the kernel's seccomp features), libseccomp's version, and the filter code
(:data:`seccomp.FILTER_CODE` plus seccomp.py's own bytes).

A cache file ``<dir>/seccomp-<key>.bpf`` holds the raw ``struct sock_filter[]`` libseccomp
exports, followed by the SHA-256 of those bytes. It is written atomically (a temporary file,
then rename); a file that is empty, not whole instructions, longer than the kernel accepts or
whose digest does not match is a miss: the profile is compiled again and the file replaced.
The driver keeps these files directly in its run_home (volatile, like the runroot), at most
:data:`MAX_ENTRIES` of them.
"""
from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterable
from functools import lru_cache

from capsa.errors import IsolationError
from capsa.security.caps import canonical

from . import seccomp
from .namespaces import libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FORMAT = 1  # bump when the file layout or the key's material changes
PREFIX, SUFFIX = "seccomp-", ".bpf"
MAX_ENTRIES = 64
BPF_MAXINSNS = 4096  # the kernel's limit on a classic BPF program
_INSN = 8  # sizeof(struct sock_filter)
_DIGEST = 32
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


def _sha256(data: bytes) -> Any:
    from capsa.fastpath.digest import sha256  # the builtin: hashlib would also load OpenSSL (~2 ms)

    return sha256(data)


@lru_cache(maxsize=1)
def _code_digest() -> str:
    """seccomp.py's and the core resolver's bytes: any edit of the code that builds filters
    invalidates the cache."""
    from capsa.security import seccomp as resolver

    try:
        data = b""
        for path in (seccomp.__file__, resolver.__file__):
            with open(path, "rb") as fh:
                data += fh.read()
        return _sha256(data).hexdigest()
    except (OSError, TypeError):
        return "unknown"


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Program:
    """A compiled filter ready to load: its bytes and the ``struct sock_fprog`` pointing at them,
    built by the parent so the child only makes one prctl call. ``cached``: read from the cache."""

    def __init__(self, bpf: bytes, cached: bool) -> None:
        if not valid_program(bpf):
            raise IsolationError(f"the seccomp filter has {len(bpf)} bytes, not 1 to {BPF_MAXINSNS} instructions",
                                 "shorten the seccomp profile")
        self.bpf = bpf
        self.cached = cached
        self._buf = ctypes.create_string_buffer(bpf, len(bpf))
        self._fprog = _SockFprog(len(bpf) // _INSN, ctypes.addressof(self._buf))
        self._prctl = libc().prctl  # resolved now: load() may run where no file is reachable

    def load(self) -> int:
        """prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) (as seccomp(2) with no flags, which is
        what libseccomp's seccomp_load does for capsa); 0 or the errno. Needs no file access."""
        ul = ctypes.c_ulong
        if self._prctl(ctypes.c_int(PR_SET_SECCOMP), ul(SECCOMP_MODE_FILTER), ul(ctypes.addressof(self._fprog)),
                        ul(0), ul(0)) == 0:
            return 0
        return ctypes.get_errno() or 1


def valid_program(bpf: bytes) -> bool:
    return 0 < len(bpf) <= BPF_MAXINSNS * _INSN and len(bpf) % _INSN == 0


def _canon_caps(names: Iterable[str]) -> set[str]:
    return {canonical(c) for c in names}


def cache_key(profile: dict[str, Any], caps: Iterable[str] | None) -> str:
    """The cache key (hex SHA-256) of ``profile`` compiled for ``caps`` on this host."""
    named: set[str] = set()
    for call in profile.get("syscalls") or []:
        for cond in (call.get("includes") or {}, call.get("excludes") or {}):
            named |= _canon_caps(cond.get("caps") or [])
    uname = os.uname()
    material = {"format": FORMAT, "code": [seccomp.FILTER_CODE, _code_digest()], "profile": profile,
                "caps": sorted(_canon_caps(caps or ()) & named), "machine": uname.machine,
                "kernel": uname.release, "libseccomp": seccomp.libseccomp_version()}
    from capsa.fastpath.jsonio import dumps

    text = dumps(material, sort_keys=True)
    return _sha256(text.encode()).hexdigest()


def path_for(directory: str, key: str) -> str:
    return os.path.join(directory, f"{PREFIX}{key}{SUFFIX}")


def read(path: str) -> bytes | None:
    """The program stored at ``path``, or None when it is missing or fails validation."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(BPF_MAXINSNS * _INSN + _DIGEST + 1)
    except OSError:
        return None
    bpf, digest = data[:-_DIGEST], data[-_DIGEST:]
    if len(data) <= _DIGEST or not valid_program(bpf) or _sha256(bpf).digest() != digest:
        return None
    return bpf


def write(path: str, bpf: bytes) -> None:
    """Store ``bpf`` at ``path`` atomically, then trim the directory to MAX_ENTRIES files.
    Best effort: a cache that cannot be written only costs the next container a compile."""
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            view = memoryview(bpf + _sha256(bpf).digest())
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return
    _trim(directory)


def _trim(directory: str) -> None:
    try:
        entries = [e for e in os.scandir(directory)
                   if e.name.startswith(PREFIX) and e.name.endswith(SUFFIX) and e.is_file(follow_symlinks=False)]
        if len(entries) <= MAX_ENTRIES:
            return
        entries.sort(key=lambda e: e.stat(follow_symlinks=False).st_mtime_ns)
        for entry in entries[:len(entries) - MAX_ENTRIES]:
            os.unlink(entry.path)
    except OSError:
        pass


def program(profile: dict[str, Any], caps: Iterable[str] | None, directory: str | None) -> Program:
    """``profile``'s filter for ``caps``: from ``directory``'s cache when a valid file is there,
    else compiled with libseccomp (then stored there). ``directory`` None: no cache.
    Raises IsolationError when libseccomp cannot build the filter."""
    caps = list(caps) if caps is not None else None
    path = path_for(directory, cache_key(profile, caps)) if directory else None
    if path is not None:
        bpf = read(path)
        if bpf is not None:
            return Program(bpf, cached=True)
    bpf = seccomp.export_bpf(profile, caps)
    prog = Program(bpf, cached=False)
    if path is not None:
        write(path, bpf)
    return prog


def install(prog: Program | None, profile: dict[str, Any], caps: Iterable[str] | None) -> None:
    """Load ``prog`` into the calling process; without one (or if the kernel refuses a cached
    one as invalid), compile and load ``profile`` with libseccomp as seccomp.install does.
    Errors are seccomp.install's: IsolationError "cannot load the seccomp filter: ..."."""
    if prog is not None:
        err = prog.load()
        if err == 0:
            return
        if not (prog.cached and err == errno.EINVAL):  # refused as invalid: libseccomp builds it afresh
            seccomp._check(-err, "load the seccomp filter")
    seccomp.install(profile, caps)
