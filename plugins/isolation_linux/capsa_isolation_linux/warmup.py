"""Loading what ``create`` needs ahead of time: :meth:`LinuxDriver.warm_up`.

capsa forks a container's monitor early and has it load its isolation driver while the CLI is
still preparing the container; the monitor then calls the driver's ``warm_up()`` (an optional
method of the driver contract, :meth:`capsa.drivers.base.Driver.warm_up`) and idles until its
configuration arrives. Work done here is off the critical path: it imports create's modules,
loads libc and libseccomp, reads cap_last_cap and hashes the seccomp filter code (the cache
key's part that never changes). Every other process (the CLI, which imports caps and seccomp to
write the spec; stop, kill, rm) keeps the lazy imports and never calls it. Best effort: a
failure here is met again, and reported, where create needs the thing.
"""
from __future__ import annotations


def warm_up() -> None:
    """Import create's modules and prime their caches (see the module docstring)."""
    try:
        from . import caps, cgroups, join, launcher, seccomp, seccomp_cache, state  # noqa: F401

        launcher.ns.libc()
        caps.last_cap()
        seccomp_cache._code_digest()
        seccomp.libseccomp_version()  # loads libseccomp
    except Exception:  # noqa: BLE001 - see the module docstring
        pass
