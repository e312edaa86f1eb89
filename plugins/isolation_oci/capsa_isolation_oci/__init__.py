"""The ``oci`` isolation driver: runs capsa's bundles with an OCI runtime binary (crun or runc).

Each operation is one call of the runtime, as podman's conmon makes them: ``create --bundle B
--pid-file F ID``, ``start ID``, ``kill ID SIG``, ``delete [--force] ID`` and ``state ID``,
with ``--root <run_home>/<runtime>`` so that the runtime's state stays in capsa's runroot (one
directory per runtime: crun's and runc's never mix). The option ``runtime`` (in
``[isolation.options.oci]``, or capsa's global ``--runtime``) names the binary: a name looked up
on PATH or a path.

The driver copies the bundle's ``config.json`` to ``<run_home>/bundles/<id>/`` with one change:
``linux.cgroupsPath``, which capsa's core leaves empty, becomes a path under the calling
process's own cgroup (see :mod:`.cgroups`), so containers stay inside whatever delegated
cgroup capsa runs in. Runtime errors come back through the runtime's ``--log`` file: a
command that is missing or not executable raises IsolationError with podman's exit codes 127
and 126.

stdio: without a terminal the runtime inherits ``stdio`` as its own, and the container inherits
them from it. With ``process.terminal`` the runtime sends the pty master through a console
socket (a unix socket path, ``--console-socket``); the driver passes it on through ``console``.
As with the ``linux`` driver, create makes the caller a child subreaper: the runtime exits after
create and the container's first process is reparented to the caller, which waits for it.
"""
from __future__ import annotations

import os

from capsa.drivers.base import Option
from capsa.drivers.isolation import IsolationDriver, RuntimeState
from capsa.errors import DriverNotSupported, IsolationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from capsa.drivers.isolation import ResourceUsage

CGROUP_PARENT_ANNOTATION = "io.capsa.cgroup-parent"
OOM_ANNOTATION = "io.capsa.oom-killed"
TIMEOUT = 30.0  # seconds a runtime call may take


