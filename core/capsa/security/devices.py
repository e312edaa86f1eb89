"""The device nodes every (unprivileged) container gets, in OCI form: ``linux.devices`` and the
cgroup rules of ``linux.resources.devices`` (deny all, then allow these, as runc and podman do)."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# (path, major, minor): the nodes made in the container's /dev
DEFAULT_DEVICES = (("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7), ("/dev/random", 1, 8),
                   ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0))
# (major, minor or None for any) allowed after "deny all": the nodes above, console (5:1),
# ptmx (5:2) and the devpts ptys (136:*)
ALLOWED_DEVICES = ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (136, None))


def device(path: str, kind: str, major: int, minor: int, mode: int = 0o666) -> dict[str, Any]:
    """One OCI ``linux.devices`` entry owned by root."""
    return {"path": path, "type": kind, "major": major, "minor": minor, "fileMode": mode, "uid": 0, "gid": 0}


def default_devices() -> list[dict[str, Any]]:
    """``linux.devices`` of an unprivileged container."""
    return [device(path, "c", major, minor) for path, major, minor in DEFAULT_DEVICES]


def cgroup_rules(privileged: bool) -> list[dict[str, Any]]:
    """``linux.resources.devices``: everything for a privileged container, else deny all and
    allow :data:`ALLOWED_DEVICES`."""
    if privileged:
        return [{"allow": True, "access": "rwm"}]
    rules: list[dict[str, Any]] = [{"allow": False, "access": "rwm"}]
    for major, minor in ALLOWED_DEVICES:
        rule: dict[str, Any] = {"allow": True, "type": "c", "major": major, "access": "rwm"}
        if minor is not None:
            rule["minor"] = minor
        rules.append(rule)
    return rules
