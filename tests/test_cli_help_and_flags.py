"""``capsa help``, ``capsa completion`` and unknown flags, in podman 4.3's words, for the
commands typer parses and for ``run``/``create`` (parsed without typer) alike."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Capsa


@pytest.mark.parametrize("argv, path", [
    (["ps", "--bogus"], "capsa ps"),
    (["ps", "--bogus=1"], "capsa ps"),
    (["images", "--bogus"], "capsa images"),
    (["image", "ls", "--bogus"], "capsa image ls"),
    (["--bogus", "ps"], "capsa"),
    (["--root", "/tmp/x", "system", "df", "--bogus"], "capsa system df"),
    (["run", "--bogus", "busybox"], "capsa run"),
    (["create", "--bogus", "busybox"], "capsa create"),
    (["exec", "--bogus", "c", "true"], "capsa exec"),
])
def test_an_unknown_flag_is_podmans_error(capsa: Capsa, argv: list[str], path: str) -> None:
    r = capsa(*argv)
    assert (r.returncode, r.stdout) == (125, "")
    assert r.stderr == f"Error: unknown flag: --bogus\nSee '{path} --help'\n"


@pytest.mark.parametrize("argv, message, path", [
    (["ps", "-x"], "unknown shorthand flag: 'x' in -x", "capsa ps"),
    (["ps", "-aZ"], "unknown shorthand flag: 'Z' in -Z", "capsa ps"),
    (["images", "-y"], "unknown shorthand flag: 'y' in -y", "capsa images"),
    (["run", "-x", "busybox"], "unknown shorthand flag: 'x' in -x", "capsa run"),
    (["run", "-iZ", "busybox"], "unknown shorthand flag: 'Z' in -Z", "capsa run"),
    (["create", "-iZt", "busybox"], "unknown shorthand flag: 'Z' in -Zt", "capsa create"),
    (["exec", "-iZ", "c", "true"], "unknown shorthand flag: 'Z' in -Z", "capsa exec"),
    (["ps", "-aZq"], "unknown shorthand flag: 'Z' in -Zq", "capsa ps"),
])
def test_an_unknown_shorthand_is_podmans_error(capsa: Capsa, argv: list[str], message: str, path: str) -> None:
    r = capsa(*argv)
    assert (r.returncode, r.stdout) == (125, "")
    assert r.stderr == f"Error: {message}\nSee '{path} --help'\n"


@pytest.mark.parametrize("argv, message, path", [
    (["info", "--format"], "flag needs an argument: --format", "capsa info"),
    (["ps", "-f"], "flag needs an argument: 'f' in -f", "capsa ps"),
    (["run", "--name"], "flag needs an argument: --name", "capsa run"),
    (["exec", "--user"], "flag needs an argument: --user", "capsa exec"),
])
def test_a_flag_without_its_value_is_podmans_error(capsa: Capsa, argv: list[str], message: str, path: str) -> None:
    r = capsa(*argv)
    assert (r.returncode, r.stdout) == (125, "")
    assert r.stderr == f"Error: {message}\nSee '{path} --help'\n"


def test_help_is_a_command(capsa: Capsa) -> None:
    top = capsa("--help", store=False)
    r = capsa("help", store=False)
    assert (r.returncode, r.stdout) == (0, top.stdout)
    assert any(line.startswith("  help ") for line in top.stdout.splitlines())  # listed
    r = capsa("help", "ps", store=False)
    assert (r.returncode, r.stdout) == (0, capsa("ps", "--help", store=False).stdout)
    assert "--all" in r.stdout
    r = capsa("help", "system", "df", store=False)
    assert r.returncode == 0 and r.stdout == capsa("system", "df", "--help", store=False).stdout
    r = capsa("help", "run", store=False)
    assert r.returncode == 0 and "--workdir" in r.stdout
    r = capsa("help", "bogus", store=False)  # (podman's: the topic and the usage on stderr, exit 0)
    assert (r.returncode, r.stdout) == (0, "") and r.stderr.startswith("Unknown help topic [`bogus`]\nUsage:\n")


def test_typers_completion_installers_are_gone(capsa: Capsa, tmp_path: Path) -> None:
    top = capsa("--help", store=False).stdout
    assert "--install-completion" not in top and "--show-completion" not in top
    home = tmp_path / "home"
    home.mkdir()
    r = capsa("--install-completion", store=False, env={"HOME": str(home), "SHELL": "/bin/bash"})
    assert r.returncode == 125 and r.stderr.startswith("Error: unknown flag: --install-completion")
    assert list(home.iterdir()) == []  # no ~/.bashrc written


@pytest.mark.parametrize("shell, marker", [
    ("bash", "complete_bash"), ("zsh", "complete_zsh"), ("fish", "complete_fish"), ("powershell", "complete_powershell"),
])
def test_completion_prints_the_script_or_writes_the_file(capsa: Capsa, tmp_path: Path, shell: str, marker: str) -> None:
    r = capsa("completion", shell, store=False)
    assert r.returncode == 0 and marker in r.stdout and "_CAPSA_COMPLETE" in r.stdout
    assert "_CAPSA_COMPLETE_NO_DESC" not in r.stdout
    out = tmp_path / f"capsa.{shell}"
    r = capsa("completion", "-f", str(out), shell, store=False)
    assert (r.returncode, r.stdout) == (0, "") and marker in out.read_text()
    r = capsa("completion", "--no-desc", "--file", str(out), shell, store=False)
    assert r.returncode == 0 and "_CAPSA_COMPLETE_NO_DESC" in out.read_text()


def test_completions_with_and_without_descriptions(capsa: Capsa) -> None:
    env = {"_CAPSA_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "capsa ver"}
    described = capsa(store=False, env=env).stdout
    assert '"version":"Display the capsa version information."' in described
    bare = capsa(store=False, env={**env, "_CAPSA_COMPLETE_NO_DESC": "1"}).stdout
    assert '"version"' in bare and "Display" not in bare
    env = {"_CAPSA_COMPLETE": "complete_bash", "COMP_WORDS": "capsa inf", "COMP_CWORD": "1"}
    assert capsa(store=False, env=env).stdout.split() == ["info"]
    r = capsa("completion", "tcsh", store=False)
    assert r.returncode == 125
