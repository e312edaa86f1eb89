"""One ``--change`` instruction (``import``, ``commit``) read with the Containerfile parser, so
that a change means what the same line means in a Containerfile."""
from __future__ import annotations

from capsa.build.checks import Invalid
from capsa.build.instructions import Instruction, build_instruction
from capsa.build.parser import parse

CHANGE_KEYWORDS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME",
                   "WORKDIR")


def parse_change(text: str) -> Instruction:
    """One ``--change`` instruction (``import``, ``commit``), read and validated as the same
    line in a Containerfile; ``KEYWORD=VALUE`` (``CMD=/bin/sh``) is taken for ``KEYWORD VALUE``
    as podman does. ``BuildError`` when it is no single instruction of ``CHANGE_KEYWORDS``."""
    head = text.strip().split(None, 1)[0] if text.strip() else ""
    keyword, eq, value = head.partition("=")
    if keyword.upper() not in CHANGE_KEYWORDS:
        raise Invalid(f"{keyword or text!r} is not one of {', '.join(CHANGE_KEYWORDS)}",
                      f"write one of {', '.join(CHANGE_KEYWORDS)} and its arguments")
    if eq:
        text = f"{keyword} {value}{text.strip()[len(head):]}"
    df = parse(text)
    if len(df.nodes) != 1:
        raise Invalid("a change is exactly one instruction")
    return build_instruction(df.nodes[0], df.escape, "--change")
