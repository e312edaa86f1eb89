"""``commit``: a container's writable layer becomes a new layer on its image, and a new image
(podman's ``commit``).

The new image's runtime config is its image's, with what the container was created with
carried over as podman does: the environment the process gets (PATH, TERM and ``container``
included), the command and entrypoint, the working directory, ``-u``, labels, the ports of
``-p``, the anonymous volumes of ``-v /path`` (every ``-v``/``--mount`` destination with
``include_volumes``); then the ``--change`` instructions. The history entry is podman's
(``created_by`` ``/bin/sh``, comment ``FROM <image>``); ``message`` is the Docker config's
``comment`` (the OCI format has none: refused, as podman does).

Every input (the changes expanded with the container's environment included) is checked
before the container is frozen or anything written. A running container is frozen
for the commit with ``pause`` (the default, as podman) and always thawed again. Locks: the
container's (shared: ``rm`` waits), then the store's (exclusive), as ``start`` and ``rm`` take
them; the pause and the thaw take the container's lock themselves, outside that section.
"""
from __future__ import annotations

from capsa.engine.session import container_records, open_store
from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO

    from capsa.container.model import ContainerConfig
    from capsa.engine.session import Session
    from capsa.store.images import Image
    from capsa.store.layers import Layer
    from capsa.store.store import Store

CREATED_BY = "/bin/sh"  # what podman's commit records as the step that made the layer


def check_inputs(changes: list[str], message: str, fmt: str, target: str | None) -> tuple[list[str], list[str]]:
    """Validate the flags; return (the target's full names, warnings). UsageError on bad input."""
    from capsa.image.committing import manifest_type_of
    from capsa.image.config import apply_change

    manifest_type_of(fmt)
    if message and fmt != "docker":
        raise UsageError("messages are only compatible with the docker image format (-f docker)",
                         hint="add --format docker, or leave out --message")
    warnings = []
    for change in changes:
        scratch: dict[str, Any] = {}
        apply_change(scratch, change)
        if fmt != "docker" and "OnBuild" in scratch:
            warnings.append(f"ONBUILD is not supported for OCI image format, {scratch['OnBuild'][0]} will be ignored. "
                            "Must use `docker` format")
    names = []
    if target:
        from capsa.image.reference import parse_reference

        names.append(str(parse_reference(target)))
    return names, warnings


def check_iidfile(path: str) -> None:
    """Refuse an ``--iidfile`` that cannot be written (its directory is missing, or it is a
    directory) before anything is done."""
    import os

    folder = os.path.dirname(os.path.abspath(path)) if path else ""
    if not path or not os.path.isdir(folder) or os.path.isdir(path):
        raise UsageError(f"--iidfile {path!r}: cannot write the image id there",
                         hint="give a file in an existing directory")


def write_iidfile(path: str, image_id: str) -> None:
    """The image id (64 hex digits, no ``sha256:``, as podman writes it) into ``path``."""
    from capsa.fsutil import atomic_write

    atomic_write(path, image_id.encode())


def runtime_config(config: ContainerConfig, image_config: dict[str, Any], include_volumes: bool) -> dict[str, Any]:
    """The image's runtime config with what the container was created with (see the module)."""
    from capsa.container.spec import container_cwd, container_env
    from capsa.fastpath.names import is_sha256_hex

    runtime = dict(image_config)
    runtime["Env"] = [f"{k}={v}" for k, v in container_env(config, image_config).items()]
    entrypoint = config.entrypoint if config.entrypoint is not None else list(image_config.get("Entrypoint") or [])
    if entrypoint and entrypoint != [""]:
        runtime["Entrypoint"] = list(entrypoint)
    cmd = config.cmd or ([] if config.entrypoint else list(image_config.get("Cmd") or []))
    if cmd:
        runtime["Cmd"] = list(cmd)
    runtime["WorkingDir"] = container_cwd(config, image_config)
    if config.user:
        runtime["User"] = config.user
    if config.labels:
        runtime["Labels"] = {**(image_config.get("Labels") or {}), **config.labels}
    ports = [f"{p['container_port']}/{p['protocol']}" for p in config.extra.get("ports") or []]
    if ports:
        runtime["ExposedPorts"] = {**(image_config.get("ExposedPorts") or {}), **{p: {} for p in ports}}
    volumes = [m.destination for m in config.mounts
               if m.type in ("volume", "bind") and (include_volumes or (m.type == "volume" and is_sha256_hex(m.source)))]
    if volumes:
        runtime["Volumes"] = {**(image_config.get("Volumes") or {}), **{v: {} for v in volumes}}
    return runtime


