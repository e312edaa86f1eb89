"""``top``: a table of a container's processes with podman's (psgo's) AIX format descriptors.

The processes are those of the container's cgroup, which its isolation driver lists
(``processes``); each is read from the host's ``/proc`` (stat, status, cmdline): nothing of the
container's runs and no library of its is loaded. Pids are shown as the container sees them
(the last ``NSpid``), users and groups by the names in the container's own ``/etc/passwd`` and
``/etc/group``, read with every symlink resolved inside the container's root
(:func:`capsa.container.userinfo.read_root_file` under ``/proc/PID/root``); ``huser``,
``hgroup`` and ``hpid`` are the host's view.
"""
from __future__ import annotations

import os
import time

from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT = ("user", "pid", "ppid", "pcpu", "etime", "tty", "time", "args")
HEADERS = {
    "args": "COMMAND", "capamb": "AMBIENT CAPS", "capbnd": "BOUNDING CAPS", "capeff": "EFFECTIVE CAPS",
    "capinh": "INHERITED CAPS", "capprm": "PERMITTED CAPS", "comm": "COMMAND", "etime": "ELAPSED",
    "group": "GROUP", "hgroup": "HGROUP", "hpid": "HPID", "huser": "HUSER", "label": "LABEL", "nice": "NI",
    "pcpu": "%CPU", "pgid": "PGID", "pid": "PID", "ppid": "PPID", "rgroup": "RGROUP", "ruser": "RUSER",
    "seccomp": "SECCOMP", "state": "STATE", "stime": "STIME", "time": "TIME", "tty": "TTY", "user": "USER",
    "vsz": "VSZ",
}
AIX = {"%C": "pcpu", "%G": "group", "%P": "ppid", "%U": "user", "%a": "args", "%c": "comm", "%g": "rgroup",
       "%n": "nice", "%p": "pid", "%r": "pgid", "%t": "etime", "%u": "ruser", "%x": "time", "%y": "tty",
       "%z": "vsz"}
SECCOMP_MODES = {"0": "disabled", "1": "strict", "2": "filter"}


def parse_descriptors(words: list[str]) -> list[str] | None:
    """The descriptors ``words`` name (comma-separated too, AIX ``%p`` forms as well, as
    podman), the default set when there are none; None when one is not a descriptor (podman
    then runs ps(1): see :func:`capsa.engine.running.top`)."""
    out = []
    for word in words:
        for part in (p for p in word.split(",") if p):
            name = AIX.get(part, part)
            if name not in HEADERS:
                return None
            out.append(name)
    return out or list(DEFAULT)


class _Proc:
    """One process as the host's /proc shows it."""

    def __init__(self, pid: int) -> None:
        self.hpid = pid
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("utf-8", "replace")
        self.comm = raw[raw.index("(") + 1:raw.rindex(")")]
        self.stat = raw[raw.rindex(")") + 2:].split()  # stat[0] is field 3 (state)
        with open(f"/proc/{pid}/status") as fh:
            self.status = dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            self.cmdline = [a.decode("utf-8", "replace") for a in fh.read().split(b"\0") if a]

    def ns(self, key: str) -> int:
        """The innermost of an ``NSpid``/``NSpgid`` list: the id in the container's namespace."""
        return int(self.status.get(key, "0").split()[-1])

    def ids(self, key: str, index: int) -> int:
        return int(self.status[key].split()[index])


class _Names:
    """uid/gid -> name from a passwd/group text; the number itself when there is no entry."""

    def __init__(self, text: str) -> None:
        self.names: dict[int, str] = {}
        for line in text.splitlines():
            parts = line.split(":")
            if len(parts) >= 3 and parts[2].isdigit():
                self.names.setdefault(int(parts[2]), parts[0])

    def __call__(self, number: int) -> str:
        return self.names.get(number, str(number))


def _host_names(path: str) -> _Names:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return _Names(fh.read())
    except OSError:
        return _Names("")


