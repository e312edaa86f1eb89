"""How a pull's progress looks: podman's lines, rich progress bars, or nothing. Each is a
context manager giving a :class:`capsa.engine.pull.PullProgress` (``pull`` and ``run`` use
them; ``run`` passes standard error)."""
from __future__ import annotations

from capsa.engine.pull import PullProgress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

    from capsa.engine.pull import Image


class Silent(PullProgress):
    """``--quiet``: nothing."""

    def __enter__(self) -> Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class LineProgress(Silent):
    """podman's lines when its output is not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._seen: set[str] = set()

    def _say(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def trying(self, reference: str) -> None:
        self._say(f"Trying to pull {reference}...")

    def copying(self) -> None:
        self._say("Getting image source signatures")

    def blob_start(self, digest: str, size: int, skipped: bool = False) -> None:
        if digest not in self._seen:
            self._seen.add(digest)
            self._say(f"Copying blob {digest}")

    def config_done(self, digest: str) -> None:
        self._say(f"Copying config {digest}")

    def writing_manifest(self) -> None:
        self._say("Writing manifest to image destination")

    def finished(self, image: Image) -> None:
        self._say("Storing signatures")


class BarProgress(LineProgress):
    """A rich progress bar per layer blob on a terminal (the bars of podman and docker)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._bars: Any = None
        self._tasks: dict[str, Any] = {}
        self._totals: dict[str, int] = {}

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _start_bars(self) -> Any:
        if self._bars is None:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

            self._bars = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                  TransferSpeedColumn(), console=Console(file=self.stream), transient=False)
            self._bars.start()
        return self._bars

    def _stop(self) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None
            self._tasks.clear()

    def blob_start(self, digest: str, size: int, skipped: bool = False) -> None:
        if digest in self._tasks:
            return
        bars = self._start_bars()
        short = digest.split(":", 1)[-1][:12]
        if skipped:
            self._tasks[digest] = bars.add_task(f"Copying blob {short} skipped: already exists", total=size or 1,
                                                completed=size or 1)
        else:
            self._tasks[digest] = bars.add_task(f"Copying blob {short}", total=size or 1)
        self._totals[digest] = size or 1

    def blob_progress(self, digest: str, count: int) -> None:
        task = self._tasks.get(digest)
        if task is not None:
            self._bars.update(task, advance=count)

    def blob_done(self, digest: str) -> None:
        task = self._tasks.get(digest)
        if task is not None:
            short = digest.split(":", 1)[-1][:12]
            self._bars.update(task, description=f"Copying blob {short} done", completed=self._totals[digest])

    def config_done(self, digest: str) -> None:
        self._stop()
        self._say(f"Copying config {digest.split(':', 1)[-1][:10]} done")
