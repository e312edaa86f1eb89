"""The two build steps that change a filesystem, as mechanisms: RUN (a container of the step's
image, run through the same engine, isolation and network drivers as ``run``) and COPY/ADD
(files copied into a writable layer on the step's image). Each leaves a new layer and image
(:mod:`capsa.image.committing`) and, whatever happens, no container, mount or writable layer.

Build containers carry ``extra["builder"] = True``: ``ps`` shows them only with ``--external``
(podman hides buildah's containers the same way), ``rm`` and ``system check`` see them all.
"""
from __future__ import annotations

import os
import sys

from capsa.errors import BuildError, CapsaError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from capsa.engine.session import Session
    from capsa.store.images import Image
    from capsa.store.layers import Layer
    from capsa.store.store import Store


def parent_layer(store: Store, image: Image | None) -> Layer | None:
    """The top layer of ``image`` (None: FROM scratch, or an image with no layer)."""
    if image is None or not image.top_layer:
        return None
    return store.layers.get(image.top_layer)


class _Muted:
    """A stand-in for sys.stdout while a quiet build's RUN output is dropped."""

    def __init__(self) -> None:
        self.buffer = open(os.devnull, "wb")  # noqa: SIM115 (closed in run_container)

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self.buffer.fileno()


def run_container(sess: Session, store: Store, image: Image, argv: list[str], env: list[str],
                  container: dict[str, Any], step: str, quiet: bool,
                  commit: Callable[[str], Image]) -> Image:
    """RUN: a container of ``image`` running ``argv`` (no entrypoint) with ``env`` over the
    image's, attached (its output streams to ours; ``quiet`` drops its standard output), on the build's network
    and with the build's container options (``container``: ContainerConfig fields); on exit 0
    ``commit(writable_layer_id)`` makes the step's image (the caller takes the store's lock).
    A non-zero exit is a BuildError with podman's words (exit code the command's). The
    container is removed in every case, ctrl-C included (KeyboardInterrupt goes on up)."""
    from capsa.container.model import ContainerConfig
    from capsa.engine import containers

    config = ContainerConfig(id=os.urandom(32).hex(), name="", image_id=None, image_name=image.id,
                             entrypoint=[""], cmd=list(argv), **container)
    config.env = [*config.env, *env]
    config.name = f"capsa-build-{config.id[:12]}"
    config.extra = {**config.extra, "builder": True}  # (a copy: the options serve every RUN)
    config.mounts = list(config.mounts)
    config.labels = {}
    saved = sys.stdout, sys.stderr
    muted = _Muted() if quiet else None
    made = False
    try:
        if muted is not None:
            sys.stdout = muted  # type: ignore[assignment]  # (podman -q drops the RUN's stdout, not its stderr)
        try:
            made = True
            code = containers.run(sess, config, attach=True, stdin=False, sig_proxy=False)
        finally:
            sys.stdout, sys.stderr = saved
            if muted is not None:
                muted.buffer.close()
        if code is None:
            raise BuildError(f'building at STEP "{step}": lost the container', hint="see 'capsa ps --external -a'")
        if code != 0:
            raise BuildError(f'building at STEP "{step}": while running runtime: exit status {code}',
                             hint="the command failed in the build container; fix it or the Containerfile",
                             exit_code=code if 0 < code < 256 else 1)
        assert config.layer_id is not None
        return commit(config.layer_id)
    finally:
        if made:
            remove_container(sess, store, config)


def remove_container(sess: Session, store: Store, config: Any) -> None:
    """Remove a build container (stopping it first: ctrl-C during its RUN); a failure warns."""
    from capsa.container import removal
    from capsa.container.records import ContainerNotFound
    from capsa.engine.session import container_records

    try:
        removal.remove(sess, store, container_records(sess), config, force=True, timeout=0)
    except ContainerNotFound:
        pass
    except CapsaError as exc:
        print(f"Warning: removing build container {config.id[:12]}: {exc.message}", file=sys.stderr)


class WritableLayer:
    """A writable layer on ``parent`` (an image's top layer, or None), mounted; a ``with``
    block. Unmounted and removed at the end, whatever happens."""

    def __init__(self, store: Store, parent: str | None) -> None:
        self.store = store
        self.parent = parent
        self.layer_id = ""
        self.root = ""

    def __enter__(self) -> WritableLayer:
        with self.store.writing():
            self.layer_id = self.store.layers.create_empty(self.parent).id
        try:
            self.root = os.fspath(self.store.driver.mount(self.layer_id))
        except BaseException:
            self._remove()
            raise
        return self

    def unmount(self) -> None:
        if self.root:
            self.root = ""
            self.store.driver.unmount(self.layer_id)

    def __exit__(self, *exc: object) -> None:
        try:
            self.unmount()
        finally:
            self._remove()

    def _remove(self) -> None:
        with self.store.writing():
            if self.layer_id in {layer.id for layer in self.store.layers.all()}:
                self.store.layers.remove(self.layer_id)


def copy_files(store: Store, image: Image | None, groups: list[tuple[list[tuple[str, str]], dict[str, Any]]],
               dest: str, workdir: str, chown: str | None, chmod: str | None, extract: bool,
               commit: Callable[[str], Image], dirs: list[str] | None = None) -> Image:
    """COPY/ADD: each group of ``sources`` ((root, relative path) pairs, with copy_into's
    ``ignore``/``preserve_owner`` for them) copied to ``dest`` in a writable layer on
    ``image``, then ``commit(layer_id)`` (the layer is unmounted by then). ``dirs``: the
    pending WORKDIRs, made first (those missing)."""
    from capsa.build.copying import copy_into
    from capsa.fsutil import secure_join

    with WritableLayer(store, image.top_layer if image else None) as layer:
        for path in dirs or []:
            os.makedirs(secure_join(layer.root, path), mode=0o755, exist_ok=True)
        for sources, how in groups:
            if sources:
                copy_into(layer.root, sources, dest, workdir, chown=chown, chmod=chmod,
                          **{"extract_archives": extract, **how})
        layer.unmount()
        return commit(layer.layer_id)


class MountedImage:
    """The root filesystem of an image (COPY --from), read through a writable layer on it that
    is thrown away; a ``with`` block giving the path."""

    def __init__(self, store: Store, image: Image) -> None:
        self.layer = WritableLayer(store, image.top_layer)

    def __enter__(self) -> str:
        return self.layer.__enter__().root

    def __exit__(self, *exc: object) -> None:
        self.layer.__exit__(*exc)
