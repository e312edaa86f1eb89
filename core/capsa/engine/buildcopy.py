"""COPY and ADD steps of a build: where the sources come from (the context, heredocs, another
stage's image or any image with ``--from``), their cache key and history text, then the copy
into a writable layer (:func:`capsa.engine.buildsteps.copy_files`).

The key holds the parent image, the destination, ``--chown``/``--chmod``, the working
directory and a checksum of the sources' content: :meth:`BuildContext.checksum` for the
context, the bodies for heredocs, and for ``--from`` the source image's id (its content's
digest) with the paths.
"""
from __future__ import annotations

import json
import os

from capsa.engine import buildsteps
from capsa.engine.buildcache import step_key
from capsa.errors import BuildError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.engine.build import Builder
    from capsa.engine.buildstages import Stage

NOP = "/bin/sh -c #(nop) "


def _sha(text: str) -> str:
    from capsa.fastpath.digest import sha256

    return sha256(text.encode()).hexdigest()  # type: ignore[no-any-return]


def copy_step(b: Builder, stage: Stage, ins: Any, runtime: dict[str, Any], add: bool) -> None:
    """One COPY (``add`` False) or ADD step of ``stage``: from the cache, or made."""
    import tempfile

    keyword = "ADD" if add else "COPY"
    step = stage._step_text(ins)
    workdir = str(runtime.get("WorkingDir") or "/")
    sources: list[tuple[str, str]] = []
    sums: list[str] = []
    from_image = None
    if ins.from_:
        index = b.stage_ref(ins.from_, stage.stage.index)
        from_image = b.stage_images.get(index) if index is not None else b.image(ins.from_)
        if from_image is None:
            raise BuildError(f'building at STEP "{step}": stage {ins.from_} has no filesystem (FROM scratch)',
                             hint="copy from a stage that has files")
        rels = [s.lstrip("/") or "." for s in ins.sources]
        sums.append(_sha(json.dumps([from_image.id, rels])))
    else:
        urls = [s for s in ins.sources if s.startswith(("http://", "https://", "git@"))]
        if urls:
            raise BuildError(f'building at STEP "{step}": {keyword} from a URL ({urls[0]}) is not supported',
                             hint="download the file into the context first (capsa's builder fetches nothing)")
        rels = []
        if ins.sources:
            try:
                rels = b.context.sources(list(ins.sources))
            except BuildError as exc:
                raise BuildError(f'building at STEP "{step}": {exc.message}', hint=exc.hint) from None
            sums.append(str(b.context.checksum(rels)).removeprefix("sha256:"))
        sources = [(b.context.root, rel) for rel in rels]
    docs = list(getattr(ins, "heredocs", None) or [])
    bodies = [(doc.name, _body(doc, stage.env())) for doc in docs]
    sums += [_sha(f"{name}\0{body}") for name, body in bodies]
    kind = _kind(sources, rels, bodies)
    checksum = sums[0] if len(sums) == 1 else _sha("".join(sums))
    text = f"{NOP}{keyword} {kind}:{checksum} in {ins.dest} "
    key = step_key(stage.image.id if stage.image else None, text,
                   [json.dumps([workdir, ins.chown, ins.chmod]), json.dumps(runtime, sort_keys=True),
                    json.dumps(b.opts.labels, sort_keys=True), b.opts.fmt, stage.author or ""])
    if stage._cached(key):
        return

    def commit(layer_id: str) -> Any:
        return stage._commit(key, runtime, text, layer_id)

    with tempfile.TemporaryDirectory(prefix="capsa-heredoc-") as docs_dir:
        for name, body in bodies:
            with open(os.path.join(docs_dir, name), "w", encoding="utf-8") as fh:
                fh.write(body)
        docs_group = ([(docs_dir, name) for name, _ in bodies], {})
        if from_image is not None:
            with buildsteps.MountedImage(b.store, from_image) as root:
                groups = [([(root, rel) for rel in rels], {"preserve_owner": True}), docs_group]
                _copy(b, stage, ins, groups, workdir, add, step, commit)
        else:
            _copy(b, stage, ins, [(sources, {"ignore": b.context.ignore}), docs_group], workdir, add, step, commit)


def _copy(b: Builder, stage: Stage, ins: Any, groups: list[Any], workdir: str, add: bool, step: str,
          commit: Any) -> None:
    try:
        buildsteps.copy_files(b.store, stage.image, groups, ins.dest, workdir, ins.chown, ins.chmod, add, commit)
    except (OSError, BuildError) as exc:
        message = exc.message if isinstance(exc, BuildError) else f"{exc.strerror}: {exc.filename}"
        raise BuildError(f'building at STEP "{step}": {message}',
                         hint=getattr(exc, "hint", "") or "check the sources and the destination") from None


def _body(doc: Any, env: dict[str, str]) -> str:
    """A heredoc's body as COPY writes it: variables expanded unless its delimiter was quoted."""
    text = doc.text() if callable(getattr(doc, "text", None)) else doc.content
    if doc.expand:
        from capsa.build.shellwords import expand

        lines = str(text).split("\n")
        text = "\n".join(expand(line, env) if "$" in line else line for line in lines)
    return str(text)


def _kind(sources: list[tuple[str, str]], rels: list[str], bodies: list[tuple[str, str]]) -> str:
    """docker's word for what was copied: ``file``, ``dir`` or ``multi``."""
    if len(rels) + len(bodies) != 1:
        return "multi"
    if bodies or (sources and os.path.isfile(os.path.join(*sources[0]))):
        return "file"
    return "dir"