def _tty(nr: int) -> str:
    major, minor = (nr >> 8) & 0xFFF, (nr & 0xFF) | ((nr >> 12) & 0xFFF00)
    if nr == 0:
        return "?"
    if 136 <= major <= 143:
        return f"pts/{(major - 136) * 256 + minor}"
    if major == 4 and minor < 64:
        return f"tty{minor}"
    if major == 5 and minor in (0, 1):
        return ("tty", "console")[minor]
    return "?"


def _caps(mask_hex: str) -> str:
    """psgo's capability sets: ``full``, ``none`` or the names, sorted, joined by commas."""
    from capsa.security.caps import CAPS, last_cap

    mask = int(mask_hex, 16)
    known = {number: name for name, number in CAPS.items() if number <= last_cap()}
    if mask and mask == (1 << (last_cap() + 1)) - 1:
        return "full"
    names = sorted(known[n].removeprefix("CAP_") for n in known if mask >> n & 1)
    return ",".join(names) or "none"


def _label(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/attr/current", "rb") as fh:
            return fh.read().rstrip(b"\0\n").decode("utf-8", "replace") or "-"
    except OSError:
        return "-"


def table(pids: list[int], init_pid: int, descriptors: list[str]) -> list[list[str]]:
    """The header and one row per live process of ``pids`` (the container's, its first process
    ``init_pid``), sorted by pid as the container sees them."""
    from capsa.container.userinfo import read_root_file
    from capsa.humanize import go_duration

    root = f"/proc/{init_pid}/root"
    users = _Names(read_root_file(root, "/etc/passwd"))
    groups = _Names(read_root_file(root, "/etc/group"))
    host_users, host_groups = _host_names("/etc/passwd"), _host_names("/etc/group")
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as fh:
        boot = next(int(line.split()[1]) for line in fh if line.startswith("btime "))
    now = time.time()
    procs = []
    for pid in pids:
        try:
            procs.append(_Proc(pid))
        except (OSError, ValueError, KeyError, IndexError):
            continue  # gone meanwhile
    members = {p.hpid: p for p in procs}

    def started(p: _Proc) -> float:
        return boot + int(p.stat[19]) / tick

    def cpu_seconds(p: _Proc) -> float:
        return (int(p.stat[11]) + int(p.stat[12])) / tick

    def ppid(p: _Proc) -> str:
        parent = members.get(int(p.stat[1]))
        return str(parent.ns("NSpid")) if parent is not None else "0"

    def pcpu(p: _Proc) -> str:
        elapsed = now - started(p)
        return f"{100 * cpu_seconds(p) / elapsed if elapsed > 0 else 0.0:.3f}"

    def stime(p: _Proc) -> str:
        t = started(p)
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d} +0000 UTC"

    columns: dict[str, Callable[[_Proc], str]] = {
        "pid": lambda p: str(p.ns("NSpid")), "ppid": ppid, "pgid": lambda p: str(p.ns("NSpgid")),
        "hpid": lambda p: str(p.hpid),
        "user": lambda p: users(p.ids("Uid", 1)), "ruser": lambda p: users(p.ids("Uid", 0)),
        "group": lambda p: groups(p.ids("Gid", 1)), "rgroup": lambda p: groups(p.ids("Gid", 0)),
        "huser": lambda p: host_users(p.ids("Uid", 1)), "hgroup": lambda p: host_groups(p.ids("Gid", 1)),
        "nice": lambda p: p.stat[16], "state": lambda p: p.stat[0], "pcpu": pcpu,
        "etime": lambda p: go_duration(int((now - started(p)) * 1e9)),
        "time": lambda p: go_duration(int(cpu_seconds(p) * 1e9)), "stime": stime,
        "tty": lambda p: _tty(int(p.stat[4])), "vsz": lambda p: str(int(p.stat[20]) // 1024),
        "args": lambda p: " ".join(p.cmdline) or f"[{p.comm}]", "comm": lambda p: p.comm,
        "capamb": lambda p: _caps(p.status.get("CapAmb", "0")), "capbnd": lambda p: _caps(p.status["CapBnd"]),
        "capeff": lambda p: _caps(p.status["CapEff"]), "capinh": lambda p: _caps(p.status["CapInh"]),
        "capprm": lambda p: _caps(p.status["CapPrm"]),
        "seccomp": lambda p: SECCOMP_MODES.get(p.status.get("Seccomp", "0").strip(), "?"),
        "label": lambda p: _label(p.hpid),
    }
    rows = [[HEADERS[d] for d in descriptors]]
    for p in sorted(procs, key=lambda p: p.ns("NSpid")):
        rows.append([columns[d](p) for d in descriptors])
    return rows


def ps_options_only(words: list[str]) -> bool:
    """Whether ``words`` are only ps(1) output options (``-o FIELDS``, ``-f``, ``-l``...), so
    that running the host's ps on the container's pids shows nothing else: an option that
    selects processes (``-e``, ``-u``, ``ax``...) would list the host's."""
    formats = {"-f", "-F", "-l", "-j", "-y", "-H", "-w", "-ww", "--no-headers", "--headers", "--forest", "-c", "-L", "-T"}
    with_value = {"-o", "--format", "-O", "--sort"}
    i = 0
    while i < len(words):
        word = words[i]
        if word in with_value:
            if i + 1 >= len(words):
                return False
            i += 2
            continue
        if word in formats or any(word.startswith(f) and len(word) > len(f) for f in ("-o", "--format=", "-O", "--sort=")):
            i += 1
            continue
        if word.startswith("-") and len(word) > 2 and not word.startswith("--") and all(f"-{ch}" in formats for ch in word[1:]):
            i += 1  # (-fH, -lw...)
            continue
        return False
    return True


SELECT_ALL = frozenset("eA")  # ps -e / -A: every process; ``--pid`` selects the container's already


def without_select_all(words: list[str]) -> list[str]:
    """``words`` without ps's options that select every process (``-e``, ``-A``, BSD ``ax``),
    which podman documents (``podman top ctrID -eo user,pid,comm``) and which would add the
    host's processes to ``--pid``'s: ``-eo`` becomes ``-o``, ``-ef`` ``-f``."""
    out = []
    for word in words:
        if word in ("ax", "xa"):
            continue
        if word.startswith("-") and not word.startswith("--") and len(word) > 1 and SELECT_ALL & set(word[1:2]):
            rest = word[1:]
            while rest and rest[0] in SELECT_ALL:  # (only leading flags: -o's value follows -o itself)
                rest = rest[1:]
            if not rest:
                continue
            word = "-" + rest
        out.append(word)
    return out


def host_ps(words: list[str], pids: list[int]) -> str:
    """The host's ps(1) with ``words`` on exactly ``pids`` (host pids, host users)."""
    import subprocess

    words = without_select_all(words)
    if not ps_options_only(words):
        raise UsageError(f"unknown top descriptor or ps(1) option in {' '.join(words)!r}: capsa runs no program "
                         "of the container's, and the host's ps only with output options (-o, -f, -l...) on "
                         "the container's processes",
                         hint="use podman's descriptors (capsa top --list-descriptors), or e.g. capsa top C -o pid,comm")
    if not pids:
        return ""
    try:
        done = subprocess.run(["ps", "--pid", ",".join(map(str, pids)), *words], capture_output=True, text=True,
                              timeout=30)
    except OSError as exc:
        raise UsageError(f"cannot run ps: {exc.strerror}", hint="install procps, or use podman's descriptors") from None
    if done.returncode != 0 and done.stderr.strip():  # (1 alone: no process left)
        raise UsageError(f"ps {' '.join(words)}: {done.stderr.strip()}", hint="check the ps(1) options")
    return done.stdout


def check_running(status: str, alive: bool) -> None:
    """podman's refusal of a container that is not running (a paused one included)."""
    if status != "running" or not alive:
        raise UsageError("top can only be used on running containers: container state improper",
                         hint="start it first (capsa start)")

