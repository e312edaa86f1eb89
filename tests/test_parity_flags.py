"""Every flag podman 4.3's man pages document for a command capsa has is either taken by capsa's
command or refused in one line (capsa.cli.refusals, listed in docs/cli.md).

The flags are read from podman's man pages where they are installed (podman-setup.sh installs
them), and from the recording made of them (tests/data/podman-4.3-flags.json) otherwise; with
the man pages present the recording is checked against them. Re-record with
``python tests/test_parity_flags.py`` (it prints what changed).
"""
from __future__ import annotations

import gzip
import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

MAN = Path("/usr/share/man/man1")
RECORDING = Path(__file__).parent / "data" / "podman-4.3-flags.json"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "cli.md"

# capsa command paths whose podman man page is not podman-<path joined by "-">.
PAGES = {
    "image ls": "images", "image list": "images", "image rm": "rmi", "container ls": "ps", "container list": "ps",
    "container rm": "rm", "pod ls": "pod-ps", "pod list": "pod-ps", "volume list": "volume-ls",
    "network list": "network-ls", "generate kube": "kube-generate", "play kube": "kube-play", "umount": "unmount",
    "container umount": "unmount", "system info": "info", "": "podman",
}
# capsa's own commands, which podman 4.3 does not have.
CAPSA_ONLY = {"plugins", "system check", "help"}
# Flags every command takes without listing them.
IMPLICIT = {"--help", "-h"}


def page_of(path: str) -> str:
    if path in PAGES:
        return PAGES[path]
    words = path.split()
    name = "-".join(words)
    if (MAN / f"podman-{name}.1.gz").exists() or words[0] not in ("image", "container"):
        return name
    return "-".join(words[1:])  # (``image tag`` is podman-tag(1))


def man_flags(page: str) -> list[str]:
    """The flags an OPTIONS section of podman's man page ``page`` documents (``.SS`` headings)."""
    name = "podman.1.gz" if page == "podman" else f"podman-{page}.1.gz"
    text = gzip.decompress((MAN / name).read_bytes()).decode()
    flags: list[str] = []
    for line in text.splitlines():
        # (a heading with words outside the markup is prose that happens to start a line with a
        # flag, as podman-run(1)'s "\\fB--permissive\\fP flag, use the following command:")
        if line.startswith(".SS") and not re.search(r"[A-Za-z]", re.sub(r"\\f[BI].*?\\fP", "", line[3:])):
            for flag in re.findall(r"\\fB(\\?-[\\\-\w]+)\\fP", line):
                flag = flag.replace("\\-", "-").replace("\\", "")
                if flag not in flags:
                    flags.append(flag)
    return flags


@cache
def capsa_table() -> dict[str, Any]:
    from capsa.cli.parsetable import derive

    return derive(full_command())


def capsa_paths() -> list[str]:
    return sorted(p for p in capsa_table()["commands"] if p not in CAPSA_ONLY)


def taken(path: str) -> set[str]:
    """The flags capsa's command ``path`` takes (its own, and the global ones)."""
    table = capsa_table()
    flags = set(IMPLICIT) | set(table["root_only"])
    for spec in table["globals"].values():
        flags |= set(spec["opts"]) | set(spec["secondary"])
    if path:
        for spec in table["commands"][path]["params"]:
            flags |= set(spec["opts"]) | set(spec["secondary"])
        flags |= slow_params(path)
    return flags


def slow_params(path: str) -> set[str]:
    """The options of a command the parse table leaves to typer (kinds it does not reproduce)."""
    command = full_command()
    for word in path.split():
        command = command.commands[word]
    return {opt for p in command.params for opt in (*p.opts, *p.secondary_opts) if opt.startswith("-")}


@cache
def full_command() -> Any:
    from capsa.cli.app import build_command

    return build_command(None)


def recorded() -> dict[str, list[str]]:
    return json.loads(RECORDING.read_text()) if RECORDING.exists() else {}


def record() -> dict[str, list[str]]:
    return {page_of(p): man_flags(page_of(p)) for p in ["", *capsa_paths()]
            if (MAN / ("podman.1.gz" if page_of(p) == "podman" else f"podman-{page_of(p)}.1.gz")).exists()}


def documented(path: str) -> list[str] | None:
    """The flags podman's man page of ``path`` documents ([] for a page without options), or
    None when podman 4.3 has no page for it."""
    page = page_of(path)
    if MAN.joinpath("podman.1.gz").exists():
        return man_flags(page) if (MAN / ("podman.1.gz" if page == "podman" else f"podman-{page}.1.gz")).exists() else None
    return recorded().get(page)


def test_the_recording_is_podmans_man_pages() -> None:
    if not MAN.joinpath("podman.1.gz").exists():
        pytest.skip("podman's man pages are not installed: the recording is used as it is")
    fresh, old = record(), recorded()
    changed = sorted(page for page in fresh if fresh[page] != old.get(page))
    assert not changed, f"re-record with `python {Path(__file__).name}`: {changed}"


@pytest.mark.parametrize("path", ["", *capsa_paths()], ids=lambda p: p or "global")
def test_every_documented_flag_is_taken_or_refused(path: str) -> None:
    from capsa.cli import refusals

    flags = documented(path)
    if flags is None:
        pytest.skip(f"podman 4.3 has no man page for `{path}`")
    have = taken(path)
    words = tuple(path.split())
    missing = [f for f in flags if f not in have and refusals.reason(words, f) is None
               and refusals.reason((), f) is None]
    assert not missing, f"capsa {path}: podman documents {missing}: take them, or refuse them in capsa.cli.refusals"


def test_every_refused_flag_is_in_the_docs() -> None:
    from capsa.cli import refusals

    text = DOCS.read_text()
    missing = [f"{' '.join(path)} {flag}" for path, table in refusals.REFUSED.items() for flag in table
               if f"`{flag}`" not in text]
    assert not missing, f"docs/cli.md does not list these refused flags: {missing}"


def test_a_refused_flag_is_refused_in_one_line(capsa) -> None:  # type: ignore[no-untyped-def]
    from capsa.cli import refusals

    checked = 0
    for path, table in refusals.REFUSED.items():  # (the first refused flag of every command)
        flag = next(iter(table))
        r = capsa(*path, f"{flag}=x", *(["busybox"] if path[-1:] in (("run",), ("create",)) else []))
        assert r.returncode == 125, (path, flag, r.stderr)
        assert r.stderr.startswith(f"Error: {flag} is not supported: "), (path, r.stderr)
        checked += 1
    assert checked > 10


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    fresh = record()
    old = recorded()
    for page in sorted(set(fresh) | set(old)):
        if fresh.get(page) != old.get(page):
            print(f"{page}: {old.get(page)} -> {fresh.get(page)}")
    RECORDING.write_text(json.dumps(fresh, indent=1, sort_keys=True) + "\n")
