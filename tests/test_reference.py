"""Image references: grammar (distribution/reference), normalisation, and clear refusals."""
from __future__ import annotations

import pytest

from capsa.errors import EXIT_ENGINE, UsageError
from capsa.image.reference import Reference, parse_reference, short_name_candidates

SHA = "sha256:" + "0123456789abcdef" * 4
SHA512 = "sha512:" + "ab" * 64

# text -> (registry, repository, tag, digest) with the default registry "localhost"
VALID = {
    "busybox": ("localhost", "busybox", "latest", None),
    "busybox:1.36": ("localhost", "busybox", "1.36", None),
    "library/busybox": ("localhost", "library/busybox", "latest", None),
    "localhost/myimg": ("localhost", "myimg", "latest", None),
    "localhost/myimg:v2": ("localhost", "myimg", "v2", None),
    "docker.io/busybox": ("docker.io", "library/busybox", "latest", None),
    "docker.io/library/busybox:latest": ("docker.io", "library/busybox", "latest", None),
    "index.docker.io/busybox:1.36": ("docker.io", "library/busybox", "1.36", None),
    "docker.io/user/app": ("docker.io", "user/app", "latest", None),
    "quay.io/podman/hello": ("quay.io", "podman/hello", "latest", None),
    "registry.fedoraproject.org/fedora:40": ("registry.fedoraproject.org", "fedora", "40", None),
    "localhost:5000/a/b:v1": ("localhost:5000", "a/b", "v1", None),
    "127.0.0.1:5000/a/b@" + SHA: ("127.0.0.1:5000", "a/b", None, SHA),
    "example.com/a/b/c/d:1.0-rc.1_x": ("example.com", "a/b/c/d", "1.0-rc.1_x", None),
    "Example.COM:443/x": ("Example.COM:443", "x", "latest", None),  # host names are case-insensitive
    "[::1]:5000/foo:bar": ("[::1]:5000", "foo", "bar", None),
    "foo:5000": ("localhost", "foo", "5000", None),  # no slash: 5000 is a tag, not a port
    "busybox@" + SHA: ("localhost", "busybox", None, SHA),
    "busybox:1.36@" + SHA: ("localhost", "busybox", "1.36", SHA),
    "app@" + SHA512: ("localhost", "app", None, SHA512),
    "x/a.b_c__d-e--f/g": ("localhost", "x/a.b_c__d-e--f/g", "latest", None),
    "a.b/c": ("a.b", "c", "latest", None),  # a dot in the first component makes it a registry
    "x:" + "T" * 128: ("localhost", "x", "T" * 128, None),
    "x:_Under.score-": ("localhost", "x", "_Under.score-", None),
    "my-registry-1.example/team/app": ("my-registry-1.example", "team/app", "latest", None),
}

# text -> substring of the refusal
INVALID = {
    "": "empty",
    " busybox": "whitespace",
    "busy box": "whitespace",
    "Busybox": "must be lowercase",
    "docker.io/Library/busybox": "must be lowercase",
    "localhost/MyImg:latest": "must be lowercase",
    "busybox:": "invalid tag ''",
    "busybox:-x": "invalid tag '-x'",
    "busybox:.x": "invalid tag '.x'",
    "busybox:a+b": "invalid tag 'a+b'",
    "busybox:ta\u00e9": "invalid tag",
    "x:" + "t" * 129: "longer than 128",
    "busybox@": "invalid digest ''",
    "busybox@sha256:abc": "needs 64",
    "busybox@sha256:" + "A" * 64: "lowercase hex",
    "busybox@md5:" + "a" * 32: "unsupported digest algorithm",
    "busybox@" + SHA + "@" + SHA: "invalid digest",
    ":tag": "repository name is empty",
    "/busybox": "invalid repository name",
    "busybox/": "invalid repository name",
    "a//b": "invalid repository name",
    "a..b": "invalid repository name",
    "a___b": "invalid repository name",
    "-a": "invalid repository name",
    "a-": "invalid repository name",
    "a_": "invalid repository name",
    "a$b": "invalid repository name",
    "localhost/": "repository name is empty",
    "example.com:abc/x": "invalid registry",
    "-bad.example/x": "invalid registry",
    "exa_mple.com/x": "invalid registry",
    "0123456789abcdef" * 4: "image ID",
    "example.com/" + "a" * 250: "longer than 255",
}


@pytest.mark.parametrize("text", sorted(VALID))
def test_valid(text: str) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == VALID[text]
    assert parse_reference(str(ref)) == ref  # the fully qualified form is a fixed point


@pytest.mark.parametrize("text", sorted(INVALID))
def test_invalid(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_reference(text)
    err = info.value
    assert INVALID[text] in err.message and "\n" not in err.message
    assert "NAME[:TAG]" in err.hint
    assert err.exit_code == EXIT_ENGINE == 125


@pytest.mark.parametrize("text, expected", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("user/app:1", "docker.io/user/app:1"),
    ("quay.io/x/y", "quay.io/x/y:latest"),
    ("localhost/x", "localhost/x:latest"),
])
def test_default_registry(text: str, expected: str) -> None:
    assert str(parse_reference(text, default_registry="docker.io")) == expected


@pytest.mark.parametrize("ref, full, familiar", [
    (Reference("docker.io", "library/busybox", "latest", None), "docker.io/library/busybox:latest", "busybox:latest"),
    (Reference("docker.io", "library/a/b", "1", None), "docker.io/library/a/b:1", "library/a/b:1"),
    (Reference("docker.io", "user/app", None, SHA), f"docker.io/user/app@{SHA}", f"user/app@{SHA}"),
    (Reference("localhost", "myimg", "latest", None), "localhost/myimg:latest", "localhost/myimg:latest"),
    (Reference("127.0.0.1:5000", "a/b", None, SHA), f"127.0.0.1:5000/a/b@{SHA}", f"127.0.0.1:5000/a/b@{SHA}"),
    (Reference("quay.io", "a/b", "t", SHA), f"quay.io/a/b:t@{SHA}", f"quay.io/a/b:t@{SHA}"),
])
def test_str_and_familiar(ref: Reference, full: str, familiar: str) -> None:
    assert str(ref) == full and ref.familiar() == familiar
    assert full.startswith(ref.name) and full[len(ref.name)] in ":@"


def test_reference_is_hashable_and_frozen() -> None:
    ref = parse_reference("busybox")
    assert {ref: 1}[parse_reference("localhost/busybox:latest")] == 1
    with pytest.raises(AttributeError):
        ref.tag = "x"  # type: ignore[misc]


def test_short_name_candidates() -> None:
    search = ["registry.fedoraproject.org", "quay.io", "docker.io"]
    assert [str(r) for r in short_name_candidates("busybox:1", search)] == [
        "registry.fedoraproject.org/busybox:1", "quay.io/busybox:1", "docker.io/library/busybox:1"]
    assert [str(r) for r in short_name_candidates("quay.io/x/y", search)] == ["quay.io/x/y:latest"]
    assert [str(r) for r in short_name_candidates("localhost/x", search)] == ["localhost/x:latest"]
    assert short_name_candidates("busybox", []) == []
    with pytest.raises(UsageError):
        short_name_candidates("BusyBox", search)

