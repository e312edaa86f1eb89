"""Progress of an image transfer (pull or push), as events a front end renders: the one
progress model of both (``capsa.cli.transfer_progress`` renders it).

The core reports what happens, never text: a transfer calls its ``progress`` callable (a
:data:`Progress`) with one :class:`TransferEvent` per step, in this order::

    trying                                 (a pull) "Trying to pull REFERENCE...", once per candidate
    begin                                  "Getting image source signatures"
    blob start, progress..., done|skipped  one series per layer blob (several may interleave; a
                                           skipped blob may come without start)
    config start, done|skipped             the config blob
    manifest                               "Writing manifest to image destination"
    signatures                             "Storing signatures"

Contract: ``kind`` is one of :data:`KINDS`; for ``blob`` and ``config`` ``state`` is one of
:data:`STATES` (other kinds leave it empty). ``digest`` is the source blob's digest (as podman
prints it; a push that recompresses a layer still names the stored blob), the same in every
event of one blob; ``size`` the bytes to move, -1 when unknown; ``done`` the bytes moved so
far (``progress``, ``done``). ``detail`` says why a blob was skipped
(``already exists``), or, for ``trying``, the reference. Events of several blobs may come from
several threads at once: the callable must be thread-safe (the CLI's renderer takes a lock).
"""
from __future__ import annotations

from capsa.fastpath.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

KINDS = ("trying", "begin", "blob", "config", "manifest", "signatures")
STATES = ("start", "progress", "done", "skipped")
ALREADY_EXISTS = "already exists"


@record(frozen=True)
class TransferEvent:
    """One step of a transfer (see the module's contract)."""

    kind: str
    state: str = ""
    digest: str = ""
    size: int = -1
    done: int = 0
    detail: str = ""


if TYPE_CHECKING:
    Progress = Callable[[TransferEvent], None]


def no_progress(event: TransferEvent) -> None:
    """A :data:`Progress` that shows nothing (``-q``, or a caller with no front end)."""


class Meter:
    """Report the bytes of one blob as they move, at most every ``step`` bytes (and at the end)
    so that a fast transfer does not drown the renderer in events."""

    __slots__ = ("progress", "kind", "digest", "size", "done", "_next", "_step")

    def __init__(self, progress: Progress, kind: str, digest: str, size: int, step: int = 1 << 20) -> None:
        self.progress, self.kind, self.digest, self.size = progress, kind, digest, size
        self.done = 0
        self._step = step
        self._next = step

    def add(self, count: int) -> None:
        self.done += count
        if self.done >= self._next:
            self._next = self.done + self._step
            self.progress(TransferEvent(self.kind, "progress", self.digest, self.size, self.done))
