"""The error hierarchy: every error a user can see carries a one-line message and a hint.

``main()`` is the only place that turns these into output (``Error: <message>`` and the hint on
stderr) and an exit code. Exit codes follow podman: 125 engine error, 126 command cannot be
invoked, 127 command not found; anything else is the container's own code.
"""
from __future__ import annotations

EXIT_ENGINE = 125
EXIT_CANNOT_INVOKE = 126
EXIT_NOT_FOUND = 127


class CapsaError(Exception):
    """Base of every error capsa reports to a user; ``hint`` says what to do about it."""

    exit_code: int = EXIT_ENGINE

    def __init__(self, message: str, hint: str = "", *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class ConfigError(CapsaError):
    """A configuration file, flag or option is invalid."""


class UsageError(CapsaError):
    """A command was called with arguments that cannot work together."""


class DriverError(CapsaError):
    """A driver could not be found, loaded or used."""


class DriverNotFound(DriverError):
    """No installed driver of that kind has that name."""


class DriverLoadError(DriverError):
    """The driver's package is installed but failed to import; ``__cause__`` is the real error."""


class DriverNotSupported(DriverError):
    """The driver cannot work on this host (a missing kernel feature, tool or library)."""


class OperationNotSupported(DriverError):
    """The driver does not implement this operation."""


class StorageError(CapsaError):
    """The image or container store failed."""


class ArchiveError(StorageError):
    """A tar stream or image archive is corrupt, unsupported or hostile (a path escaping the
    layer, a link out of it); nothing it describes was kept."""


class ImageNotFound(StorageError):
    """No image in the store matches a name or id."""


class AmbiguousImage(ImageNotFound):
    """Several images in the store match (an id prefix): none is chosen, and nothing is pulled
    for it (``run``/``create`` pull only an image that is missing)."""


class NetworkError(CapsaError):
    """Setting up or tearing down container networking failed."""


class IsolationError(CapsaError):
    """Creating, starting or signalling an isolated container failed."""


class MonitorLost(IsolationError):
    """An attached session ended without the container's exit code: the container had started,
    so this is no failure to start (``run`` and ``start`` report it as it is, exit 125)."""


class RegistryError(CapsaError):
    """A registry refused or failed a request; ``code`` keeps the server's error code."""

    def __init__(self, message: str, hint: str = "", *, code: str = "", exit_code: int | None = None) -> None:
        super().__init__(message, hint, exit_code=exit_code)
        self.code = code


class BuildError(CapsaError):
    """A Containerfile could not be parsed or one of its steps failed."""
