"""``build``: a Containerfile and a context made into an image, step by step, as podman's
(buildah's) executor does.

The stages the target needs run in order (:class:`capsa.engine.buildstages.Stage`); each step
leaves an intermediate image and a cache entry (:mod:`capsa.engine.buildcache`); the last
image is named with every ``-t``. What the build does is reported through ``emit(kind,
value)`` (``step``, ``cache``, ``image``, ``commit``, ``tagged``, ``warning``): the CLI turns
those into podman's lines. On failure or ctrl-C nothing is named, and no build container,
mount or writable layer is left (the images of the steps that succeeded stay, as cache).
"""
from __future__ import annotations

import os

from capsa.engine.session import open_store
from capsa.errors import BuildError, UsageError
from capsa.fastpath.record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO

    from capsa.engine.buildstages import Stage
    from capsa.engine.session import Session
    from capsa.store.images import Image

PULL_POLICIES = {"missing": "missing", "true": "always", "always": "always", "false": "missing",
                 "never": "never", "ifmissing": "missing", "ifnewer": "newer", "newer": "newer"}


@record
class BuildOptions:
    """What ``build`` was asked (the CLI's flags, checked)."""

    context: str = "."  # a directory, or "-": a tar archive on stdin
    files: list[str] = field(default_factory=list)  # -f (none: Containerfile, else Dockerfile)
    tags: list[str] = field(default_factory=list)  # -t, as given
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    use_cache: bool = True  # --layers and not --no-cache
    layers: bool = True  # keep the steps' images (--layers=false: only the last)
    pull: str = "missing"  # missing | always | never | newer
    labels: dict[str, str] = field(default_factory=dict)
    network: str | None = None
    fmt: str = "oci"
    quiet: bool = False
    squash: str = ""  # "" | "new" (--squash) | "all" (--squash-all)
    iidfile: str | None = None  # where to write "sha256:<id>" once the image is named
    container: dict[str, Any] = field(default_factory=dict)  # ContainerConfig fields of RUN containers
    remote: Any = None  # capsa.engine.registries.RemoteOptions for pulls (--authfile, --creds, --tls-verify...)


def pull_policy(value: str) -> str:
    """podman's ``--pull`` values (true, false, always, missing, never, newer...) as a policy."""
    policy = PULL_POLICIES.get(value.lower())
    if policy is None:
        raise UsageError(f'invalid pull policy "{value}"', hint="--pull takes always, missing, never or newer")
    return policy