def commit(sess: Session, ref: str, target: str | None, *, changes: list[str], message: str = "",
           author: str = "", pause: bool = True, fmt: str = "oci", squash: bool = False,
           include_volumes: bool = False, warn: Callable[[str], object] | None = None,
           report: Callable[[str], object] | None = None, iidfile: str | None = None) -> Image:
    """``commit``: the image made of container ``ref``'s image and its writable layer (the
    whole filesystem as one layer with ``squash``), named ``target`` (None: untagged).
    ``warn`` receives podman's warnings (an ONBUILD dropped from an OCI image); ``report``
    podman's copy lines (``Copying blob sha256:...``), once the image is made; ``iidfile``
    the new id (checked before anything, written after)."""
    from capsa.container.views import effective_status

    names, warnings = check_inputs(changes, message, fmt, target)
    if iidfile is not None:
        check_iidfile(iidfile)
    for text in warnings:
        if warn is not None:
            warn(text)
    records = container_records(sess)
    config = records.find(ref)
    from capsa.engine.containerfs import container_layer

    container_layer(config)  # (a --rootfs container has none: refused before anything)
    runtime = _new_runtime(sess, config, changes, fmt, include_volumes)  # (changes checked with its env)
    with _Interrupts() as interrupts:
        froze = pause and effective_status(records, config).status == "running" and _freeze(sess, records, config)
        try:
            try:
                interrupts.arm()  # (one signal held during the freeze is raised here, inside the try)
                image = _commit_pinned(sess, config, names, runtime, message, author, fmt, squash)
            finally:
                interrupts.disarm()
        finally:
            if froze:
                _thaw(sess, config, warn)
    if report is not None:
        _report_copy(sess, image, report)
    if iidfile is not None:
        write_iidfile(iidfile, image.id)
    from capsa.engine.images import image_event

    image_event("commit", image.id, image.names)
    return image


def _report_copy(sess: Session, image: Image, report: Callable[[str], object]) -> None:
    """podman's lines for the copy of the new image into the store: every layer by its diff id."""
    store = open_store(sess)
    with store.reading():
        diff_ids = store.config_of(image).get("rootfs", {}).get("diff_ids") or []
    report("Getting image source signatures")
    for diff_id in diff_ids:
        report(f"Copying blob {diff_id}")
    report(f"Copying config sha256:{image.id}")
    report("Writing manifest to image destination")
    report("Storing signatures")


class _Interrupts:
    """SIGINT, SIGTERM and SIGHUP while a commit may freeze its container: raised as one
    KeyboardInterrupt, only while armed (the commit proper); one arriving unarmed (during the
    freeze or the thaw) is held and raised when armed, or once the handlers are restored. So
    a frozen container is always thawed: the freeze and the thaw are never cut short, and the
    handler disarms itself as it raises. Outside the main thread (no handlers): a no-op."""

    SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self) -> None:
        self.armed = False
        self.held = False
        self.previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: object) -> None:
        if not self.armed:
            self.held = True
            return
        self.armed = False
        raise KeyboardInterrupt

    def arm(self) -> None:
        self.armed = not self.held
        if self.held:
            self.held = False
            raise KeyboardInterrupt

    def disarm(self) -> None:
        self.armed = False

    def __enter__(self) -> _Interrupts:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                number = getattr(signal, name)
                self.previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        for number, handler in self.previous.items():
            signal.signal(number, handler)
        if self.held and exc[0] is None:
            raise KeyboardInterrupt


