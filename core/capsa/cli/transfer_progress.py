"""Rendering a pull's or push's progress (the engine's
:class:`~capsa.registry.progress.TransferEvent` s) on standard error, as podman 4.3 does: plain
lines when the stream is not a terminal, a rich progress bar per blob when it is, nothing with
``-q``. The one renderer of both commands (and of the pull ``run``/``create`` make).

Plain lines, one per blob when it is first reported (a skipped blob too, as podman: no "done",
no "skipped" on a non-terminal), each written whole under a lock::

    Trying to pull REGISTRY/NAME:TAG...      (pull only)
    Getting image source signatures
    Copying blob sha256:<64 hex>
    Copying config sha256:<64 hex>
    Writing manifest to image destination
    Storing signatures

On a terminal the blobs get bars titled ``Copying blob <12 hex>`` / ``Copying config <10 hex>``
that end in ``done`` or ``skipped: already exists``; the titles are plain lines.
"""
from __future__ import annotations

import sys
import threading

from capsa.engine.pull import TransferEvent

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

_TITLES = {"begin": "Getting image source signatures", "manifest": "Writing manifest to image destination",
           "signatures": "Storing signatures"}
_SHORT = {"blob": 12, "config": 10}  # hex digits of a digest on a bar, as podman's


def _title(event: TransferEvent) -> str | None:
    if event.kind == "trying":
        return f"Trying to pull {event.detail}..."
    return _TITLES.get(event.kind)


class TransferRenderer:
    """A thread-safe ``progress`` callable for the engine's pull and push; a context manager
    (the bars stop on exit). ``bars``: None decides by whether ``stream`` is a terminal."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None, bars: bool | None = None) -> None:
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.bars = (not quiet and self.stream.isatty()) if bars is None else bars
        self._lock = threading.Lock()
        self._rich: Any = None
        self._tasks: dict[tuple[str, str], Any] = {}
        self._seen: set[tuple[str, str]] = set()

    def __enter__(self) -> TransferRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._stop()

    def __call__(self, event: TransferEvent) -> None:
        if self.quiet:
            return
        with self._lock:
            title = _title(event)
            if title is not None:
                if event.kind != "begin":
                    self._stop()  # the bars are finished: what follows goes below them
                self._write(title)
            elif self.bars:
                self._bar(event)
            elif (event.kind, event.digest) not in self._seen:
                self._seen.add((event.kind, event.digest))
                self._write(f"Copying {event.kind} {event.digest}")

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    # -- rich bars ------------------------------------------------------------------------------

    def _stop(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None
            self._tasks.clear()

    def _progress(self) -> Any:
        if self._rich is None:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

            self._rich = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                  TransferSpeedColumn(), console=Console(file=self.stream), transient=False)
            self._rich.start()
        return self._rich

    def _bar(self, event: TransferEvent) -> None:
        progress = self._progress()
        key = (event.kind, event.digest)
        short = event.digest.split(":", 1)[-1][:_SHORT.get(event.kind, 12)]
        task = self._tasks.get(key)
        title = f"Copying {event.kind} {short}"
        if task is None:
            task = progress.add_task(title, total=event.size if event.size >= 0 else None)
            self._tasks[key] = task
        if event.state == "progress":
            progress.update(task, completed=event.done)
        elif event.state == "done":
            total = event.size if event.size >= 0 else event.done
            progress.update(task, total=total, completed=total, description=f"{title} done")
        elif event.state == "skipped":
            total = event.size if event.size > 0 else 1
            progress.update(task, total=total, completed=total,
                            description=f"{title} skipped: {event.detail or 'already exists'}")