class Builder:
    """One build: the session, its store, options and what the stages share."""

    def __init__(self, sess: Session, opts: BuildOptions, emit: Callable[[str, str], None]) -> None:
        from capsa.engine.buildcache import BuildCache

        self.sess = sess
        self.opts = opts
        self.emit = emit
        self.store = open_store(sess)
        self.cache = BuildCache(self.store, opts.use_cache)
        self.names = [normalise(t) for t in opts.tags]
        self.meta_values: dict[str, str | None] = {}
        self.consumed: set[str] = set()
        self.stage_images: dict[int, Image | None] = {}
        self.stage_bases: dict[int, Image | None] = {}  # each stage's FROM image (--squash)
        self.stage_names: dict[str, int] = {}
        self.made: list[str] = []  # images this build made (dropped at the end with --layers=false)
        self.context: Any = None
        self._images: dict[str, Image] | None = None
        self._container: dict[str, Any] | None = None

    # -- what stages ask ------------------------------------------------------------------------

    def expand_meta(self, word: str) -> str:
        from capsa.build.shellwords import expand

        return expand(word, {k: v for k, v in self.meta_values.items() if v is not None})

    def cache_lookup(self, key: str) -> Image | None:
        if not self.opts.use_cache:
            return None
        recorded = self.cache.entry(key)
        if self._images is None or (recorded is not None and recorded not in self._images):
            # (first lookup, or an entry another build made since: read the store's images again)
            with self.store.reading():
                self._images = {image.id: image for image in self.store.images.all()}
        return self.cache.lookup(key, self._images)

    def record(self, key: str, image: Image) -> None:
        """A new step image (the caller holds the store's exclusive lock)."""
        self.made.append(image.id)
        if self.opts.layers:
            self.cache.record(key, image.id)
        if self._images is not None:
            self._images[image.id] = image

    def container_options(self) -> dict[str, Any]:
        """The ContainerConfig fields of a RUN container: the build's container flags and its
        ``--network`` (none, host, a network driver, or a network's name, as ``run`` takes it)."""
        if self._container is None:
            from capsa.engine.containers import network_mode

            mode, definition = network_mode(self.sess, self.opts.network, starting=True)
            self._container = {**self.opts.container, "network": mode,
                               "extra": {"network_definition": definition} if definition else {}}
        return self._container

    def stage_ref(self, ref: str, before: int) -> int | None:
        """The index of the stage ``ref`` names (its name, or its number) among the stages
        before ``before``; None when it names none."""
        if ref.lower() in self.stage_names and self.stage_names[ref.lower()] < before:
            return self.stage_names[ref.lower()]
        if ref.isdigit() and int(ref) < before:
            return int(ref)
        return None

    def base_image(self, ref: str, index: int) -> tuple[Image | None, str]:
        """FROM ``ref`` of stage ``index``: (its image, what the history comment calls it);
        (None, "") for scratch."""
        if ref == "scratch":
            return None, ""
        stage = self.stage_ref(ref, index)
        if stage is not None:
            image = self.stage_images.get(stage)
            return image, image.id[:12] if image else ""
        image = self.image(ref)
        with self.store.reading():
            name = self.store.name_of(ref, image)
        return image, name

    def image(self, ref: str) -> Image:
        """An image by reference (FROM, COPY --from), pulled as ``--pull`` says."""
        from capsa.engine import pull as engine
        from capsa.errors import ImageNotFound

        policy = self.opts.pull
        pulled = None
        if policy == "missing":
            with self.store.reading():
                try:
                    return self.store.find_image(ref)  # (no registry code imported for a stored image)
                except ImageNotFound:
                    pass
        if policy != "never":
            pulled = engine.pull_for_container(self.sess, ref, policy, self.opts.remote or engine.RemoteOptions(),
                                               engine.wanted_platform(None, None, None, None))
        with self.store.reading():
            try:
                return self.store.find_image(pulled or ref)
            except ImageNotFound as exc:
                raise BuildError(f"{ref}: image not known", hint=exc.hint) from None

    def copy_step(self, stage: Stage, ins: Any, runtime: dict[str, Any], add: bool) -> None:
        """COPY/ADD (from the context, a heredoc, another stage or an image)."""
        from capsa.engine import buildcopy

        buildcopy.copy_step(self, stage, ins, runtime, add)

    # -- the build ------------------------------------------------------------------------------

    def run(self, plan: Any) -> Image:
        """Every stage the target needs, in order; the final image, named."""
        stages = list(plan.stages)
        for stage in stages:
            if stage.name:
                self.stage_names.setdefault(stage.name.lower(), stage.index)
        self._meta_args(plan)
        target = self._target(stages)
        needed = self._needed(stages, target)
        multi = len(stages) > 1
        from capsa.engine.buildstages import Stage

        image: Image | None = None
        for position, stage in enumerate(s for s in stages if s.index in needed):
            prefix = f"[{position + 1}/{len(needed)}] " if multi else ""
            image = Stage(self, stage, prefix, final=stage.index == target).run()
            self.stage_images[stage.index] = image
        unused = sorted(set(self.opts.build_args) - self.consumed - _proxy_args())
        if unused:
            self.emit("warning", f"[Warning] one or more build args were not consumed: [{' '.join(unused)}]")
        if image is None:
            raise BuildError("the build made no image: the target stage is FROM scratch with no step",
                             hint="add an instruction to the stage")
        return self._finish(image, stages[target])

    def _meta_args(self, plan: Any) -> None:
        from capsa.build.shellwords import expand
        from capsa.engine.buildstages import _pairs

        self.meta_values.update(platform_args())
        for arg in plan.meta_args:
            for key, default in _pairs(arg.pairs):
                self.consumed.add(key)
                if key in self.opts.build_args:
                    self.meta_values[key] = self.opts.build_args[key]
                elif default is not None:
                    self.meta_values[key] = expand(default, {k: v for k, v in self.meta_values.items() if v is not None})
                else:
                    self.meta_values[key] = None

    def _target(self, stages: list[Any]) -> int:
        if not self.opts.target:
            return stages[-1].index  # type: ignore[no-any-return]
        found = self.stage_names.get(self.opts.target.lower())
        if found is None:
            raise BuildError(f'building: target stage "{self.opts.target}" not found',
                             hint="give the name of a stage (FROM ... AS NAME)")
        return found

    def _needed(self, stages: list[Any], target: int) -> set[int]:
        """The stages ``target`` needs: itself, its base if a stage, and every stage a
        ``COPY --from`` names, transitively."""
        needed: set[int] = set()
        todo = [target]
        while todo:
            index = todo.pop()
            if index in needed:
                continue
            needed.add(index)
            stage = stages[index]
            refs = [self.expand_meta(stage.base)]
            refs += [str(getattr(ins, "from_", None)) for ins in stage.instructions if getattr(ins, "from_", None)]
            for ref in refs:
                found = self.stage_ref(ref, index)
                if found is not None:
                    todo.append(found)
        return needed

    def _finish(self, image: Image, stage: Any) -> Image:
        """Squash (``--squash``/``--squash-all``), name the final image, and with
        ``--layers=false`` forget the steps' images."""
        if self.opts.squash:
            image = self._squash(image, stage)
        with self.store.reading():
            stored = self.store.image_by_id(image.id)
        if stored.intermediate or not all(n in stored.names for n in self.names) or not self.opts.layers:
            image = self._name(image)
        else:
            image = stored  # (a build that changed nothing: nothing to write)
        from capsa.engine.images import image_event

        image_event("build", image.id, self.names)
        for name in self.names:
            self.emit("tagged", name)
        return image

    def _name(self, image: Image) -> Image:
        """The final image with the ``-t`` names and not intermediate; with ``--layers=false``
        the steps' images this build made are removed."""
        with self.store.writing():
            image = self.store.image_by_id(image.id)
            image.names = list(dict.fromkeys([*image.names, *self.names]))
            image.intermediate = False
            self.store.images.put(image)
            if not self.opts.layers:
                doomed = [i for i in self.store.images.all()
                          if i.id in self.made and i.id != image.id and i.intermediate]
                self.store.delete_images(doomed)
        return image

    def write_iidfile(self, image: Image) -> None:
        """``--iidfile``: ``sha256:<id>``, written whole."""
        if not self.opts.iidfile:
            return
        from capsa.fsutil import atomic_write

        try:
            atomic_write(self.opts.iidfile, f"sha256:{image.id}".encode(), durable=False)
        except OSError as exc:
            raise UsageError(f"writing image ID to {self.opts.iidfile}: {exc.strerror}",
                             hint="give a writable --iidfile path") from None

    def _squash(self, image: Image, stage: Any) -> Image:
        """The final image's new layers (``all``: every layer) as one layer on its base."""
        from capsa.engine import buildsteps
        from capsa.image.committing import derive_image, layer_from_container

        base = None if self.opts.squash == "all" else self.stage_bases.get(stage.index)
        with self.store.reading():
            config = self.store.config_of(image)
        with buildsteps.WritableLayer(self.store, image.top_layer) as layer:
            layer.unmount()
            with self.store.writing():
                squashed = layer_from_container(self.store, layer.layer_id, buildsteps.parent_layer(self.store, base))
                made = derive_image(self.store, base, squashed, dict(config.get("config") or {}),
                                    {"created_by": "/bin/sh -c #(nop) squashed"}, [], fmt=self.opts.fmt,
                                    author=config.get("author"))
        return made


