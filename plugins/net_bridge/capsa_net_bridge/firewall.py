"""The bridge driver's firewall: one nftables table of capsa's own per bridge.

Table ``ip capsa_<bridge>`` holds three base chains: ``postrouting`` (NAT) masquerades traffic
from the network's subnet that leaves it (not for ``internal`` networks), ``forward``
accepts what comes from the bridge and the replies to it (an ``internal`` network's traffic
leaving the bridge is dropped; other tables, such as a host firewall with a drop policy, still
have their say), and ``guard`` drops packets from the bridge addressed to 127.0.0.0/8 before
routing: published ports turn ``route_localnet`` on for the bridge, which must not let a
container (one with NET_RAW) reach the host's loopback-only services (CVE-2020-8558). The whole table is written in one ``nft``
transaction (created or replaced: idempotent) and removed with it; nothing outside it is
touched. Scripts run through libnftables in-process (:func:`_nft`; the ``nft`` program
where the library is missing).
"""
from __future__ import annotations

import os

from capsa.errors import NetworkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def table_name(bridge: str) -> str:
    """The table of ``bridge`` (nft names: letters, digits and underscores). One table per
    bridge name: letters and digits stay, ``_`` doubles, any other character becomes ``_`` and
    its two hex digits (``a-b`` and ``a_b`` are different bridges)."""
    return "capsa_" + "".join(c if c.isascii() and c.isalnum() else "__" if c == "_" else f"_{ord(c):02x}"
                              for c in bridge)


_LIB: Any = None  # libnftables once loaded; False where it is missing
_CTX: Any = None  # ((pid, network namespace inode), context): the context and where it was made


def _library() -> Any:
    """libnftables, the library ``nft`` itself is made of, with the prototypes used here
    (loaded once per process); None where it is missing."""
    global _LIB
    if _LIB is None:
        import ctypes

        try:
            lib = ctypes.CDLL("libnftables.so.1", use_errno=True)
        except OSError:
            _LIB = False
            return None
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error", "nft_ctx_free"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        for name in ("nft_ctx_get_error_buffer", "nft_ctx_get_output_buffer"):
            getattr(lib, name).restype = ctypes.c_char_p
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        _LIB = lib
    return _LIB or None


def _libnftables() -> Any:
    """(libnftables, a context with output and errors buffered) for this process in its
    network namespace of now: a script runs in-process in about 2 ms, where an ``nft`` process
    takes 15-20. A context's netlink socket belongs to the namespace it was made in, and its
    process: a forked child, or another namespace, gets a context of its own (the socket is made
    close-on-exec, which libmnl does not do). None where the library is missing or netfilter's
    netlink cannot be opened (nft_ctx_new would exit the process then): ``nft`` is used."""
    global _CTX
    import socket

    lib = _library()
    if lib is None:
        return None
    where = (os.getpid(), os.stat("/proc/thread-self/ns/net").st_ino)
    if _CTX is not None and _CTX[0] == where:
        return lib, _CTX[1]
    try:
        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 12).close()  # NETLINK_NETFILTER
    except OSError:
        return None
    before = set(os.listdir("/proc/self/fd"))
    ctx = lib.nft_ctx_new(0)
    if not ctx:
        return None
    for fd in set(os.listdir("/proc/self/fd")) - before:
        try:
            os.set_inheritable(int(fd), False)
        except OSError:
            pass
    if lib.nft_ctx_buffer_output(ctx) != 0 or lib.nft_ctx_buffer_error(ctx) != 0:
        lib.nft_ctx_free(ctx)
        return None
    if _CTX is not None and _CTX[0][0] == where[0]:  # this process's, made in another namespace
        lib.nft_ctx_free(_CTX[1])
    _CTX = (where, ctx)  # (another process's, inherited over fork, is left alone: not ours to free)
    return lib, ctx


def _nft(script: str, *, check: bool = True) -> tuple[int, str]:
    """Run an nft script (one transaction); returns (status, errors). With ``check``, a
    failure is a NetworkError naming nft's first error line."""
    loaded = _libnftables()
    if loaded:
        lib, ctx = loaded
        code = lib.nft_run_cmd_from_buffer(ctx, script.encode())
        lib.nft_ctx_get_output_buffer(ctx)  # (read: the buffers start afresh for the next script)
        errors = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode(errors="replace")
    else:
        code, errors = _nft_process(script, check)
    if check and code != 0:
        line = (errors.strip().splitlines() or ["failed"])[0]
        raise NetworkError(f"nft: {line}", hint="capsa needs CAP_NET_ADMIN and nf_tables in the kernel")
    return code, errors


def _nft_process(script: str, check: bool) -> tuple[int, str]:
    import shutil
    import subprocess

    nft = shutil.which("nft") or ("/usr/sbin/nft" if os.path.exists("/usr/sbin/nft") else "")
    if not nft:
        if not check:
            return 1, "nft not found"
        raise NetworkError("the bridge network driver needs nftables (libnftables or the nft program)",
                           hint="install the nftables package")
    proc = subprocess.run([nft, "-f", "-"], input=script, capture_output=True, text=True)
    return proc.returncode, proc.stderr


def write_table(table: str, chains: str) -> None:
    """Create or replace table ``ip <table>`` with ``chains`` (its body), in one transaction:
    idempotent, and never a moment without the old or the new rules."""
    _nft(f"add table ip {table}\ndelete table ip {table}\ntable ip {table} {{\n{chains}}}\n")


def drop_table(table: str) -> None:
    """Remove table ``ip <table>`` (idempotent: one that is not there is made and removed)."""
    _nft(f"add table ip {table}\ndelete table ip {table}\n", check=False)


def ensure(bridge: str, subnet: str, internal: bool) -> None:
    """Create (or rewrite) the table of ``bridge`` for ``subnet``."""
    nat = "" if internal else f"ip saddr {subnet} ip daddr != {subnet} masquerade"
    # an internal network's containers reach each other only, nothing beyond the bridge
    isolate = f'iifname "{bridge}" oifname != "{bridge}" drop' if internal else ""
    write_table(table_name(bridge), f"""  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    {nat}
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    {isolate}
    iifname "{bridge}" accept
    oifname "{bridge}" ct state established,related accept
  }}
  chain guard {{
    type filter hook prerouting priority raw; policy accept;
    iifname "{bridge}" ip daddr 127.0.0.0/8 drop
  }}
""")


def remove(bridge: str) -> None:
    """Remove the table of ``bridge`` (idempotent)."""
    drop_table(table_name(bridge))


def present(bridge: str) -> bool:
    """Whether the table of ``bridge`` exists."""
    return table_present(table_name(bridge))


def table_present(table: str) -> bool:
    """Whether nftables table ``ip <table>`` exists."""
    return _nft(f"list table ip {table}\n", check=False)[0] == 0


def enable_forwarding() -> None:
    """net.ipv4.ip_forward = 1 (the host's namespace; podman and docker do the same)."""
    path = "/proc/sys/net/ipv4/ip_forward"
    try:
        with open(path) as f:
            if f.read().strip() == "1":
                return
        with open(path, "w") as f:
            f.write("1\n")
    except OSError as exc:
        raise NetworkError(f"cannot enable IPv4 forwarding: {exc.strerror}", hint="capsa needs root") from None
