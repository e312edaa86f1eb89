"""Loading what ``create`` needs ahead of time, in capsa's container monitor only.

capsa forks a container's monitor early and has it load its isolation driver while the CLI is
still preparing the container (``capsa.container.monitor._preload``); the monitor then idles
until its configuration arrives. Work done while the driver package is imported there is off the
critical path, so in a process named like a monitor (``/proc/self/comm`` is
``capsa.container.procname.MONITOR_NAME``) importing the package also imports create's modules,
loads libc and libseccomp, reads cap_last_cap and hashes the seccomp filter code (the cache key's
part that never changes). Every other process (the CLI, which imports caps and seccomp to write
the spec; stop, kill, rm) keeps the lazy imports and does not even import this module. Best
effort: a failure here is met again, and reported, where create needs the thing.
"""
from __future__ import annotations


def warm_up() -> None:
    """Import create's modules and prime their caches (see the module docstring). The package
    calls it on import in a process named as a monitor."""
    try:
        from . import caps, cgroups, join, launcher, seccomp, seccomp_cache, state  # noqa: F401

        launcher.ns.libc()
        caps.last_cap()
        seccomp_cache._code_digest()
        seccomp.libseccomp_version()  # loads libseccomp
    except Exception:  # noqa: BLE001 - see the module docstring
        pass
