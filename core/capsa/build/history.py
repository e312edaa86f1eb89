"""The text a build step shows and records, defined once for the executor and the cache key.

- ``step_text(inst)``: what follows ``STEP i/n: `` (the instruction as written, continuation
  lines joined, nothing expanded), as podman prints it.
- ``created_by(inst, ...)``: the image history's ``created_by`` (podman 4.3/buildah's form):
  ``RUN`` gives ``"|N K=V... /bin/sh -c TEXT"`` (the build ARGs in scope with a value, sorted,
  then ``/bin/sh -c`` whatever the SHELL, and the command as written); ``COPY``/``ADD`` give ``"/bin/sh -c #(nop) COPY DIGEST in DEST "``
  when the caller passes the sources' content digest (``file:<sha256>``/``dir:<sha256>``);
  ``ARG`` gives the sorted names of the ARGs in scope with a value (not the instruction's own
  text); everything else ``"/bin/sh -c #(nop) "`` + the text as written.

The cache key of a step should hash ``created_by`` (with the ARG values and the sources'
digest in it) together with the parent image id: two steps with the same text but another ARG
value or other copied content then never share a cache entry.
"""
from __future__ import annotations

from collections.abc import Mapping

from capsa.build.instructions import Add, Arg, Copy, Instruction, Run

NOP = "/bin/sh -c #(nop) "


def step_text(inst: Instruction) -> str:
    """The instruction as written (continuations joined), for ``STEP i/n: TEXT``."""
    return inst.node.original.strip()


def _after_keyword(inst: Instruction) -> str:
    text = inst.node.original.strip()
    return text[len(text.split(None, 1)[0]):].strip()


def created_by(inst: Instruction, *, build_args: Mapping[str, str] | None = None,
               source_digest: str | None = None) -> str:
    """The history ``created_by`` of ``inst``: ``build_args`` are the ARGs in scope that have a
    value (this instruction's included), ``source_digest`` the copied content's digest
    (COPY/ADD). As podman 4.3 records it: RUN always says ``/bin/sh -c`` (whatever the stage's
    SHELL, exec form too), ARG lists the sorted names of ``build_args``."""
    args = sorted((build_args or {}).items())
    if isinstance(inst, Run):
        prefix = f"|{len(args)} " + "".join(f"{k}={v} " for k, v in args) if args else ""
        return prefix + "/bin/sh -c " + _after_keyword(inst)
    if isinstance(inst, Arg):
        return NOP + "ARG " + " ".join(name for name, _ in args)
    if isinstance(inst, (Copy, Add)) and source_digest:
        return f"{NOP}{inst.keyword} {source_digest} in {inst.dest} "
    return NOP + step_text(inst)
