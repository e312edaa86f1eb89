"""``--detach-keys``: podman's key-sequence syntax, and the matcher that spots it in input.

A spec is comma-separated keys, each a single character or ``ctrl-<value>`` where value is one
of a-z, ``@``, ``[``, ``\\``, ``]``, ``^``, ``_`` (or ``DEL``), as podman's (moby's
``term.ToBytes``): ``ctrl-p,ctrl-q`` is the default, ``""`` disables detaching. Stdlib only:
the exec and attach clients, ``run`` and ``start`` all use it.
"""
from __future__ import annotations

DEFAULT_SPEC = "ctrl-p,ctrl-q"
DEFAULT = b"\x10\x11"
_CTRL = "@abcdefghijklmnopqrstuvwxyz[\\]^_"  # ctrl-@ is 0, ctrl-a 1, ... ctrl-_ 31


class InvalidDetachKeys(ValueError):
    """A spec that does not parse; ``str()`` is podman's message."""


def parse(spec: str | None) -> bytes:
    """The bytes ``spec`` stands for (None: the default, ctrl-p ctrl-q; ``""``: none, detaching
    is off). Raises :class:`InvalidDetachKeys` with podman's words."""
    if spec is None:
        return DEFAULT
    if spec == "":
        return b""
    codes = bytearray()
    for key in spec.split(","):
        if len(key) == 1:
            codes += key.encode("utf-8")[:1] if key.isascii() else _unknown(key)
        elif key.startswith("ctrl-") and len(key) == 6 and key[5] in _CTRL:
            codes.append(_CTRL.index(key[5]))
        elif key == "DEL":
            codes.append(127)
        else:
            _unknown(key)
    return bytes(codes)


def _unknown(key: str) -> bytes:
    raise InvalidDetachKeys(f"invalid detach keys: Unknown character: '{key}'")


class Matcher:
    """Filters an input stream for the detach sequence: :meth:`feed` returns what to pass on
    and whether the sequence was typed. Bytes that may start the sequence are held back until
    the next input shows whether they do (then they are dropped) or not (then they are sent)."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        keys = self.keys
        if not keys:
            return data, False
        if not self.held:
            first = data.find(keys[:1])
            if first < 0:
                return data, False
            out, data = bytearray(data[:first]), data[first:]
        else:
            out = bytearray()
        for i in range(len(data)):
            self.held += data[i:i + 1]
            while self.held and not keys.startswith(self.held):
                out += self.held[:1]
                self.held = self.held[1:]
            if self.held == keys:
                self.held = b""
                return bytes(out), True
        return bytes(out), False

    def flush(self) -> bytes:
        """What is held back (at the end of input: it was not the sequence after all)."""
        held, self.held = self.held, b""
        return held
