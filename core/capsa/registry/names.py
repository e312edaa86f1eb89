"""Which images a pull of a name means: short-name resolution, after podman's.

Contract of :func:`pull_candidates` (the references a pull tries, in order; never empty):

1. a fully qualified name (``quay.io/x``, ``localhost:5000/x``, ``docker.io/busybox``) is itself;
2. a short name with an alias in ``[registry.aliases]`` is the alias (the name's tag or digest
   kept);
3. else the ``capsa_resolve_short_name`` hook (``Access.short_name_hook``, which the engine gives):
   the first plugin's answer, a fully qualified name;
4. else the ``unqualified_search`` registries, in order. With several of them and
   ``short_name_mode = "enforcing"`` (the default, as podman), the name is ambiguous: on a
   terminal (``interactive``) the user picks one; otherwise UsageError listing the candidates.
   ``permissive`` and ``disabled`` try each in turn without asking.

No search registry and no alias: UsageError with a hint.
"""
from __future__ import annotations

import sys

from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from capsa.image.reference import Reference
    from capsa.registry.connect import Access

ALIAS_HINT = "use a fully qualified name (e.g. docker.io/library/busybox) or add an alias under [registry.aliases] (see docs/registries.md)"


def split_short(text: str) -> tuple[str, str]:
    """``busybox:1.36@sha256:...`` -> (``busybox``, ``:1.36@sha256:...``): the repository name
    and what follows it."""
    rest, at, digest = text.partition("@")
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        return rest[:colon], rest[colon:] + at + digest
    return rest, at + digest


def _with_suffix(name: str, suffix: str) -> Reference:
    """``name`` (qualified, perhaps with its own tag) with the tag or digest of what was asked."""
    from capsa.image.reference import parse_reference

    own_name, own_suffix = split_short(name)
    return parse_reference(own_name + (suffix or own_suffix))


def pull_candidates(access: Access, text: str, interactive: bool) -> list[Reference]:
    """The references a pull of ``text`` tries, in order (see the module's contract)."""
    from capsa.image.reference import is_qualified, parse_reference
    from capsa.registry.settings import Settings

    ref = parse_reference(text, "docker.io")  # validates the name whatever path it takes
    if is_qualified(text):
        return [ref]
    conf = Settings(access.config)
    short, suffix = split_short(text)
    alias = conf.aliases.get(short)
    if alias is None and short.startswith("library/"):
        alias = conf.aliases.get(short[len("library/"):])
    if alias is not None:
        return [_with_suffix(alias, suffix)]
    resolved = access.short_name_hook(short, list(conf.search))
    if resolved is not None:
        return [_with_suffix(resolved, suffix)]
    search = conf.search
    if not search:
        raise UsageError(f"short name {text!r} did not resolve: no alias, and no unqualified_search registries are configured",
                         hint=ALIAS_HINT)
    candidates = [parse_reference(text, registry) for registry in search]
    if len(candidates) == 1 or conf.short_name_mode != "enforcing":
        return candidates
    if interactive:
        return [choose(text, candidates)]
    listed = ", ".join(str(c) for c in candidates)
    raise UsageError(f"short name {text!r} is ambiguous: it may be any of {listed}", hint=ALIAS_HINT)


def choose(text: str, candidates: list[Reference], stdin: TextIO | None = None, stderr: TextIO | None = None) -> Reference:
    """Ask on the terminal which candidate ``text`` means (podman prompts the same way): a
    numbered list on stderr, a number read from stdin. End of input or ctrl-c: UsageError."""
    stdin = stdin or sys.stdin
    stderr = stderr or sys.stderr
    stderr.write(f"? Please select an image for {text}:\n")
    for i, candidate in enumerate(candidates, 1):
        stderr.write(f"  {i}) {candidate}\n")
    while True:
        stderr.write(f"Enter a number (1-{len(candidates)}): ")
        stderr.flush()
        try:
            line = stdin.readline()
        except KeyboardInterrupt:
            line = ""
        if not line:
            stderr.write("\n")
            raise UsageError(f"short name {text!r}: no image selected", hint=ALIAS_HINT)
        answer = line.strip()
        if answer.isdigit() and 1 <= int(answer) <= len(candidates):
            return candidates[int(answer) - 1]
