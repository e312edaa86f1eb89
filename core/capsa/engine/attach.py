"""``attach``: a running container's stdio through its monitor's attach socket, and the
``--detach-keys`` syntax every attaching command (``run``, ``start``, ``attach``, ``exec``) takes."""
from __future__ import annotations

from capsa.engine.session import Session, container_records
from capsa.errors import CapsaError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.container.model import ContainerConfig


def detach_keys(spec: str | None) -> bytes:
    """``--detach-keys SPEC`` as bytes (None: ctrl-p ctrl-q; ``""``: detaching is off). A spec that
    does not parse: podman's one line, exit 125."""
    from capsa.container.detachkeys import InvalidDetachKeys, parse

    try:
        return parse(spec)
    except InvalidDetachKeys as exc:
        raise UsageError(str(exc), hint="give keys as ctrl-<a-z@[\\]^_> or single characters, comma-separated, "
                                        "e.g. ctrl-p,ctrl-q; \"\" disables detaching") from None


def target(sess: Session, ref: str | None, latest: bool) -> ContainerConfig:
    """The container ``attach`` names (or the newest with ``latest``)."""
    records = container_records(sess)
    if latest:
        configs = sorted(records.all(), key=lambda c: c.created)
        if not configs:
            raise UsageError("no containers to attach to", hint="see 'capsa ps -a'")
        return configs[-1]
    if not ref:
        raise UsageError("attach requires the name or id of one running container", hint="capsa attach CONTAINER")
    return records.find(ref)


def attach(sess: Session, config: ContainerConfig, stdin: bool = True, keys: bytes | None = None,
           sig_proxy: bool = True) -> int | None:
    """Relay the running container's output (and, with ``stdin`` and a container made with ``-i``,
    our input) until it exits, and return its exit code; None when the user detached (the
    container goes on). A container that is not running: podman's error, exit 125."""
    from capsa.container import attach as protocol
    from capsa.container.stopping import monitor_alive

    records = container_records(sess)
    state = records.state(config.id)
    if state.status != "running" or not monitor_alive(records, config.id):
        raise UsageError("you can only attach to running containers", hint=f"start it first: capsa start {config.name}")
    try:
        sock = protocol.connect(records.run_dir(config.id, "attach"))
    except OSError as exc:
        raise CapsaError(f"cannot attach to the container's monitor: {exc.strerror or exc}",
                         hint="it may have just exited: see 'capsa ps -a'") from None
    with sock:
        outcome = protocol.session(sock, stdin=stdin and config.interactive,
                                   tty=config.tty, sig_proxy=sig_proxy,
                                   detach_keys=protocol.DETACH_KEYS if keys is None else keys)
    from capsa.container.stopping import attached_exit

    return attached_exit(records, config, outcome)
