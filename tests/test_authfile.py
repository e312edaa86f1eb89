"""Auth files (capsa.registry.authfile): podman's auth.json and docker's config.json, read and
written as those tools do, on real files."""
from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from capsa.drivers.registry import Credentials
from capsa.errors import ConfigError
from capsa.registry import authfile


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_which_file() -> None:
    env = {"XDG_RUNTIME_DIR": "/run/user/1000", "REGISTRY_AUTH_FILE": "/env.json"}
    assert authfile.auth_file("/flag.json", "/conf.json", env) == ("/flag.json", True)
    assert authfile.auth_file(None, "/conf.json", env) == ("/env.json", True)
    assert authfile.auth_file(None, "/conf.json", {"XDG_RUNTIME_DIR": "/x"}) == ("/conf.json", False)
    assert authfile.auth_file(None, None, {"XDG_RUNTIME_DIR": "/x"}) == ("/x/containers/auth.json", False)
    assert authfile.auth_file(None, None, {}) == (f"/run/containers/{os.getuid()}/auth.json", False)  # podman's, for root


def test_read_paths_fall_back_to_podman_and_docker_files_unless_explicit() -> None:
    env = {"HOME": "/home/u", "XDG_CONFIG_HOME": "/cfg"}
    assert authfile.read_paths("/a.json", False, env) == ["/a.json", "/cfg/containers/auth.json", "/home/u/.docker/config.json"]
    assert authfile.read_paths("/a.json", False, {**env, "DOCKER_CONFIG": "/d"})[-1] == "/d/config.json"
    assert authfile.read_paths("/a.json", True, env) == ["/a.json"]


def test_keys_normalise_as_podman_reads_them() -> None:
    assert authfile.normalize_key("https://index.docker.io/v1/") == "docker.io"
    assert authfile.normalize_key("registry-1.docker.io") == "docker.io"
    assert authfile.normalize_key("http://r.example:5000/v2/") == "r.example:5000"
    assert authfile.normalize_key("r.example:5000/ns/app") == "r.example:5000/ns/app"
    assert authfile.lookup_keys("r.example", "a/b/c") == ["r.example/a/b/c", "r.example/a/b", "r.example/a", "r.example"]


def test_docker_format_entries(tmp_path: Path) -> None:
    path = write(tmp_path / "config.json", {"auths": {
        "https://index.docker.io/v1/": {"auth": b64("hub:p:with:colons")},
        "https://r.example:5000/v1/": {"auth": b64("old:pw")},
        "token.example": {"identitytoken": "refresh-token", "auth": b64("ignored:x")},
        "empty.example": {},
        "garbage.example": {"auth": "!!!not base64"},
    }, "HttpHeaders": {"User-Agent": "x"}})
    found = authfile.find_credentials([str(path)], "docker.io", "library/busybox")
    assert found is not None and found.credentials == Credentials("hub", "p:with:colons")
    assert found.key == "https://index.docker.io/v1/" and found.path == str(path)
    assert authfile.find_credentials([str(path)], "r.example:5000").credentials.username == "old"
    assert authfile.find_credentials([str(path)], "token.example").credentials == Credentials("<token>", "refresh-token")
    assert authfile.find_credentials([str(path)], "empty.example") is None
    assert authfile.find_credentials([str(path)], "garbage.example") is None
    assert authfile.find_credentials([str(path)], "index.docker.io").credentials.username == "hub"


def test_namespace_keys_longest_match_first(tmp_path: Path) -> None:
    path = write(tmp_path / "auth.json", {"auths": {
        "r.example": {"auth": b64("registry:1")},
        "r.example/team": {"auth": b64("team:2")},
        "r.example/team/app": {"auth": b64("app:3")},
    }})
    user = lambda repo: authfile.find_credentials([str(path)], "r.example", repo).credentials.username  # noqa: E731
    assert user("team/app") == "app"
    assert user("team/app/sub") == "app"
    assert user("team/other") == "team"
    assert user("teamwork/x") == "registry"
    assert user("") == "registry"


def test_the_first_file_that_knows_the_registry_wins(tmp_path: Path) -> None:
    first = write(tmp_path / "a.json", {"auths": {"one.example": {"auth": b64("a:1")}}})
    second = write(tmp_path / "b.json", {"auths": {"one.example": {"auth": b64("b:2")}, "two.example": {"auth": b64("b:3")}}})
    paths = [str(tmp_path / "missing.json"), str(first), str(second)]
    assert authfile.find_credentials(paths, "one.example").credentials.username == "a"
    assert authfile.find_credentials(paths, "two.example").credentials.username == "b"


