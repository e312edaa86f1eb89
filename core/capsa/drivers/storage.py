"""The storage driver contract (after containers/storage's ProtoDriver and DiffDriver).

A layer is a directory tree identified by ``layer_id``; it may have a parent whose contents it
extends. Image layers are read-only once applied; a container's layer is ``writable``.
"""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from capsa.drivers.base import Driver


@dataclass(frozen=True)
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
        """Delete the layer and its data. Removing a missing layer is not an error; a mounted one is."""

    @abstractmethod
    def mount(self, layer_id: str) -> Path:
        """Return a path where the layer's full filesystem (parents included) is visible.

        Reference counted: each call must be paired with one :meth:`unmount`. Raises StorageError.
        """

    @abstractmethod
    def unmount(self, layer_id: str) -> bool:
        """Drop one reference; return True when this call really unmounted. Unmounting an
        unmounted layer returns False."""

    @abstractmethod
    def exists(self, layer_id: str) -> bool:
        """Whether the layer exists. Never raises for a well-formed id."""

    @abstractmethod
    def list_layers(self) -> list[str]:
        """Ids of every layer this driver holds, in no particular order."""

    @abstractmethod
    def metadata(self, layer_id: str) -> dict[str, str]:
        """Driver-specific facts about one layer (paths, mount state) for ``inspect``."""

    @abstractmethod
    def cleanup(self) -> None:
        """Unmount everything this driver mounted; called when the store shuts down. Idempotent."""

    # Diff group: layer contents as tar streams.

    @abstractmethod
    def diff(self, layer_id: str, parent: str | None) -> BinaryIO:
        """An uncompressed tar stream of the changes from ``parent`` to ``layer_id`` (OCI whiteouts
        for deletions). The caller closes it."""

    @abstractmethod
    def changes(self, layer_id: str, parent: str | None) -> list[Change]:
        """The paths added, modified or deleted between ``parent`` and ``layer_id``."""

    @abstractmethod
    def apply_diff(self, layer_id: str, parent: str | None, stream: BinaryIO) -> int:
        """Extract an uncompressed tar stream into ``layer_id``; return the bytes it added.

        Every path stays inside the layer. On error the layer is left as it was before the call.
        """

    @abstractmethod
    def diff_size(self, layer_id: str, parent: str | None) -> int:
        """The size in bytes of what :meth:`diff` would produce, without producing it if possible."""

