"""The registry flags as the CLI builds them and the engine uses them: ``--creds USERNAME`` asks
for the password for ``pull`` as for ``push`` (one piece of code), the configured registry
driver is reused within a session, and an ambiguous image id prefix is its own error (``run``
and ``create`` pull nothing for it)."""
from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from capsa.cli.login import read_password
from capsa.cli.remote import complete_creds
from capsa.engine import registries
from capsa.engine.registries import RemoteOptions
from capsa.engine.session import GlobalOptions, Session, open_store
from capsa.errors import AmbiguousImage, ImageNotFound, UsageError
from capsa.testing.registryserver import RegistryServer
from conftest import CAPSA, Capsa
from registries import BASIC_PASSWORD, BASIC_USER


def test_password_stdin_loses_one_line_end_only() -> None:
    """podman reads all of standard input and strips one final newline (not a line per line)."""
    assert read_password(io.StringIO("pw\n")) == "pw"
    assert read_password(io.StringIO("pw\r\n")) == "pw"
    assert read_password(io.StringIO("pw")) == "pw"
    assert read_password(io.StringIO("p w \n")) == "p w "
    assert read_password(io.StringIO("two\nlines\n")) == "two\nlines"
    assert read_password(io.StringIO("pw\n\n")) == "pw\n"
    assert read_password(io.StringIO("")) == ""


class NoTerminal(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_creds_without_a_password_and_without_a_terminal_is_refused() -> None:
    assert complete_creds(None) is None and complete_creds("alice:pw") == "alice:pw"
    assert complete_creds("alice:") == "alice:"  # an empty password, said explicitly
    with pytest.raises(UsageError, match="--creds alice: no password given, and no terminal to ask for it"):
        complete_creds("alice", NoTerminal())


@pytest.mark.parametrize("command", ["pull", "push"])
def test_pull_and_push_refuse_creds_without_a_password_before_any_request(capsa: Capsa, command: str) -> None:
    """Not an empty password sent: the same one-line refusal for both commands (no terminal)."""
    r = capsa(command, "--creds", "alice", "127.0.0.1:9/app:1", input="")
    assert r.returncode == 125, r.stderr
    assert r.stderr.splitlines()[0] == "Error: --creds alice: no password given, and no terminal to ask for it"


def test_pull_creds_asks_for_the_password_on_a_terminal(capsa: Capsa, basic_registry: RegistryServer) -> None:
    """``pull --creds USER`` on a terminal: the password is asked (not echoed) and used: the
    registry accepts it, so the pull fails only because the image is not there."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.execve(str(CAPSA), [str(CAPSA), "--root", str(capsa.root), "--runroot", str(capsa.runroot), "pull",
                               "--tls-verify=false", "--creds", BASIC_USER, f"{basic_registry.host}/nothing:1"], capsa.env)
    seen = b""
    try:
        while b"Password: " not in seen:
            chunk = os.read(fd, 1024)
            assert chunk, seen
            seen += chunk
        os.write(fd, BASIC_PASSWORD.encode() + b"\n")
        while True:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the child is gone
                break
            if not chunk:
                break
            seen += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = seen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 125, text
    assert BASIC_PASSWORD not in text
    assert "unauthorized" not in text.lower() and "authentication required" not in text.lower(), text
    assert "nothing" in text and ("not found" in text or "unknown" in text), text


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Session:
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "auth.json"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    (tmp_path / "auth.json").write_text(json.dumps({"auths": {}}))
    return Session(GlobalOptions(str(tmp_path / "root"), str(tmp_path / "run"), "vfs"))


def test_the_configured_driver_is_reused_within_a_session(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """``pull -a`` (one client per tag), ``--pull=newer`` (a check, then the pull), mirrors:
    the credentials hook and the auth files are consulted once per registry, repository and
    flags, and the driver is configured again only when what applies to a registry changes."""
    asked: list[str] = []
    monkeypatch.setattr(registries, "credentials_hook", lambda registry: asked.append(registry))
    driver = session.driver("registry")
    configured: list[tuple[str, bool]] = []
    monkeypatch.setattr(driver, "configure", lambda registry, endpoint: configured.append((registry, endpoint.tls_verify)))
    for _ in range(3):
        assert registries.client(session, "r.example:5000", RemoteOptions(), repository="team/app") is driver
    assert asked == ["r.example:5000"] and configured == [("r.example:5000", True)]
    registries.client(session, "r.example:5000", RemoteOptions(tls_verify=False), repository="team/app")
    assert len(asked) == 2 and configured[-1] == ("r.example:5000", False)
    registries.client(session, "r.example:5000", RemoteOptions(), repository="team/app")  # known, but not what is configured
    assert len(asked) == 2 and configured[-1] == ("r.example:5000", True) and len(configured) == 3
    registries.client(session, "m.example", RemoteOptions(), repository="team/app")
    registries.client(session, "r.example:5000", RemoteOptions(), repository="team/app")
    assert len(asked) == 3 and len(configured) == 4  # another registry's configuration leaves this one alone
    other = Session(session.options)  # a new session (another command) asks again
    monkeypatch.setattr(other.driver("registry"), "configure", lambda registry, endpoint: configured.append((registry, True)))
    registries.client(other, "r.example:5000", RemoteOptions(), repository="team/app")
    assert len(asked) == 4 and len(configured) == 5


def _colliding_configs() -> tuple[bytes, bytes, str]:
    """Two image configs whose ids (sha256 of the config) share their first 3 hex digits."""
    import hashlib

    seen: dict[str, bytes] = {}
    for n in range(100000):
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                             "config": {"Labels": {"n": str(n)}}}).encode()
        prefix = hashlib.sha256(config).hexdigest()[:3]
        if prefix in seen:
            return seen[prefix], config, prefix
        seen[prefix] = config
    raise AssertionError("no collision")


def test_an_ambiguous_id_prefix_is_its_own_error_and_run_pulls_nothing_for_it(session: Session, capsa: Capsa) -> None:
    first, second, prefix = _colliding_configs()
    store = open_store(session)
    with store.writing():
        store.add_image(first, [], ["localhost/one:1"])
        store.add_image(second, [], ["localhost/two:1"])
    with store.reading(), pytest.raises(AmbiguousImage) as info:
        store.find_image(prefix)
    assert isinstance(info.value, ImageNotFound) and "image id prefix is ambiguous (2 images)" in info.value.message
    root, run = session.config.root, session.config.runroot
    r = subprocess.run([str(CAPSA), "--root", root, "--runroot", run, "--storage-driver", "vfs", "create", prefix],
                       capture_output=True, text=True, env=capsa.env, timeout=60)
    assert r.returncode == 125 and r.stderr.splitlines()[0] == f"Error: {prefix}: image id prefix is ambiguous (2 images)", r.stderr
    assert "Trying to pull" not in r.stderr and "Resolving" not in r.stderr