def platform_args() -> dict[str, str]:
    """docker's automatic platform ARGs (usable in FROM, and in a stage once declared with
    ``ARG NAME``): this host's platform, which is the only one capsa builds for."""
    from capsa.hostinfo import go_arch

    arch = go_arch()
    out = {}
    for side in ("BUILD", "TARGET"):
        out.update({f"{side}PLATFORM": f"linux/{arch}", f"{side}OS": "linux", f"{side}ARCH": arch, f"{side}VARIANT": ""})
    return out


def check_platform(platform: str | None) -> None:
    """FROM ``--platform``: only this host's (``linux/ARCH``) is accepted."""
    if not platform:
        return
    wanted = platform_args()["TARGETPLATFORM"]
    if platform.rstrip("/") != wanted:
        raise BuildError(f"FROM --platform={platform}: capsa builds for this host's platform ({wanted}) only",
                         hint="drop --platform, or build on a host of that platform")


def _proxy_args() -> frozenset[str]:
    from capsa.engine.buildstages import PROXY_ARGS

    return PROXY_ARGS


def normalise(tag: str) -> str:
    """A ``-t`` name as ``tag`` stores it (``app`` -> ``localhost/app:latest``)."""
    from capsa.image.reference import parse_reference

    return str(parse_reference(tag))


def read_plan(files: list[tuple[str, str]]) -> Any:
    """The plan of the Containerfile(s) (several ``-f``: their texts one after the other, as
    podman reads them); every error is raised here, before any step."""
    from capsa.build.instructions import parse_plan

    text = "\n".join(text for _, text in files)
    return parse_plan(text, os.path.basename(files[0][0]) if files else "Containerfile")


def build(sess: Session, opts: BuildOptions, emit: Callable[[str, str], None],
          stdin: BinaryIO | None = None) -> Image:
    """``build``: the image the Containerfile makes from the context (see module doc).
    Errors are capsa's (BuildError, UsageError...), raised before any step when the input is
    bad; a failing RUN's BuildError carries its exit code."""
    from capsa.build.context import open_context

    for tag in opts.tags:
        normalise(tag)  # (a bad name fails before anything runs)
    if opts.context == "-" and "-" in opts.files:
        raise UsageError("cannot read both the context and the Containerfile from standard input",
                         hint="give a context directory, or -f a file")
    context = open_context(opts.context, stdin)
    try:
        plan = read_plan(context.containerfiles(list(opts.files), stdin))
        builder = Builder(sess, opts, emit)
        builder.context = context
        image = builder.run(plan)
        builder.write_iidfile(image)
        return image
    finally:
        context.close()