def _freeze(sess: Session, records: Any, config: ContainerConfig) -> bool:
    """Pause the container for the commit; False when it is no longer running (it exited, or
    was paused by someone else, since its status was read): committed as it is, not thawed."""
    from capsa.container import pausing

    try:
        pausing.pause(sess, records, config)
    except UsageError:
        return False
    return True


def _thaw(sess: Session, config: ContainerConfig, warn: Callable[[str], object] | None) -> None:
    """Unpause what :func:`commit` paused; one that is not paused any more (it exited, was
    killed or removed meanwhile) is left as it is. A thaw that fails is a warning, as podman
    logs it: it neither fails a commit that worked nor hides the error of one that failed."""
    from capsa.container import pausing
    from capsa.container.records import ContainerNotFound
    from capsa.errors import CapsaError

    try:
        pausing.unpause(sess, container_records(sess), config)
    except (UsageError, ContainerNotFound):
        pass  # not paused any more: nothing to thaw
    except CapsaError as err:
        if warn is not None:
            warn(f"unpausing container {config.id}: {err.message} (capsa unpause it)")


def _new_runtime(sess: Session, config: ContainerConfig, changes: list[str], fmt: str,
                 include_volumes: bool) -> dict[str, Any]:
    """The new image's runtime config: :func:`runtime_config`, then the ``--change``
    instructions (expanded with that config's ENV, so a change can go wrong only here: a
    UsageError before anything is frozen or written). ONBUILD is dropped from an OCI image."""
    from capsa.image.config import apply_change

    assert config.image_id is not None
    store = open_store(sess)
    with store.reading():
        base_config = store.config_of(store.image_by_id(config.image_id))
    runtime = runtime_config(config, base_config.get("config") or {}, include_volumes)
    onbuild = runtime.get("OnBuild")
    for change in changes:
        apply_change(runtime, change)
    if fmt != "docker":  # (podman drops ONBUILD from OCI images, with a warning: check_inputs)
        runtime.pop("OnBuild", None)
        if onbuild:
            runtime["OnBuild"] = onbuild
    return runtime


def _commit_pinned(sess: Session, config: ContainerConfig, names: list[str], runtime: dict[str, Any], message: str,
                   author: str, fmt: str, squash: bool) -> Image:
    """The commit itself, the container's lock held shared throughout (its layers stay): the
    diff is spooled with no store lock, then the store's is taken exclusively to record it."""
    from capsa.image.committing import spool_diff

    records = container_records(sess)
    store = open_store(sess)
    with records.lock(config.id).shared():
        config = records.find(config.id)  # (an rm that came first: say so)
        assert config.layer_id is not None
        with store.reading():
            writable = store.layers.get(config.layer_id)
            parent = None if squash or writable.parent is None else store.layers.get(writable.parent)
        with spool_diff(store, writable.id, parent) as diff, store.writing():
            return _make_image(store, config, parent, diff, names, runtime, message, author, fmt)


def _make_image(store: Store, config: ContainerConfig, parent: Layer | None, diff: BinaryIO, names: list[str],
                runtime: dict[str, Any], message: str, author: str, fmt: str) -> Image:
    from capsa.image.committing import derive_image, layer_from_container

    assert config.image_id is not None and config.layer_id is not None
    base = store.image_by_id(config.image_id)
    try:
        layer = layer_from_container(store, config.layer_id, parent, diff=diff)
        history: dict[str, Any] = {"created_by": CREATED_BY, "comment": f"FROM {store.name_of(config.image_name, base)}"}
        if author:
            history["author"] = author
        return derive_image(store, base, layer, runtime, history, names, fmt=fmt, author=author or None,
                            comment=message or None)
    except BaseException:
        store.collect_garbage()
        raise
