"""Docker/podman-style image references: ``[REGISTRY[:PORT]/]NAME[:TAG][@DIGEST]``.

Contracts: :func:`parse_reference` returns a fully qualified :class:`Reference` (a registry is
always set, ``docker.io`` single names gain ``library/``, ``latest`` is the tag when neither a tag
nor a digest is given) or raises :class:`UsageError` (exit 125) whose hint shows the expected form.
Grammar after distribution/reference: lowercase path components separated by ``/`` with ``.``,
``_``, ``__`` or dashes inside; tags ``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``; sha256/sha512 digests.
"""
from __future__ import annotations

from capsa.errors import UsageError
from capsa.record import record
from capsa.store.blobs import is_sha256_hex

DOCKER_HUB = "docker.io"
NAME_MAX = 255
TAG_MAX = 128
HINT = "expected [REGISTRY[:PORT]/]NAME[:TAG] or NAME@sha256:DIGEST, e.g. docker.io/library/busybox:latest"

# The grammar's character classes, checked by hand: ``re`` costs a container start ~4 ms to import.
_DIGITS = "0123456789"
_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz" + _DIGITS)
_ALNUM = frozenset(_LOWER_ALNUM | set("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
_WORD = frozenset(_ALNUM | {"_"})
_TAG_CHARS = frozenset(_WORD | {".", "-"})
_HEX = frozenset("0123456789abcdefABCDEF")


def _is_path_component(part: str) -> bool:
    """``[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*``: alphanumeric runs joined by ``.``, ``_``,
    ``__`` or dashes."""
    if not part or part[0] not in _LOWER_ALNUM or part[-1] not in _LOWER_ALNUM:
        return False
    separator = ""
    for c in part:
        if c in _LOWER_ALNUM:
            if separator not in ("", ".", "_", "__") and separator.strip("-"):
                return False
            separator = ""
        elif c in "._-":
            separator += c
        else:
            return False
    return True


def _is_domain_component(label: str) -> bool:
    """``[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]``."""
    return bool(label) and label[0] in _ALNUM and label[-1] in _ALNUM and all(c in _ALNUM or c == "-" for c in label)


def _is_domain(text: str) -> bool:
    """A registry host, optionally with a port: ``host.name[:PORT]`` or ``[IPv6][:PORT]``."""
    if text.startswith("["):
        close = text.find("]")
        address, rest = text[1:close], text[close + 1:]
        if close == -1 or not address or not all(c in _HEX or c == ":" for c in address):
            return False
    else:
        address, colon, port = text.partition(":")
        rest = colon + port
        if not all(_is_domain_component(label) for label in address.split(".")):
            return False
    return not rest or (rest[0] == ":" and len(rest) > 1 and all(c in _DIGITS for c in rest[1:]))


def _is_tag(tag: str) -> bool:
    """``[A-Za-z0-9_][A-Za-z0-9_.-]*`` (the length is checked apart)."""
    return bool(tag) and tag[0] in _WORD and all(c in _TAG_CHARS for c in tag)


@record(frozen=True)
class Reference:
    """A fully qualified image reference; ``tag`` and ``digest`` may both be set, not both be None."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """Registry and repository, without tag or digest: ``docker.io/library/busybox``."""
        return f"{self.registry}/{self.repository}"

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + self._suffix()

    def familiar(self) -> str:
        """The short form Docker prints: ``busybox:latest``, ``user/app:1``; other registries stay whole."""
        if self.registry != DOCKER_HUB:
            return str(self)
        repo = self.repository
        if repo.startswith("library/") and repo.count("/") == 1:
            repo = repo[len("library/"):]
        return repo + self._suffix()


def _invalid(text: str, why: str) -> UsageError:
    return UsageError(f"invalid image reference {text!r}: {why}", HINT)


def _parse(text: str, default_registry: str) -> tuple[Reference, bool]:
    """The reference and whether ``text`` named its registry explicitly."""
    if not text:
        raise _invalid(text, "it is empty")
    if any(c.isspace() for c in text):
        raise _invalid(text, "it contains whitespace")
    rest, at, digest = text.partition("@")
    if at:
        from capsa.image.manifest import digest_problem

        problem = digest_problem(digest)
        if problem:
            raise _invalid(text, problem)
    tag: str | None = None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        rest, tag = rest[:colon], rest[colon + 1:]
        if len(tag) > TAG_MAX:
            raise _invalid(text, f"tag is longer than {TAG_MAX} characters")
        if not _is_tag(tag):
            raise _invalid(text, f"invalid tag {tag!r}")
    slash = rest.find("/")
    first = rest[:slash]
    explicit = slash != -1 and ("." in first or ":" in first or first == "localhost")
    registry, path = (first, rest[slash + 1:]) if explicit else (default_registry, rest)
    if explicit and not _is_domain(registry):
        raise _invalid(text, f"invalid registry {registry!r}")
    if not path:
        raise _invalid(text, "the repository name is empty")
    if path != path.lower():
        raise _invalid(text, "repository name must be lowercase")
    if not all(_is_path_component(part) for part in path.split("/")):
        raise _invalid(text, f"invalid repository name {path!r}")
    if not explicit and is_sha256_hex(path):
        raise _invalid(text, "a 64-character hexadecimal string is an image ID, not a name")
    if registry == "index.docker.io":
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in path:
        path = "library/" + path
    if len(registry) + 1 + len(path) > NAME_MAX:
        raise _invalid(text, f"repository name is longer than {NAME_MAX} characters")
    if tag is None and not at:
        tag = "latest"
    return Reference(registry, path, tag, digest if at else None), explicit


def parse_reference(text: str, default_registry: str = "localhost") -> Reference:
    """Parse and normalise ``text``; a name without registry gets ``default_registry``.

    ``busybox`` -> ``localhost/busybox:latest`` (podman's naming of local images);
    ``docker.io/busybox`` -> ``docker.io/library/busybox:latest``. Invalid -> UsageError.
    """
    return _parse(text, default_registry)[0]


def short_name_candidates(text: str, search_registries: list[str] | tuple[str, ...]) -> list[Reference]:
    """Where a pull of ``text`` may look, in order: itself if it names a registry, else each
    search registry in turn (empty when there are none). Invalid -> UsageError."""
    ref, explicit = _parse(text, DOCKER_HUB)
    if explicit:
        return [ref]
    return [_parse(text, registry)[0] for registry in search_registries]


def is_qualified(text: str) -> bool:
    """Whether ``text`` names its registry (``quay.io/x``, ``localhost/x``, ``host:5000/x``)."""
    first, slash, _ = text.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")
