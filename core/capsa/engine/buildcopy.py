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

from capsa.build.history import created_by
from capsa.engine import buildsteps
from capsa.errors import BuildError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.engine.build import Builder
    from capsa.engine.buildstages import Stage

def _sha(text: str) -> str:
    from capsa.fastpath.digest import sha256

    return sha256(text.encode()).hexdigest()  # type: ignore[no-any-return]


def copy_step(b: Builder, stage: Stage, ins: Any, runtime: dict[str, Any], add: bool) -> None:
    """One COPY (``add`` False) or ADD step of ``stage``: from the cache, or made. ADD's URLs
    are downloaded (every build, as docker does: their content is in the key)."""
    import contextlib
    import tempfile

    with contextlib.ExitStack() as stack:
        scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="capsa-build-sources-"))
        _copy_step(b, stage, ins, runtime, add, scratch, stack)


def _copy_step(b: Builder, stage: Stage, ins: Any, runtime: dict[str, Any], add: bool, scratch: str,
               stack: Any) -> None:
    from capsa.build.copying import download, write_heredoc

    step = stage._step_text(ins)
    workdir = str(runtime.get("WorkingDir") or "/")
    groups: list[tuple[list[tuple[str, str]], dict[str, Any]]] = []
    sums: list[str] = []
    from_image = None
    from_root = ""
    rels: list[str] = []
    if ins.from_:
        index = b.stage_ref(ins.from_, stage.stage.index)
        from_image = b.stage_images.get(index) if index is not None else b.image(ins.from_)
        if from_image is None:
            raise BuildError(f'building at STEP "{step}": stage {ins.from_} has no filesystem (FROM scratch)',
                             hint="copy from a stage that has files")
        rels = [s.lstrip("/") or "." for s in ins.sources]
        sums.append(_sha(json.dumps([from_image.id, rels])))
        # (mounted before the key: whether the one source is a file decides "file:" or "dir:")
        from_root = stack.enter_context(buildsteps.MountedImage(b.store, from_image))
    else:
        urls = [s for s in ins.sources if add and s.startswith(("http://", "https://"))]
        local = [s for s in ins.sources if s not in urls]
        try:
            if local:
                rels = b.context.sources(local)
                sums.append(str(b.context.checksum(rels)).removeprefix("sha256:"))
                groups.append(([(b.context.root, rel) for rel in rels], {"ignore": b.context.ignore}))
            fetched = []
            for url in urls:
                name = download(url, scratch)
                fetched.append((scratch, name))
                with open(os.path.join(scratch, name), "rb") as fh:
                    sums.append(_sha(url) + _sha(fh.read().hex()))
            if fetched:
                groups.append((fetched, {"extract_archives": False}))  # (docker: a download is never extracted)
        except BuildError as exc:
            raise BuildError(f'building at STEP "{step}": {exc.message}', hint=exc.hint) from None
        rels += [name for _, name in fetched]
    bodies = [(doc.name, _body(doc, stage.env())) for doc in list(getattr(ins, "heredocs", None) or [])]
    sums += [_sha(f"{name}\0{body}") for name, body in bodies]
    kind = _kind([(from_root, rel) for rel in rels] if from_root else groups[0][0] if groups else [], rels, bodies)
    checksum = sums[0] if len(sums) == 1 else _sha("".join(sums))
    text = created_by(ins, source_digest=f"{kind}:{checksum}")
    key = stage._key(text, [json.dumps([workdir, ins.chown, ins.chmod]), json.dumps(runtime, sort_keys=True)])
    if stage._cached(key):
        stage.pending_dirs.clear()
        return

    def commit(layer_id: str) -> Any:
        return stage._commit(key, runtime, text, layer_id)

    if bodies:
        docs_dir = os.path.join(scratch, "heredocs")
        os.mkdir(docs_dir)
        groups.append(([write_heredoc(docs_dir, name, body) for name, body in bodies], {}))
    if from_root:
        _copy(b, stage, ins, [([(from_root, rel) for rel in rels], {"preserve_owner": True}), *groups], workdir, add,
              step, commit)
    else:
        _copy(b, stage, ins, groups, workdir, add, step, commit)
    stage.pending_dirs.clear()  # (made in this step's layer)


def _copy(b: Builder, stage: Stage, ins: Any, groups: list[Any], workdir: str, add: bool, step: str,
          commit: Any) -> None:
    try:
        buildsteps.copy_files(b.store, stage.image, groups, ins.dest, workdir, ins.chown, ins.chmod, add, commit,
                              dirs=stage.pending_dirs)
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
