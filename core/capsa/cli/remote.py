"""The flags the registry commands share (``--tls-verify``, ``--cert-dir``, ``--authfile``,
``--creds``), as the engine's ``RemoteOptions``: ``pull``, ``push`` and ``login``/``logout``
build them here, so ``--creds USERNAME`` (no password) means the same everywhere: the password
is asked on the terminal, as podman does, and refused in one line without one."""
from __future__ import annotations

import sys

from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from capsa.engine.registries import RemoteOptions


def remote_options(tls_verify: bool | None = None, cert_dir: str | None = None, authfile: str | None = None,
                   creds: str | None = None) -> RemoteOptions:
    """The engine's RemoteOptions from the flags (``creds`` completed by :func:`complete_creds`)."""
    from capsa.engine.registries import RemoteOptions

    return RemoteOptions(tls_verify=tls_verify, cert_dir=cert_dir, authfile=authfile, creds=complete_creds(creds))


def check_authfile(authfile: str | None, prefix: str = "") -> None:
    """podman's check of a given ``--authfile`` (pull, push, logout): it must exist (``login``
    creates it, so it does not check). ``prefix``: podman's words before the path's error."""
    import os

    if authfile and not os.path.exists(authfile):
        raise UsageError(f"{prefix}stat {authfile}: no such file or directory",
                         hint="give an existing auth file, or log in first with capsa login --authfile")


def complete_creds(creds: str | None, stdin: TextIO | None = None) -> str | None:
    """``--creds USERNAME`` without a password: ask for it on the terminal, as podman does;
    UsageError when standard input is not a terminal. ``USERNAME:PASSWORD`` (and None) as given."""
    if creds is None or ":" in creds or not creds:
        return creds
    if not (stdin or sys.stdin).isatty():
        raise UsageError(f"--creds {creds}: no password given, and no terminal to ask for it",
                         hint="give --creds USERNAME:PASSWORD, or log in first with capsa login")
    import getpass

    try:
        return f"{creds}:{getpass.getpass('Password: ')}"
    except EOFError:
        raise UsageError(f"--creds {creds}: no password given", hint="give --creds USERNAME:PASSWORD") from None
