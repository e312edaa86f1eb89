"""Parity with podman 4.3 for ``--help`` pages, ``help`` and the messages of the CLI itself:
podman's plain layout (cobra's template, pflag's option table), which scripts and people read."""
from __future__ import annotations

import re
import subprocess

from parity import Case, parity_fixtures

NO_BOX = r"\A[^╭│╰]*\Z"  # (no framed boxes anywhere)


def _layout(command: str, *, options: bool = True, commands: bool = False):  # type: ignore[no-untyped-def]
    """The page's sections in podman's order, each heading alone on its line, then 2-space indented lines."""
    def check(r: subprocess.CompletedProcess[str]) -> None:
        text = r.stdout
        assert text.endswith("\n\n"), repr(text[-40:])
        heads = [line for line in text.splitlines() if line and not line.startswith(" ")]
        assert heads[1] == "Description:" and "Usage:" in heads[2:], heads
        assert re.search(rf"^Usage:\n  (podman|capsa) {command} ", text, re.M), text
        if options:
            assert "Options:" in heads and re.search(r"^Options:\n(  -\w, --\w|      --\w)", text, re.M), text
        if commands:
            assert re.search(r"^Available Commands:\n  \w", text, re.M), text
        assert not re.search("[╭│╰]", text)
    return check


CASES = [
    Case("ps-help", "ps --help", check=_layout("ps"), stdout=r"^  -a, --all +Show all the containers"),
    Case("ps-help-short", "ps -h", check=_layout("ps")),
    Case("ps-help-first-line", "ps --help", stdout=r"\AList containers\.?\n\nDescription:\n  "),
    Case("ps-help-usage", "ps --help", stdout=r"^Usage:\n  (podman|capsa) ps \[options\]\n\n"),
    Case("ps-help-typed-flag", "ps --help", stdout=r"^  -f, --filter strings +Filter output based on conditions given$"),
    Case("ps-help-int-default", "ps --help", stdout=r"^  -n, --last int +Print the n last created containers.* \(default -1\)$"),
    Case("rm-help-usage", "rm --help", stdout=r"^  (podman|capsa) rm \[options\] "),
    Case("images-help", "images --help", check=_layout("images")),
    Case("info-help", "info --help", check=_layout("info")),
    Case("system-info-help", "system info --help", check=_layout("system info")),
    Case("version-help", "version --help", check=_layout("version"),
         stdout=r"^  -f, --format string +"),
    Case("run-help", "run --help", check=_layout("run"), stdout=r"^  (podman|capsa) run \[options\] IMAGE \[COMMAND"),
    Case("run-help-flags", "run --help", stdout=r"^  -e, --env (strings|stringArray) +"),
    Case("create-help", "create --help", check=_layout("create")),
    Case("volume-create-help", "volume create --help", check=_layout("volume create")),
    Case("system-help", "system --help", check=_layout("system", options=False, commands=True),
         stdout=r"^Usage:\n  (podman|capsa) system \[command\]$"),
    Case("system-help-lists-df", "system --help", stdout=r"^  df +Show (podman|capsa)'?s? disk usage$"),
    Case("image-help", "image --help", check=_layout("image", options=False, commands=True)),
    Case("container-help", "container --help", check=_layout("container", options=False, commands=True)),
    Case("root-help", "--help", stdout=r"^Usage:\n  (podman|capsa) \[options\] \[command\]\n\nAvailable Commands:\n  "),
    Case("root-help-options", "--help", stdout=r"^      --root string +Path to the root directory"),
    Case("root-help-log-level", "--help", stdout=r"^      --log-level string +Log messages above specified level \(trace, debug, info, warn, warning, error, fatal, panic\) \(default \"warn\"\)$"),
    Case("root-help-no-box", "--help", stdout=NO_BOX),
    Case("help-command", "help", stdout=r"^Usage:\n  (podman|capsa) \[options\] \[command\]$"),
    Case("help-ps", "help ps", check=_layout("ps")),
    Case("help-system-df", "help system df", check=_layout("system df")),
    Case("help-unknown-topic", "help nosuch", stdout=r"\A\Z", stderr=r"\AUnknown help topic \[`nosuch`\]\nUsage:\n"),
    Case("help-unknown-topics", "help a b", stderr=r"\AUnknown help topic \[`a` `b`\]\n"),
    Case("completion-help", "completion --help", check=_layout("completion")),
    Case("completion-bash", "completion bash", stdout=r"\S"),
    Case("completion-bogus", "completion tcsh", code=125, stderr=r"^Error: "),
    Case("completion-missing-shell", "completion", code=125, stderr=r"^Error: "),
]
# Examples: right after Usage (podman's layout), the command path as the page's (``container rm`` says so)
EXAMPLES = ("run", "ps", "images", "rm", "stop", "start", "exec", "build", "pull", "push", "inspect", "logs",
            "volume create", "network ls", "pod create", "container rm", "container stop")
CASES += [Case(f"{c.replace(' ', '-')}-help-examples", f"{c} --help",
               stdout=rf"^Usage:\n  (podman|capsa) {c} .*\n\nExamples:\n  (podman|capsa) {c.replace('ls', '(ls|list)')}( |$)")
          for c in EXAMPLES]
CASES += [Case("volume-ls-help-no-examples", "volume ls --help", check=lambda r: _no_examples(r))]


def _no_examples(r: subprocess.CompletedProcess[str]) -> None:
    assert "Examples:" not in r.stdout, r.stdout


store, podman_store, test_parity = parity_fixtures("help", CASES)
