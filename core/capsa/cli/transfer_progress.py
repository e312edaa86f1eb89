"""Rendering a pull's or push's :class:`~capsa.engine.push.TransferEvent` s on standard
error, as podman does: plain lines when standard error is not a terminal, a rich progress bar
per blob when it is, nothing with ``-q``.

Plain lines (one per blob, written when the blob is finished, so parallel transfers never
interleave half lines)::

    Getting image source signatures
    Copying blob sha256:... done
    Copying blob sha256:... skipped: already exists
    Copying config sha256:... done
    Writing manifest to image destination
    Storing signatures
"""
from __future__ import annotations

import sys
import threading

from capsa.engine.push import TransferEvent

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

_TITLES = {"begin": "Getting image source signatures", "manifest": "Writing manifest to image destination",
           "signatures": "Storing signatures"}


def plain_line(event: TransferEvent) -> str | None:
    """The line podman prints for ``event`` when not on a terminal, or None (no line)."""
    if event.kind in _TITLES:
        return _TITLES[event.kind]
    if event.state == "done":
        return f"Copying {event.kind} {event.digest} done"
    if event.state == "skipped":
        return f"Copying {event.kind} {event.digest} skipped: {event.detail or 'already exists'}"
    return None


class TransferRenderer:
    """A thread-safe ``progress`` callable for the engine's pull and push; a context manager
    (the bars stop on exit)."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None, bars: bool | None = None) -> None:
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.bars = (not quiet and self.stream.isatty()) if bars is None else bars
        self._lock = threading.Lock()
        self._rich: Any = None
        self._tasks: dict[tuple[str, str], Any] = {}

    def __enter__(self) -> TransferRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._rich is not None:
                self._rich.stop()
                self._rich = None

    def __call__(self, event: TransferEvent) -> None:
        if self.quiet:
            return
        with self._lock:
            if self.bars:
                self._bar(event)
            else:
                line = plain_line(event)
                if line is not None:
                    self.stream.write(line + "\n")
                    self.stream.flush()

    # -- rich bars ------------------------------------------------------------------------------

    def _progress(self) -> Any:
        if self._rich is None:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

            self._rich = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                  TransferSpeedColumn(), TextColumn("{task.fields[status]}"),
                                  console=Console(file=self.stream), transient=False)
            self._rich.start()
        return self._rich

    def _bar(self, event: TransferEvent) -> None:
        if event.kind in _TITLES:
            if self._rich is not None and event.kind != "begin":
                self._rich.stop()  # the bars are finished: the titles that follow go below them
                self._rich = None
            self.stream.write(_TITLES[event.kind] + "\n")
            self.stream.flush()
            return
        progress = self._progress()
        key = (event.kind, event.digest)
        short = event.digest.split(":", 1)[-1][:12]
        task = self._tasks.get(key)
        if task is None:
            task = progress.add_task(f"Copying {event.kind} {short}", total=event.size if event.size >= 0 else None,
                                     status="")
            self._tasks[key] = task
        if event.state == "progress":
            progress.update(task, completed=event.done)
        elif event.state == "done":
            total = event.size if event.size >= 0 else event.done
            progress.update(task, total=total, completed=total, status="done")
        elif event.state == "skipped":
            total = event.size if event.size > 0 else 1
            progress.update(task, total=total, completed=total, status=f"skipped: {event.detail or 'already exists'}")
