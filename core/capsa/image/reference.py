"""Docker/podman-style image references: ``[REGISTRY[:PORT]/]NAME[:TAG][@DIGEST]``.

Contracts: :func:`parse_reference` returns a fully qualified :class:`Reference` (a registry is
always set, ``docker.io`` single names gain ``library/``, ``latest`` is the tag when neither a tag
nor a digest is given) or raises :class:`UsageError` (exit 125) whose hint shows the expected form.
Grammar after distribution/reference: lowercase path components separated by ``/`` with ``.``,
``_``, ``__`` or dashes inside; tags ``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``; sha256/sha512 digests.
"""
from __future__ import annotations

from capsa.errors import UsageError
from capsa.fastpath.record import record
from capsa.fastpath.names import is_domain, is_path_component, is_sha256_hex, is_tag

DOCKER_HUB = "docker.io"
NAME_MAX = 255
TAG_MAX = 128
HINT = "expected [REGISTRY[:PORT]/]NAME[:TAG] or NAME@sha256:DIGEST, e.g. docker.io/library/busybox:latest"

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
        if not is_tag(tag):
            raise _invalid(text, f"invalid tag {tag!r}")
    slash = rest.find("/")
    first = rest[:slash]
    explicit = slash != -1 and ("." in first or ":" in first or first == "localhost")
    registry, path = (first, rest[slash + 1:]) if explicit else (default_registry, rest)
    if explicit and not is_domain(registry):
        raise _invalid(text, f"invalid registry {registry!r}")
    if not path:
        raise _invalid(text, "the repository name is empty")
    if path != path.lower():
        raise _invalid(text, "repository name must be lowercase")
    if not all(is_path_component(part) for part in path.split("/")):
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
