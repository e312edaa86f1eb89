"""Which platform a pull wants: podman's ``--platform OS/ARCH[/VARIANT]``, ``--os``, ``--arch``
and ``--variant``, defaulting to this host.

Contract of :func:`wanted_platform`: returns a :class:`WantedPlatform` whose ``architecture``
is None when neither flag named one (then :func:`capsa.image.manifest.select_platform` uses the
host's architecture and variant); ``--platform`` and the single flags together are a UsageError
(podman refuses them too), as is a malformed ``--platform``.
"""
from __future__ import annotations

from capsa.errors import UsageError
from capsa.fastpath.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.image.manifest import Descriptor, Index


@record(frozen=True)
class WantedPlatform:
    os: str = "linux"
    architecture: str | None = None  # None: this host's
    variant: str | None = None  # None: this host's when the architecture is too

    def __str__(self) -> str:
        from capsa.hostinfo import go_arch

        arch = self.architecture or go_arch()
        return f"{self.os}/{arch}" + (f"/{self.variant}" if self.variant else "")

    def select(self, index: Index) -> Descriptor:
        """The entry of ``index`` for this platform (StorageError listing the offered ones)."""
        from capsa.image.manifest import select_platform

        return select_platform(index, os=self.os, architecture=self.architecture, variant=self.variant)


def wanted_platform(platform: str | None = None, os: str | None = None, arch: str | None = None,
                    variant: str | None = None) -> WantedPlatform:
    """The platform the flags ask for (see the module's contract)."""
    if platform:
        if os or arch or variant:
            raise UsageError("--platform cannot be used with --os, --arch or --variant",
                             hint="give either --platform OS/ARCH[/VARIANT] or the single flags")
        parts = platform.split("/")
        if not 2 <= len(parts) <= 3 or not all(parts):
            raise UsageError(f"invalid platform {platform!r}", hint="use --platform OS/ARCH[/VARIANT], e.g. linux/arm64/v8")
        os, arch = parts[0], parts[1]
        variant = parts[2] if len(parts) == 3 else ""
    for flag, value in (("--os", os), ("--arch", arch), ("--variant", variant)):
        if value and ("/" in value or any(c.isspace() for c in value)):
            raise UsageError(f"invalid {flag} {value!r}", hint=f"{flag} takes one word, e.g. --arch arm64")
    return WantedPlatform(os=os or "linux", architecture=arch or None, variant=variant if (variant or arch) else None)