def test_credential_helpers_warn_and_do_not_crash(tmp_path: Path) -> None:
    path = write(tmp_path / "config.json", {"auths": {"helped.example": {}}, "credHelpers": {"helped.example": "ecr-login"},
                                            "credsStore": "desktop"})
    warnings: list[str] = []
    assert authfile.find_credentials([str(path)], "helped.example", warn=warnings.append) is None
    assert len(warnings) == 1 and "credential helpers are not supported" in warnings[0]
    assert "docker-credential-ecr-login" in warnings[0] and str(path) in warnings[0]
    warnings.clear()
    assert authfile.find_credentials([str(path)], "other.example", warn=warnings.append) is None
    assert len(warnings) == 1 and "credential stores are not supported" in warnings[0]


def test_a_broken_file_is_one_line_without_its_content(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text('{"auths": {"r.example": {"auth": "c2VjcmV0LXRleHQ="}}')  # cut short
    with pytest.raises(ConfigError) as info:
        authfile.find_credentials([str(path)], "r.example")
    assert "is not valid JSON" in info.value.message and "c2VjcmV0" not in info.value.message
    path.write_text('["not", "an", "object"]')
    with pytest.raises(ConfigError, match="is not an auth file"):
        authfile.load(str(path))


def test_store_creates_a_private_file_and_keeps_other_keys(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "auth.json"
    authfile.store(str(path), "r.example:5000", Credentials("alice", "s3cret"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == {"auths": {"r.example:5000": {"auth": b64("alice:s3cret")}}}
    path.write_text(json.dumps({"auths": {"r.example:5000": {"auth": b64("alice:s3cret")}, "x.example": {"auth": b64("x:y")}},
                                "credHelpers": {"h.example": "pass"}, "other": [1, 2]}))
    path.chmod(0o644)
    authfile.store(str(path), "r.example:5000", Credentials("bob", "pw2"))
    data = json.loads(path.read_text())
    assert data == {"auths": {"r.example:5000": {"auth": b64("bob:pw2")}, "x.example": {"auth": b64("x:y")}},
                    "credHelpers": {"h.example": "pass"}, "other": [1, 2]}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # (a new file replaced it)
    assert [p.name for p in path.parent.iterdir()] == ["auth.json"]  # no temporary left


def test_remove_and_remove_all(tmp_path: Path) -> None:
    path = write(tmp_path / "auth.json", {"auths": {"a.example": {"auth": b64("a:1")}, "https://b.example/v1/": {"auth": b64("b:2")},
                                                    "b.example/ns": {"auth": b64("c:3")}}, "keep": True})
    assert authfile.remove(str(path), "b.example")  # the URL key normalises to it; the namespace key stays
    assert json.loads(path.read_text())["auths"] == {"a.example": {"auth": b64("a:1")}, "b.example/ns": {"auth": b64("c:3")}}
    assert not authfile.remove(str(path), "nobody.example")
    authfile.remove_all(str(path))
    assert json.loads(path.read_text()) == {"auths": {}, "keep": True}
    assert not authfile.remove(str(tmp_path / "missing.json"), "a.example")


def test_concurrent_stores_lose_no_update(tmp_path: Path) -> None:
    """Logins at once, from several processes: every key survives (the read-modify-write is
    locked)."""
    import multiprocessing

    path = str(tmp_path / "auth.json")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_store_many, args=(path, n)) for n in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert len(json.loads(Path(path).read_text())["auths"]) == 4 * 10


def _store_many(path: str, n: int) -> None:
    for i in range(10):
        authfile.store(path, f"r{n}-{i}.example", Credentials(f"u{n}", "p"))


def test_a_symlinked_auth_file_is_written_through(tmp_path: Path) -> None:
    """An auth file that is a symbolic link (dotfiles kept elsewhere) stays a link: the file it
    points to gets the update, and the temporary file is made beside that file."""
    real = write(tmp_path / "dotfiles" / "auth.json", {"auths": {"x.example": {"auth": b64("x:y")}}})
    link = tmp_path / "containers" / "auth.json"
    link.parent.mkdir()
    link.symlink_to(os.path.relpath(real, link.parent))
    authfile.store(str(link), "r.example", Credentials("alice", "pw"))
    assert link.is_symlink() and link.resolve() == real
    assert json.loads(real.read_text())["auths"] == {"x.example": {"auth": b64("x:y")}, "r.example": {"auth": b64("alice:pw")}}
    assert authfile.remove(str(link), "x.example") and link.is_symlink()
    authfile.remove_all(str(link))
    assert link.is_symlink() and json.loads(real.read_text()) == {"auths": {}}
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["auth.json", "auth.json", "containers", "dotfiles"]
