"""sha256 without hashlib: CPython's built-in implementation for small blobs.

``import hashlib`` loads OpenSSL (~2.5 ms), more than a container start should pay to check one
image config. CPython's own sha256 (``_sha2`` from 3.12, ``_sha256`` before) loads in a
fraction of a millisecond; it is slower per byte, so it serves small inputs only.

Contract: :func:`sha256` returns an object with ``update``/``digest``/``hexdigest`` giving
what ``hashlib.sha256`` gives; where no built-in is available it *is* ``hashlib.sha256``.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _builtin() -> Any:
    """CPython's own sha256 constructor, or None (another Python, or a build without it)."""
    for name in ("_sha2", "_sha256"):
        try:
            return __import__(name).sha256
        except (ImportError, AttributeError):
            continue
    return None


_BUILTIN = _builtin()


def sha256(data: bytes = b"") -> Any:
    """A sha256 hash object over ``data``: the built-in one when there is one, else hashlib's."""
    if _BUILTIN is not None:
        return _BUILTIN(data)
    import hashlib

    return hashlib.sha256(data)
