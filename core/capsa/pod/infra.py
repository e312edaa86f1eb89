"""The infra container's root filesystem, made locally from the host's catatonit: no registry.

podman 4.3 builds ``localhost/podman-pause`` from its catatonit the first time a pod needs it;
capsa does the same with less: ``<root>/pods/infra/rootfs`` holds ``/catatonit`` (Debian's is
static) and the empty mount points the runtime binds on (``/proc``, ``/dev``, ``/etc/hosts``...).
It is made once (atomically: built aside, renamed into place) and shared, read-only, by every
infra container (``--rootfs``: no layer, no overlay mount per pod).
"""
from __future__ import annotations

import os

from capsa.errors import UsageError

INFRA_COMMAND = ["/catatonit", "-P"]  # podman's: pause mode, as PID 1 of the pod's namespaces
_DIRS = ("proc", "dev", "sys", "etc", "run", "tmp", "var/tmp")
_FILES = ("etc/hosts", "etc/hostname", "etc/resolv.conf", "run/.containerenv")
_VERSION = "1"  # bump when the layout changes: a new directory is made beside the old one


def rootfs_dir(root: str) -> str:
    return os.path.join(root, "pods", "infra", f"rootfs-{_VERSION}")


def ensure_rootfs(root: str) -> str:
    """The shared infra root filesystem, made on first use; UsageError when the host has no
    catatonit (``apt-get install catatonit``)."""
    path = rootfs_dir(root)
    if os.path.isfile(os.path.join(path, "catatonit")):
        return path
    import shutil

    from capsa.container.lifecycle import init_binary

    binary = init_binary()
    if not binary:
        raise UsageError("a pod's infra container needs catatonit, which was not found",
                         hint="install it (apt-get install catatonit), or use --infra=false")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    partial = os.path.join(parent, f".rootfs.{os.getpid()}.tmp")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        for d in _DIRS:
            os.makedirs(os.path.join(partial, d), mode=0o755, exist_ok=True)
        os.chmod(os.path.join(partial, "tmp"), 0o1777)
        for f in _FILES:
            with open(os.path.join(partial, f), "wb"):
                pass
        with open(os.path.join(partial, "etc", "passwd"), "w", encoding="utf-8") as fh:
            fh.write("root:x:0:0:root:/:/catatonit\n")
        with open(os.path.join(partial, "etc", "group"), "w", encoding="utf-8") as fh:
            fh.write("root:x:0:\n")
        shutil.copy2(binary, os.path.join(partial, "catatonit"))
        os.chmod(os.path.join(partial, "catatonit"), 0o755)
        try:
            os.rename(partial, path)
        except OSError:  # another command made it meanwhile
            if not os.path.isfile(os.path.join(path, "catatonit")):
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return path