class OciDriver(IsolationDriver):
    OPTIONS = {
        "runtime": Option(str, "crun", "the OCI runtime to run: a name on PATH or a path (crun or runc)"),
        "cgroup_parent": Option(str, "", "cgroup (relative to capsa's own) under which containers' cgroups are made"),
        "runtime_flags": Option(list, [], "global flags given to the runtime before each of its commands "
                                          "(podman's --runtime-flag), e.g. [\"--debug\"]"),
    }

    def check_host(self) -> None:
        from .host import find_runtime, unsupported_reason

        self.runtime_path = find_runtime(self.options["runtime"])
        self.runtime_name = os.path.basename(self.runtime_path)
        reason = unsupported_reason(self.runtime_name)
        if reason:
            raise DriverNotSupported(*reason)

    def status(self) -> dict[str, Any]:
        out = super().status()
        out["detail"] = f"runtime {self.runtime_path}"
        return out

    @property
    def oci_runtime(self) -> str:
        """What ``inspect`` shows as ``OCIRuntime``: the runtime's name (crun, runc)."""
        return self.runtime_name

    # -- the runtime ---------------------------------------------------------------------------
    @property
    def state_root(self) -> str:
        """The runtime's ``--root``: its state directories, one per container."""
        return os.path.join(self.context.run_home_dir, self.runtime_name)

    def _bundle_dir(self, container_id: str) -> str:
        return os.path.join(self.context.run_home_dir, "bundles", container_id)

    def _call(self, *args: str, stdio: tuple[int, int, int] | None = None, what: str = "") -> None:
        """Run the runtime with ``args``; a failure raises IsolationError with its message."""
        import subprocess
        import tempfile

        os.makedirs(self.state_root, mode=0o700, exist_ok=True)
        with tempfile.NamedTemporaryFile(prefix="log-", dir=self.state_root) as log:
            logarg = f"--log=file:{log.name}" if self.runtime_name.startswith("crun") else f"--log={log.name}"
            argv = [self.runtime_path, "--root", self.state_root, logarg, *self.options["runtime_flags"], *args]
            if stdio is None:
                stdio = (subprocess.DEVNULL, subprocess.DEVNULL, subprocess.DEVNULL)  # type: ignore[assignment]
            try:
                done = subprocess.run(argv, stdin=stdio[0], stdout=stdio[1], stderr=stdio[2], timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                raise IsolationError(f"{self.runtime_name} {args[0]} did not finish in {TIMEOUT:.0f} s",
                                     hint="see the runtime's processes (ps) and its state under " + self.state_root)
            except OSError as exc:
                raise IsolationError(f"cannot run {self.runtime_path}: {exc.strerror}",
                                     hint="install crun or runc, or set [isolation.options.oci] runtime") from None
            if done.returncode != 0:
                raise runtime_error(self.runtime_name, what or args[0], log.read().decode(errors="replace"))

    def _query(self, container_id: str) -> dict[str, Any] | None:
        """The runtime's ``state`` of the container, or None when the runtime does not know it."""
        import subprocess

        from json import loads

        if not os.path.isdir(os.path.join(self.state_root, container_id)):
            return None
        done = subprocess.run([self.runtime_path, "--root", self.state_root, *self.options["runtime_flags"], "state", container_id],
                              capture_output=True, timeout=TIMEOUT)
        if done.returncode != 0:
            if os.path.isdir(os.path.join(self.state_root, container_id)):
                raise runtime_error(self.runtime_name, "state", done.stderr.decode(errors="replace"))
            return None
        return loads(done.stdout)

    # -- operations ----------------------------------------------------------------------------
    def create(self, container_id: str, bundle: str | os.PathLike[str], stdio: tuple[int, int, int] | None = None,
               console: int | None = None) -> RuntimeState:
        """``runtime create`` (see the module docstring); the caller becomes a child subreaper."""
        from capsa.fastpath.names import is_safe_name
        from capsa.linux import set_child_subreaper

        from . import cgroups
        from . import console as consolemod

        if not is_safe_name(container_id):
            raise IsolationError(f"invalid container id {container_id!r}", hint="use letters, digits, '-' and '_'")
        bundle = os.path.realpath(bundle)
        if os.path.isdir(os.path.join(self.state_root, container_id)) or os.path.isdir(self._bundle_dir(container_id)):
            raise IsolationError(f"container {container_id} already exists",
                                 hint="delete it first, or create it under another id")
        spec = _load_spec(bundle)
        parent = (spec.get("annotations") or {}).get(CGROUP_PARENT_ANNOTATION) or self.options["cgroup_parent"]
        place = cgroups.placement(f"capsa-{container_id}", parent)
        ours = self._bundle_dir(container_id)
        listener = None
        try:
            _write_bundle(ours, spec, bundle, place.path)
            place.save(ours)
            args = ["create", "--bundle", ours, "--pid-file", os.path.join(ours, "pid")]
            if console is not None:
                listener = consolemod.Listener()
                args += ["--console-socket", listener.path]
            set_child_subreaper()
            self._call(*args, container_id, stdio=stdio or (0, 1, 2), what="create")
            with open(os.path.join(ours, "pid")) as fh:
                pid = int(fh.read().strip())
            if listener is not None:
                listener.forward(console)  # type: ignore[arg-type]
        except BaseException:
            self._undo_create(container_id, place)
            raise
        finally:
            if listener is not None:
                listener.close()
        return RuntimeState(id=container_id, status="created", pid=pid, bundle=bundle,
                            annotations=dict(spec.get("annotations") or {}))

    def _undo_create(self, container_id: str, place: Any) -> None:
        import shutil

        try:
            if os.path.isdir(os.path.join(self.state_root, container_id)):
                self._call("delete", "--force", container_id)
        except IsolationError:
            pass
        place.remove()
        shutil.rmtree(self._bundle_dir(container_id), ignore_errors=True)

    def start(self, container_id: str) -> None:
        status = self._status(container_id)
        if status != "created":
            raise IsolationError(f"container {container_id} is {status}, not created: it cannot be started",
                                 hint="only a freshly created container can be started; create a new one")
        self._call("start", container_id)

    def kill(self, container_id: str, signal: int) -> None:
        status = self._status(container_id)
        if status not in ("created", "running", "paused"):
            raise IsolationError(f"container {container_id} is {status}: it cannot be signalled",
                                 hint="only a created or running container receives signals")
        self._call("kill", container_id, str(int(signal)))

    def delete(self, container_id: str, force: bool = False) -> None:
        import shutil

        from . import cgroups

        doc = self._query(container_id)
        if doc is not None:
            if doc.get("status") in ("running", "paused") and not force:
                raise IsolationError(f"container {container_id} is {doc.get('status')}: stop it first",
                                     hint="or delete it with force (kills it)")
            if doc.get("status") == "paused":  # killed, then thawed: a frozen v1 task dies only once thawed
                for args in (("kill", container_id, "9"), ("resume", container_id)):
                    try:
                        self._call(*args)
                    except IsolationError:
                        pass
            self._call("delete", *(["--force"] if doc.get("status") != "stopped" else []), container_id)
        cgroups.Placement.load(self._bundle_dir(container_id)).remove()
        shutil.rmtree(self._bundle_dir(container_id), ignore_errors=True)

    def _status(self, container_id: str) -> str:
        doc = self._query(container_id)
        if doc is None:
            raise IsolationError(f"container {container_id} does not exist in {self.runtime_name}",
                                 hint="create it first")
        return str(doc.get("status") or "unknown")

    def state(self, container_id: str) -> RuntimeState:
        doc = self._query(container_id)
        if doc is None:
            raise IsolationError(f"container {container_id} does not exist in {self.runtime_name}",
                                 hint="create it first")
        status = doc.get("status") if doc.get("status") in ("creating", "created", "running", "paused", "stopped") \
            else "stopped"
        annotations = dict(doc.get("annotations") or {})
        origin = os.path.join(self._bundle_dir(container_id), "origin")
        try:
            with open(origin) as fh:
                bundle = fh.read()
        except OSError:
            bundle = str(doc.get("bundle") or "")
        if status == "stopped":
            from . import cgroups

            killed = cgroups.Placement.load(self._bundle_dir(container_id)).oom_killed()
            if killed is not None:
                annotations[OOM_ANNOTATION] = "true" if killed else "false"
        return RuntimeState(id=container_id, status=status, pid=doc.get("pid") if status != "stopped" else None,
                            bundle=bundle, annotations=annotations)

    def exec(self, container_id: str, process: dict[str, Any], stdio: tuple[int, int, int] | None = None,
             console: int | None = None, preserve_fds: int = 0) -> Any:
        """``runtime exec --detach --process`` (see :mod:`.execute`)."""
        from .execute import exec_process

        return exec_process(self, container_id, process, stdio, console, preserve_fds)

    # -- a running container's cgroup ------------------------------------------------------------
    def pause(self, container_id: str) -> None:
        """``runtime pause``: the runtime freezes the container's cgroup."""
        status = self._status(container_id)
        if status != "running":
            raise IsolationError(f"container {container_id} is {status}: only a running container can be paused",
                                 hint="start it first" if status != "paused" else "it is paused already")
        self._call("pause", container_id)

    def resume(self, container_id: str) -> None:
        """``runtime resume``."""
        status = self._status(container_id)
        if status != "paused":
            raise IsolationError(f"container {container_id} is {status}, not paused: it cannot be resumed",
                                 hint="only a paused container can be resumed")
        self._call("resume", container_id)

    def _cgroup_dirs(self, container_id: str) -> list[str]:
        from . import cgroups

        self._status(container_id)  # (an unknown id raises)
        return cgroups.Placement.load(self._bundle_dir(container_id)).dirs

    def processes(self, container_id: str) -> list[int]:
        from capsa.drivers.cgroupfiles import members

        dirs = self._cgroup_dirs(container_id)
        return members(dirs)

    def stats(self, container_id: str) -> ResourceUsage:
        from capsa.drivers.cgroupfiles import usage

        return usage(self._cgroup_dirs(container_id))

    def gc(self, live: Iterable[str], dry_run: bool = False) -> list[str]:
        """Delete the runtime's containers (and this driver's bundle copies) not in ``live``."""
        keep = set(live)
        found: list[str] = []
        names: set[str] = set()
        for where in (self.state_root, os.path.join(self.context.run_home_dir, "bundles")):
            try:
                names |= {e.name for e in os.scandir(where) if e.is_dir(follow_symlinks=False)}
            except OSError:
                pass
        for name in sorted(names - keep):
            found.append(f"{self.runtime_name} container {name}: not a container of this store")
            if not dry_run:
                try:
                    self.delete(name, force=True)
                except IsolationError as exc:
                    found[-1] += f" (not removed: {exc.message})"
        return found


def runtime_error(runtime: str, what: str, log: str) -> IsolationError:
    """The IsolationError for a failed runtime call, from its log (text or JSON lines): a
    command not found exits 127 and one that cannot be invoked 126, as with podman."""
    from capsa.errors import EXIT_CANNOT_INVOKE, EXIT_NOT_FOUND

    lines = [_log_message(line) for line in log.splitlines() if line.strip()]
    message = (lines[-1] if lines else "no message").strip()
    low = message.lower()
    code = None
    if ("executable file" in low and "not found" in low or "exec:" in low and "no such file" in low
            or "chdir" in low and "no such file" in low):  # (a missing working directory: podman's 127 too)
        code = EXIT_NOT_FOUND
    elif ("exec" in low or "executable" in low) and "permission denied" in low:
        code = EXIT_CANNOT_INVOKE
    if code and "chdir" in low:
        hint = "check that the working directory (-w) is a directory in the container"
    elif code:
        hint = "check that the command exists in the image and is executable"
    else:
        hint = f"the message is {runtime}'s; check the container's settings"
    return IsolationError(f"{runtime} {what}: {message}", hint=hint, exit_code=code)


def _log_message(line: str) -> str:
    """One line of a runtime log: runc writes ``time=... level=error msg="..."``, crun plain text."""
    marker = ' msg="'
    if marker in line:
        text = line.split(marker, 1)[1]
        text = text[:-1] if text.endswith('"') else text
        return text.replace('\\"', '"')
    return line


def _load_spec(bundle: str) -> dict[str, Any]:
    from json import loads

    try:
        with open(os.path.join(bundle, "config.json")) as fh:
            spec = loads(fh.read())
    except (OSError, ValueError) as exc:
        raise IsolationError(f"cannot read {bundle}/config.json: {exc}",
                             hint="the bundle directory must hold the OCI runtime spec as config.json") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("root"), dict):
        raise IsolationError(f"{bundle}/config.json is not an OCI runtime spec (no root)",
                             hint="write the bundle with capsa, or follow the OCI runtime spec")
    return spec


def _write_bundle(directory: str, spec: dict[str, Any], origin: str, cgroups_path: str) -> None:
    """The runtime's bundle: ``spec`` with ``cgroupsPath`` and an absolute root path."""
    from json import dumps

    os.makedirs(directory, mode=0o700)
    spec = dict(spec)
    root = dict(spec["root"])
    root["path"] = os.path.join(origin, root.get("path") or "rootfs")  # (an absolute path stays as it is)
    spec["root"] = root
    spec["linux"] = {**(spec.get("linux") or {}), "cgroupsPath": cgroups_path}
    with open(os.path.join(directory, "config.json"), "w") as fh:
        fh.write(dumps(spec))
    with open(os.path.join(directory, "origin"), "w") as fh:
        fh.write(origin)
