"""``volume export`` and ``volume import``: a volume's contents as a plain tar (the members are
relative to the volume's data directory, which is not itself a member, as podman writes them),
and a tar (plain or compressed, from a file or stdin) unpacked into a volume."""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO

from capsa.errors import CapsaError, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from capsa.engine.session import Session


@contextmanager
def _data_dir(sess: Session, name: str) -> Iterator[str]:
    """The volume's data directory, its filesystem (when it has one) mounted for the time of
    the ``with`` block only (a ``volume mount`` of its own, dropped after: as podman's)."""
    from capsa.container.volumes import VolumeNotFound, needs_mount
    from capsa.engine.volumes import volume_store

    store = volume_store(sess)
    try:
        record = store.record(name)
    except VolumeNotFound:
        raise CapsaError(f"no such volume {name}", hint="see 'capsa volume ls'") from None
    if not needs_mount(record):
        yield str(record["Mountpoint"])
        return
    store.mount(name)
    try:
        yield str(record["Mountpoint"])
    finally:
        store.unmount(name)


def export(sess: Session, name: str, target: str | BinaryIO, before_writing: Callable[[], object] | None = None) -> int:
    """Write the volume ``name`` as a tar to ``target`` (a path, or a binary stream); returns the
    bytes written. An unknown volume or an unwritable path fails before anything is written."""
    from capsa.engine.containerfs import _output_file, _write_tree, check_output

    if isinstance(target, str):
        check_output(target)
    with _data_dir(sess, name) as root:
        if isinstance(target, str):
            with _output_file(target) as out:
                return _write_tree(out, root)
        if before_writing is not None:
            before_writing()
        return _write_tree(target, root)


def import_(sess: Session, name: str, source: str) -> None:
    """Unpack the tar ``source`` (a path, or ``-`` for stdin) into the volume ``name``, with the
    layer extractor's rules (nothing leaves the volume; owners kept)."""
    import sys

    from capsa.store.tarextract import extract_layer

    with _data_dir(sess, name) as root:
        if source == "-":
            extract_layer(sys.stdin.buffer, root, whiteouts="none", same_owner=True)
            return
        try:
            stream = open(source, "rb")
        except OSError as exc:
            raise UsageError(f"open {source}: {(exc.strerror or str(exc)).lower()}",
                             hint="give the path of a tar archive, or - for stdin") from None
        with stream:
            extract_layer(stream, root, whiteouts="none", same_owner=True)
