"""The storage driver contract (after containers/storage's ProtoDriver and DiffDriver).

A layer is a directory tree identified by ``layer_id``; it may have a parent whose contents it
extends. Image layers are read-only once applied; a container's layer is ``writable``.
"""
from __future__ import annotations

import os
from abc import abstractmethod

from capsa.drivers.base import Driver
from capsa.errors import StorageError
from capsa.fastpath.names import is_safe_name
from capsa.fastpath.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager
    from pathlib import Path
    from typing import BinaryIO, Literal



def check_layer_id(layer_id: str) -> str:
    """Return ``layer_id`` if it is a safe directory name (``[A-Za-z0-9][A-Za-z0-9_.-]{0,127}``),
    else raise StorageError."""
    if not is_safe_name(layer_id, 128):
        raise StorageError(f"invalid layer id {layer_id!r}", hint="layer ids are letters, digits, '.', '_' and '-'")
    return layer_id


@record(frozen=True)
class Change:
    """One path that differs between a layer and its parent."""

    path: str
    kind: Literal["added", "modified", "deleted"]


class StorageDriver(Driver):
    kind = "storage"

    @abstractmethod
    def create(self, layer_id: str, parent: str | None, writable: bool = False) -> None:
        """Create an empty layer on top of ``parent`` (None: a base layer).

        Raises StorageError if ``layer_id`` exists or ``parent`` does not. On error nothing is left.
        """

    @abstractmethod
    def remove(self, layer_id: str) -> None:
        """Delete the layer and its data, and what an interrupted create or remove of it left.
        Removing a missing layer is not an error; a mounted one is (StorageError).

        Lock order, for drivers that keep mount counts: the store lock (held by the caller)
        before the driver's own mount-count lock; ``mount`` never takes the store lock."""

    @abstractmethod
    def mount(self, layer_id: str, volatile: bool = False) -> str | os.PathLike[str]:
        """Return a path (a string or a path object) where the layer's full filesystem (parents
        included) is visible.

        Reference counted: each call must be paired with one :meth:`unmount`. ``volatile``: the
        writes need not survive a crash (a ``run --rm`` container's layer), so the driver may
        skip syncing them, as overlay's ``volatile`` option does; the first mount decides.
        Raises StorageError.
        """

    @abstractmethod
    def unmount(self, layer_id: str, force: bool = False) -> bool:
        """Drop one reference (``force``: every reference, for a layer whose container is being
        removed); return True when this call really unmounted. Unmounting an unmounted layer
        returns False."""

    @abstractmethod
    def exists(self, layer_id: str) -> bool:
        """Whether the layer exists. Never raises for a well-formed id."""

    def check_new_layer(self, layer_id: str, parent: str | None, target: str | os.PathLike[str]) -> None:
        """``create``'s preconditions, for drivers to call: nothing is at the new layer's path
        ``target`` and ``parent`` (if any) exists; else StorageError."""
        if os.path.exists(target):
            raise StorageError(f"layer {layer_id} already exists", hint="remove it first or use another id")
        if parent is not None and not self.exists(parent):
            raise StorageError(f"parent layer {parent} does not exist", hint="create the parent layer first")

    @abstractmethod
    def list_layers(self) -> list[str]:
        """Ids of every layer this driver holds, in no particular order."""

    @abstractmethod
    def metadata(self, layer_id: str) -> dict[str, str]:
        """Driver-specific facts about one layer (paths, mount state) for ``inspect``."""

    @abstractmethod
    def cleanup(self) -> None:
        """Unmount everything this driver mounted; called when the store shuts down. Idempotent."""

    # Diff group: layer contents as tar streams. The defaults here are the naive ones (after
    # containers/storage's NaiveDiffDriver): mount the layer and its parent and compare the
    # two trees. A driver that knows a layer's own changes (overlay) overrides them.

    def _mounted(self, layer_id: str, parent: str | None) -> AbstractContextManager[tuple[Path, Path | None]]:
        """The layer and its parent mounted (as pathlib paths) for the duration of a ``with`` block."""
        from contextlib import contextmanager
        from pathlib import Path

        @contextmanager
        def mounted() -> Iterator[tuple[Path, Path | None]]:
            layer_path = Path(self.mount(layer_id))
            try:
                parent_path = Path(self.mount(parent)) if parent else None
                try:
                    yield layer_path, parent_path
                finally:
                    if parent:
                        self.unmount(parent)
            finally:
                self.unmount(layer_id)

        return mounted()

    def changes(self, layer_id: str, parent: str | None) -> list[Change]:
        """The paths added, modified or deleted between ``parent`` and ``layer_id``."""
        from capsa.store.changes import tree_changes

        with self._mounted(layer_id, parent) as (layer_path, parent_path):
            return tree_changes(layer_path, parent_path)

    def diff(self, layer_id: str, parent: str | None) -> BinaryIO:
        """An uncompressed tar stream of the changes from ``parent`` to ``layer_id`` (OCI
        whiteouts for deletions), positioned at its start. The caller closes it."""
        from capsa.store.changes import tree_changes
        from capsa.store.tarwrite import write_layer_tar

        def write(out: BinaryIO) -> None:
            with self._mounted(layer_id, parent) as (layer_path, parent_path):
                write_layer_tar(out, layer_path, tree_changes(layer_path, parent_path))

        return self._spool(write)

    def diff_size(self, layer_id: str, parent: str | None) -> int:
        """The size in bytes of what :meth:`diff` would produce, without producing it."""
        from capsa.store.changes import tree_changes
        from capsa.store.tarwrite import tar_size

        with self._mounted(layer_id, parent) as (layer_path, parent_path):
            return tar_size(layer_path, tree_changes(layer_path, parent_path))

    @abstractmethod
    def apply_diff(self, layer_id: str, parent: str | None, stream: BinaryIO) -> int:
        """Extract a tar stream into ``layer_id``; return the bytes of file content it wrote.

        Every path stays inside the layer. A mounted layer is refused (StorageError). On error
        the layer is left as it was before the call.
        """

    def _spool(self, write: Callable[[BinaryIO], object]) -> BinaryIO:
        """An unnamed temporary file under the driver's runroot, filled by ``write`` and
        rewound; closed again if ``write`` fails."""
        spool = os.path.join(self.context.run_home_dir, "spool")
        os.makedirs(spool, exist_ok=True)
        import tempfile

        out = tempfile.TemporaryFile(dir=spool)
        try:
            write(out)  # type: ignore[arg-type]
        except BaseException:
            out.close()
            raise
        out.seek(0)
        return out  # type: ignore[return-value]
