"""Short-name resolution (capsa.registry.names.pull_candidates): qualified names, aliases, the
``capsa_resolve_short_name`` hook (through a real hook plugin package), the search list, the
enforcing mode's ambiguity error and its terminal prompt."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from capsa.engine.registries import access
from capsa.engine.session import GlobalOptions, Session
from capsa.errors import UsageError
from capsa.registry import names
from capsa.registry.connect import Access
from conftest import isolated_env
from test_third_party import package_fixture


@pytest.fixture
def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Access]:
    """The Access (what the registry layer gets) of a Session reading this capsa.toml."""
    def make(text: str) -> Access:
        path = tmp_path / "capsa.toml"
        path.write_text(text)
        monkeypatch.setenv("CAPSA_CONFIG", str(path))
        return access(Session(GlobalOptions()))

    return make


def strs(refs: list) -> list[str]:
    return [str(r) for r in refs]


def test_a_qualified_name_is_itself(configure: Callable[[str], Access]) -> None:
    sess = configure('[registry]\nunqualified_search = ["quay.io", "docker.io"]\n[registry.aliases]\nbusybox = "quay.io/b/busybox"\n')
    assert strs(names.pull_candidates(sess, "docker.io/busybox", False)) == ["docker.io/library/busybox:latest"]
    assert strs(names.pull_candidates(sess, "localhost:5000/busybox:1", False)) == ["localhost:5000/busybox:1"]
    assert strs(names.pull_candidates(sess, "localhost/x", False)) == ["localhost/x:latest"]


def test_an_alias_wins_and_keeps_the_tag_or_digest(configure: Callable[[str], Access]) -> None:
    sess = configure('''
[registry]
unqualified_search = ["quay.io", "docker.io"]
[registry.aliases]
busybox = "r.example:5000/mirror/busybox"
"team/app" = "r.example:5000/team/app"
''')
    assert strs(names.pull_candidates(sess, "busybox", False)) == ["r.example:5000/mirror/busybox:latest"]
    assert strs(names.pull_candidates(sess, "busybox:1.36", False)) == ["r.example:5000/mirror/busybox:1.36"]
    digest = "sha256:" + "b" * 64
    assert strs(names.pull_candidates(sess, f"busybox@{digest}", False)) == [f"r.example:5000/mirror/busybox@{digest}"]
    assert strs(names.pull_candidates(sess, "team/app:2", False)) == ["r.example:5000/team/app:2"]


def test_one_search_registry_is_unambiguous(configure: Callable[[str], Access]) -> None:
    sess = configure("")  # default: docker.io alone
    assert strs(names.pull_candidates(sess, "busybox", False)) == ["docker.io/library/busybox:latest"]
    assert strs(names.pull_candidates(sess, "user/app:3", False)) == ["docker.io/user/app:3"]


def test_enforcing_without_a_terminal_lists_the_candidates(configure: Callable[[str], Access]) -> None:
    sess = configure('[registry]\nunqualified_search = ["quay.io", "r.example:5000", "docker.io"]\n')
    with pytest.raises(UsageError) as info:
        names.pull_candidates(sess, "busybox:1", False)
    message = info.value.message
    assert message == ("short name 'busybox:1' is ambiguous: it may be any of quay.io/busybox:1, "
                       "r.example:5000/busybox:1, docker.io/library/busybox:1")
    assert "fully qualified name" in info.value.hint and "[registry.aliases]" in info.value.hint


@pytest.mark.parametrize("mode", ["permissive", "disabled"])
def test_other_modes_try_every_search_registry_in_order(configure: Callable[[str], Access], mode: str) -> None:
    sess = configure(f'[registry]\nunqualified_search = ["quay.io", "docker.io"]\nshort_name_mode = "{mode}"\n')
    assert strs(names.pull_candidates(sess, "busybox", False)) == ["quay.io/busybox:latest", "docker.io/library/busybox:latest"]


def test_no_search_registry_and_no_alias(configure: Callable[[str], Access]) -> None:
    sess = configure("[registry]\nunqualified_search = []\n")
    with pytest.raises(UsageError, match="no unqualified_search registries are configured"):
        names.pull_candidates(sess, "busybox", False)


def test_on_a_terminal_the_user_chooses(configure: Callable[[str], Access], monkeypatch: pytest.MonkeyPatch) -> None:
    sess = configure('[registry]\nunqualified_search = ["quay.io", "docker.io"]\n')
    err = io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.StringIO("7\nnope\n2\n"))
    monkeypatch.setattr(sys, "stderr", err)
    assert strs(names.pull_candidates(sess, "busybox", True)) == ["docker.io/library/busybox:latest"]
    shown = err.getvalue()
    assert "1) quay.io/busybox:latest" in shown and "2) docker.io/library/busybox:latest" in shown
    assert shown.count("Enter a number (1-2): ") == 3  # asked again after a wrong answer
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(UsageError, match="no image selected"):
        names.pull_candidates(sess, "busybox", True)


def test_the_prompt_on_a_real_terminal(tmp_path: Path) -> None:
    """The prompt through a pseudo-terminal, as a user sees it."""
    import os
    import pty

    (tmp_path / "capsa.toml").write_text('[registry]\nunqualified_search = ["quay.io", "docker.io"]\n')
    env = {**isolated_env(tmp_path), "CAPSA_CONFIG": str(tmp_path / "capsa.toml")}
    code = ("import sys\nfrom capsa.engine.registries import access\nfrom capsa.engine.session import GlobalOptions, Session\n"
            "from capsa.registry import names\n"
            "print('CHOSEN', names.pull_candidates(access(Session(GlobalOptions())), 'busybox', sys.stdin.isatty())[0])")
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.execve(sys.executable, [sys.executable, "-c", code], env)
    seen = b""
    try:
        while b"Enter a number" not in seen:
            seen += os.read(fd, 1024)
        os.write(fd, b"1\n")
        while b"CHOSEN" not in seen or not seen.endswith(b"\n"):
            seen += os.read(fd, 1024)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert b"CHOSEN quay.io/busybox:latest" in seen


def test_an_invalid_name_is_refused_before_anything(configure: Callable[[str], Access]) -> None:
    sess = configure("")
    with pytest.raises(UsageError, match="invalid image reference"):
        names.pull_candidates(sess, "Busy Box", False)


# ----------------------------------------------------------------------------- the hooks, from a real plugin package

recorder = package_fixture("capsa-hook-recorder")


def run_snippet(tmp_path: Path, code: str, config: str, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "capsa.toml").write_text(config)
    full = {**isolated_env(tmp_path), "CAPSA_CONFIG": str(tmp_path / "capsa.toml"),
            "CAPSA_HOOK_RECORD": str(tmp_path / "hooks.jsonl"), "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"), **env}
    prelude = ("from capsa.engine.registries import access\nfrom capsa.engine.session import GlobalOptions, Session\n"
               "sess = access(Session(GlobalOptions()))\n")
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, env=full, timeout=60)


def calls(tmp_path: Path, hook: str) -> list[dict]:
    path = tmp_path / "hooks.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [r for r in rows if r["hook"] == hook]


RESOLVE = "from capsa.registry.names import pull_candidates\nprint(*pull_candidates(sess, {!r}, False))"


def test_the_short_name_hook_answers_after_aliases_before_the_search_list(recorder: None, tmp_path: Path) -> None:
    config = ('[registry]\nunqualified_search = ["quay.io", "docker.io"]\n'
              '[registry.aliases]\naliased = "r.example/aliased"\n')
    answers = json.dumps({"busybox": "hooked.example:5000/lib/busybox", "pinned": "hooked.example/p:7"})
    r = run_snippet(tmp_path, RESOLVE.format("busybox:1.36"), config, CAPSA_HOOK_SHORT_NAMES=answers)
    assert (r.returncode, r.stdout) == (0, "hooked.example:5000/lib/busybox:1.36\n"), r.stderr
    [call] = calls(tmp_path, "capsa_resolve_short_name")
    assert (call["name"], call["search_registries"]) == ("busybox", ["quay.io", "docker.io"])
    r = run_snippet(tmp_path, RESOLVE.format("pinned"), config, CAPSA_HOOK_SHORT_NAMES=answers)
    assert r.stdout == "hooked.example/p:7\n", r.stderr  # the plugin's own tag when none was asked
    r = run_snippet(tmp_path, RESOLVE.format("aliased"), config, CAPSA_HOOK_SHORT_NAMES=answers)
    assert r.stdout == "r.example/aliased:latest\n" and len(calls(tmp_path, "capsa_resolve_short_name")) == 2  # not asked
    r = run_snippet(tmp_path, RESOLVE.format("quay.io/x"), config, CAPSA_HOOK_SHORT_NAMES=answers)
    assert r.stdout == "quay.io/x:latest\n" and len(calls(tmp_path, "capsa_resolve_short_name")) == 2
    # the plugin declines (None): the core's own rule, here the ambiguity error
    r = run_snippet(tmp_path, RESOLVE.format("other"), config, CAPSA_HOOK_SHORT_NAMES=answers)
    assert r.returncode == 1 and "short name 'other' is ambiguous" in r.stderr


def test_a_short_name_hook_that_fails_or_answers_nonsense(recorder: None, tmp_path: Path) -> None:
    config = '[registry]\nunqualified_search = ["docker.io"]\n'
    r = run_snippet(tmp_path, RESOLVE.format("busybox"), config, CAPSA_HOOK_RAISE="capsa_resolve_short_name")
    assert r.returncode == 1 and "HookFailed: capsa_resolve_short_name failed for 'busybox': RuntimeError" in r.stderr
    r = run_snippet(tmp_path, RESOLVE.format("busybox"), config, CAPSA_HOOK_SHORT_NAMES='{"busybox": "busybox"}')
    assert r.returncode == 1 and "answered 'busybox' for 'busybox': not a fully qualified name" in r.stderr


ENDPOINT = ("from capsa.registry.connect import RemoteOptions, endpoint\n"
            "c = endpoint(sess, {!r}, RemoteOptions(creds={!r})).credentials\nprint(c and c.username, c and c.password)")


def test_the_credentials_hook_wins_over_stored_credentials(recorder: None, tmp_path: Path) -> None:
    import base64

    stored = {"auths": {"r.example:5000": {"auth": base64.b64encode(b"stored:pw").decode()},
                        "s.example": {"auth": base64.b64encode(b"only-stored:pw").decode()}}}
    (tmp_path / "auth.json").write_text(json.dumps(stored))
    offered = json.dumps({"r.example:5000": ["from-hook", "hook-secret"]})
    r = run_snippet(tmp_path, ENDPOINT.format("r.example:5000", None), "", CAPSA_HOOK_CREDENTIALS=offered)
    assert (r.returncode, r.stdout) == (0, "from-hook hook-secret\n"), r.stderr
    assert [c["registry"] for c in calls(tmp_path, "capsa_registry_credentials")] == ["r.example:5000"]
    r = run_snippet(tmp_path, ENDPOINT.format("s.example", None), "", CAPSA_HOOK_CREDENTIALS=offered)
    assert r.stdout == "only-stored pw\n", r.stderr  # the hook declined: the auth file
    r = run_snippet(tmp_path, ENDPOINT.format("r.example:5000", "cli:given"), "", CAPSA_HOOK_CREDENTIALS=offered)
    assert r.stdout == "cli given\n", r.stderr  # --creds wins over the hook, which is not even asked
    assert len(calls(tmp_path, "capsa_registry_credentials")) == 2
    r = run_snippet(tmp_path, ENDPOINT.format("r.example:5000", None), "", CAPSA_HOOK_RAISE="capsa_registry_credentials")
    assert r.returncode == 1 and "capsa_registry_credentials failed for r.example:5000: RuntimeError" in r.stderr
