"""One stage of a build: its state (the step's image, its runtime config, SHELL, the ARGs in
scope) and its steps, each either taken from the cache or made, then recorded in it.

The instructions are :mod:`capsa.build.instructions`' typed ones; each is expanded against
the stage's environment (the ARGs in scope, then ENV over them, as docker) before it runs.
Metadata instructions (CMD, ENV, LABEL, ...) change the runtime config and make an
empty-layer image; RUN, COPY/ADD (and WORKDIR when its directory is missing) make a layer
(:mod:`capsa.engine.buildsteps`).
"""
from __future__ import annotations

import contextlib
import copy
import json

from capsa.build.history import created_by, step_text
from capsa.engine import buildsteps
from capsa.engine.buildcache import step_key
from capsa.errors import BuildError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.engine.build import Builder
    from capsa.store.images import Image

DEFAULT_SHELL = ["/bin/sh", "-c"]
# docker's predefined ARGs: usable by RUN without an ARG line, and kept out of the history
PROXY_ARGS = frozenset({"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
                        "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"})


def kind_of(ins: Any) -> str:
    """An instruction's keyword, lower case (``run``, ``copy``...)."""
    node = getattr(ins, "node", None)
    return str(node.keyword).lower() if node is not None else type(ins).__name__.lower()


def _env_dict(env_list: list[str]) -> dict[str, str]:
    out = {}
    for item in env_list:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def _pairs(value: Any) -> list[tuple[str, str | None]]:
    """An instruction's pairs (a list of (key, value) or a dict) as a list."""
    if isinstance(value, dict):
        return list(value.items())
    return [(p[0], p[1]) for p in value or []]


def _duration_ns(value: Any) -> int:
    """A HEALTHCHECK duration as nanoseconds (the parser gives them as numbers or text)."""
    if value in (None, ""):
        return 0
    if isinstance(value, (int, float)):
        return int(value)
    from capsa.build.durations import parse_duration

    return parse_duration(str(value))


class Stage:
    """Runs one stage of the plan (``stage``) for ``builder``; ``prefix`` is the ``[i/n] ``
    that podman puts before the stage's lines in a multi-stage build."""

    def __init__(self, builder: Builder, stage: Any, prefix: str, final: bool) -> None:
        self.b = builder
        self.stage = stage
        self.prefix = prefix
        self.final = final
        self.image: Image | None = None
        self.config: dict[str, Any] = {}
        self.shell = list(DEFAULT_SHELL)
        self.args: dict[str, str | None] = {}  # the ARGs in scope (None: declared, no value)
        self.author: str | None = None
        self.cmd_set = False
        self.last_from = ""  # what the next history comment says the step stood on
        self.pending_dirs: list[str] = []  # WORKDIRs the next layer-making step creates

    @property
    def runtime(self) -> dict[str, Any]:
        return dict(self.config.get("config") or {})

    def env(self) -> dict[str, str]:
        """What ``$VAR`` means in this stage: the ARGs in scope with a value, ENV over them."""
        out = {k: v for k, v in self.args.items() if v is not None}
        out.update(_env_dict(list(self.runtime.get("Env") or [])))
        return out

    # -- running ------------------------------------------------------------------------------

    def run(self) -> Image | None:
        """Every step of the stage; the stage's last image (None: FROM scratch and nothing else).
        The base image's ONBUILD triggers come first, and in the target stage the ``--label``
        flags last (a LABEL step, as podman adds it); each is a step of its own."""
        base = self.start()
        steps = self._triggers() + [ins for ins in self.stage.instructions if kind_of(ins) != "from"]
        if self.final and self.b.opts.labels:
            steps.append(label_step(self.b.opts.labels))
        total = len(steps) + 1
        name = f" AS {self.stage.name}" if self.stage.name else ""
        self.b.emit("step", f"{self.prefix}STEP 1/{total}: FROM {base}{name}")
        for number, ins in enumerate(steps, start=2):
            self.step(ins, f"STEP {number}/{total}: {self._step_text(ins)}", last=number == total)
        if not steps and self.final:
            self._emit_commit()
            if self.image is not None:
                self.b.emit("image", self.image.id)
        return self.image

    def start(self) -> str:
        """FROM: the base (scratch, a previous stage, or an image pulled as ``--pull`` says);
        returns its reference, ARGs expanded (a previous stage: its image's id, as podman prints it)."""
        base = self.b.expand_meta(self.stage.base)
        from capsa.engine.build import check_platform

        check_platform(self.b.expand_meta(self.stage.platform) if self.stage.platform else None)
        self.image, self.last_from = self.b.base_image(base, self.stage.index)
        self.b.stage_bases[self.stage.index] = self.image
        if self.image is None:
            from capsa.image.config import new_config

            self.config = new_config([], "", [])
        else:
            with self.b.store.reading():
                self.config = self.b.store.config_of(self.image)
        self.author = self.config.get("author")
        if self.image is not None and self.b.stage_ref(base, self.stage.index) is not None:
            return self.image.id  # (podman names a previous stage by its image's full id)
        return base

    def _triggers(self) -> list[Any]:
        """The ONBUILD triggers of the base image, parsed (they run first, in order)."""
        triggers = list(self.runtime.get("OnBuild") or [])
        if not triggers:
            return []
        from capsa.build.instructions import parse_trigger

        out = [parse_trigger(text) for text in triggers]
        config = copy.deepcopy(self.config)
        config.setdefault("config", {}).pop("OnBuild", None)  # (a child's triggers are not inherited)
        self.config = config
        return out

    def _emit_commit(self) -> None:
        """podman's ``COMMIT NAME`` line (the first ``-t`` as given), before the last step's id."""
        self.b.emit("commit", f"{self.prefix}COMMIT {self.b.opts.tags[0] if self.b.opts.tags else ''}".rstrip())

    def _step_text(self, ins: Any) -> str:
        """What ``STEP i/n:`` shows: the instruction as written (its first line: a heredoc's
        body is not shown)."""
        return step_text(ins).split("\n", 1)[0]

    def step(self, ins: Any, announce: str, last: bool = False) -> None:
        """One instruction: expanded, then taken from the cache or made; prints podman's lines."""
        self.b.emit("step", f"{self.prefix}{announce}")
        kind = kind_of(ins)
        if kind == "arg":
            self._declare_args(ins)
        ins = ins.expanded(self.env())
        runtime = self.runtime
        handler = getattr(self, f"_do_{kind}", None)
        if handler is None:
            raise BuildError(f"{kind.upper()} is not supported by capsa's builder", hint="see docs/build.md")
        handler(ins, runtime, last)
        if last and self.final:
            self._emit_commit()
        self.b.emit("image", self.image.id if self.image is not None else "")

    # -- committing -----------------------------------------------------------------------------

    def _key(self, text: str, extra: list[str]) -> str:
        pending = [json.dumps({"workdirs": self.pending_dirs})] if self.pending_dirs else []
        return step_key(self.image.id if self.image else None, text,
                        [*extra, *pending, self.b.opts.fmt, self.author or ""])

    def _cached(self, key: str) -> bool:
        """Take the step's image from the cache (True), printing podman's line."""
        hit = self.b.cache_lookup(key)
        if hit is None:
            return False
        self.b.emit("cache", hit.id)
        self._became(hit)
        return True

    def _became(self, image: Image) -> None:
        self.image = image
        with self.b.store.reading():
            self.config = self.b.store.config_of(image)
        self.last_from = image.id[:12]

    def _commit(self, key: str, runtime: dict[str, Any], created_by: str, layer_id: str | None, *,
                ran: bool = False) -> Image:
        """The step's image: ``layer_id`` (a writable layer, None for an empty-layer step) on
        the current image, with ``runtime``; recorded in the cache under ``key``. ``ran``: the
        layer is a RUN container's (its diff leaves out the runtime's placeholder files, see
        :mod:`capsa.engine.runlayer`). The caller holds nothing; the store's lock is taken here."""
        from capsa.image.committing import derive_image, layer_from_container

        store = self.b.store
        history = {"created_by": created_by, "comment": f"FROM {self.last_from}" if self.last_from else ""}
        if not history["comment"]:
            del history["comment"]
        diff = None
        if layer_id is not None and ran:
            from capsa.engine.runlayer import run_diff

            with store.reading():
                parent = buildsteps.parent_layer(store, self.image)
            diff = run_diff(store, layer_id, parent)
        with store.writing(), (diff if diff is not None else contextlib.nullcontext()):
            layer = None
            if layer_id is not None:
                layer = layer_from_container(store, layer_id, buildsteps.parent_layer(store, self.image), diff=diff)
            image = derive_image(store, self.image, layer, runtime, history, [], intermediate=True,
                                 fmt=self.b.opts.fmt, author=self.author)
            self.b.record(key, image)
        self._became(image)
        return image

    def _metadata(self, ins: Any, runtime: dict[str, Any], text: str | None = None) -> None:
        """An empty-layer step: ``runtime`` is the new runtime config; ``text`` its history
        (default: :func:`capsa.build.history.created_by`'s)."""
        text = text or created_by(ins)
        key = self._key(text, [json.dumps(runtime, sort_keys=True)])
        if not self._cached(key):
            self._commit(key, runtime, text, None)

    # -- instructions -----------------------------------------------------------------------

    def _declare_args(self, ins: Any) -> None:
        for key, default in _pairs(getattr(ins, "pairs", [])):
            self.b.consumed.add(key)
            if key in self.b.opts.build_args:
                self.args[key] = self.b.opts.build_args[key]
            elif default is not None:
                from capsa.build.shellwords import expand

                self.args[key] = expand(default, self.env())
            else:
                self.args[key] = self.b.meta_values.get(key)

    def _do_arg(self, ins: Any, runtime: dict[str, Any], last: bool) -> None:
        self._metadata(ins, runtime, created_by(ins, build_args=self._shown_args()))

    def _command(self, ins: Any) -> list[str]:
        command = list(ins.command)
        if ins.json_form:
            return command
        return [*self.shell, " ".join(command)]

    def _do_cmd(self, ins: Any, runtime: dict[str, Any], last: bool) -> None:
        runtime["Cmd"] = self._command(ins)
        self.cmd_set = True
        self._metadata(ins, runtime)

    def _do_entrypoint(self, ins: Any, runtime: dict[str, Any], last: bool) -> None:
        runtime["Entrypoint"] = self._command(ins)
        if not self.cmd_set:
            runtime.pop("Cmd", None)  # (docker: an ENTRYPOINT drops the base image's CMD)
        self._metadata(ins, runtime)

    def _do_env(self, ins: Any, runtime: dict[str, Any], last: bool) -> None:
        env = list(runtime.get("Env") or [])
        for key, value in _pairs(ins.pairs):
            env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value or ''}"]
        runtime["Env"] = env
        self._metadata(ins, runtime)

    def _do_label(self, ins: Any, runtime: dict[str, Any], last: bool) -> None:
        pairs = _pairs(ins.pairs)
        runtime["Labels"] = {**(runtime.get("Labels") or {}), **{k: v or "" for k, v in pairs}}
        self._metadata(ins, runtime)

    def _do_expose(self, ins: Any, runtime: dict[str, Any], last: bool) -> None:
        ports = dict(runtime.get("ExposedPorts") or {})
        for port in ins.ports:
            port = str(port)
            ports[port if "/" in port else f"{port}/tcp"] = {}
        runtime["ExposedPorts"] = ports
        self._metadata(ins, runtime)

    def _do_user(self, ins: Any, runtime: dict[str, Any], last: bool) -> None:
        runtime["User"] = ins.user
        self._metadata(ins, runtime)

    def _do_volume(self, ins: Any, runtime: dict[str, Any], last: bool) -> None:
        runtime["Volumes"] = {**(runtime.get("Volumes") or {}), **{str(p): {} for p in ins.paths}}
        self._metadata(ins, runtime)

    def _do_stopsignal(self, ins: Any, runtime: dict[str, Any], last: bool) -> None:
        runtime["StopSignal"] = ins.signal
        self._metadata(ins, runtime)

    def _do_shell(self, ins: Any, runtime: dict[str, Any], last: bool) -> None:
        self.shell = list(ins.shell)
        runtime["Shell"] = list(ins.shell)
        self._metadata(ins, runtime)

    def _do_onbuild(self, ins: Any, runtime: dict[str, Any], last: bool) -> None:
        runtime["OnBuild"] = [*(runtime.get("OnBuild") or []), ins.expression]
        self._metadata(ins, runtime)

    def _do_maintainer(self, ins: Any, runtime: dict[str, Any], last: bool) -> None:
        self.author = ins.name
        self._metadata(ins, runtime)

    def _do_healthcheck(self, ins: Any, runtime: dict[str, Any], last: bool) -> None:
        test = getattr(ins, "test", None)
        if test is None:
            runtime["Healthcheck"] = {"Test": ["NONE"]}
        else:
            check: dict[str, Any] = {"Test": list(test)}
            for field, name in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod"),
                                ("start_interval", "StartInterval")):
                value = _duration_ns(getattr(ins, field, None))
                if value:
                    check[name] = value
            retries = getattr(ins, "retries", None)
            if retries:
                check["Retries"] = int(retries)
            runtime["Healthcheck"] = check
        self._metadata(ins, runtime)

    def _do_workdir(self, ins: Any, runtime: dict[str, Any], last: bool) -> None:
        """An empty-layer step, as buildah records it: the directory is made in the next step
        that makes a layer (RUN: the runtime makes its working directory; COPY/ADD: made in
        its layer), not at all when none follows (podman's image lacks it too)."""
        import posixpath

        path = posixpath.normpath(posixpath.join(runtime.get("WorkingDir") or "/", ins.path))
        runtime["WorkingDir"] = path
        self._metadata(ins, runtime)
        if path != "/":
            self.pending_dirs.append(path)

    def _do_run(self, ins: Any, runtime: dict[str, Any], last: bool) -> None:
        if getattr(ins, "flags", None):
            raise BuildError(f"RUN {' '.join(ins.flags)}: RUN flags are not supported by capsa's builder",
                             hint="see docs/build.md (RUN --mount, --network and --security are BuildKit's)")
        argv = self._run_argv(ins)
        env = self._run_args()
        text = created_by(ins, build_args={k: v for k, v in env if k not in PROXY_ARGS})
        key = self._key(text, [json.dumps(env), json.dumps(runtime, sort_keys=True)])
        self.pending_dirs.clear()  # (the runtime makes the working directory in the RUN's layer)
        if self._cached(key):
            return
        if self.image is None:
            raise BuildError(f'building at STEP "{self._step_text(ins)}": RUN needs a base image with a shell, not scratch',
                             hint="start the stage FROM an image")
        buildsteps.run_container(self.b.sess, self.b.store, self.image, argv, [f"{k}={v}" for k, v in env],
                                 self.b.container_options(), self._step_text(ins), self.b.opts.quiet,
                                 lambda layer_id: self._commit(key, runtime, text, layer_id, ran=True))

    def _run_argv(self, ins: Any) -> list[str]:
        """RUN's command: exec form as given; shell form through SHELL, heredocs inline (sh
        reads them itself) or, for a lone ``<<EOF``, the body as the script."""
        heredocs = list(getattr(ins, "heredocs", None) or [])
        if ins.json_form:
            return list(ins.command)
        command = " ".join(ins.command)
        if not heredocs:
            return [*self.shell, command]
        first = command.split("\n", 1)[0].strip()
        if len(heredocs) == 1 and first.lstrip("<-").strip("'\"") == heredocs[0].name and first.startswith("<<"):
            return [*self.shell, _heredoc_text(heredocs[0])]
        body = first
        for doc in heredocs:
            body += "\n" + _heredoc_text(doc) + ("" if _heredoc_text(doc).endswith("\n") else "\n") + doc.name
        return [*self.shell, body]

    def _shown_args(self) -> dict[str, str]:
        """The ARGs in scope with a value, as the history names them (no proxy arguments)."""
        return {k: v for k, v in self.args.items() if v is not None and k not in PROXY_ARGS}

    def _run_args(self) -> list[tuple[str, str]]:
        """The build arguments a RUN sees as environment variables: the ARGs in scope with a
        value that no ENV shadows, and the proxy arguments given with --build-arg."""
        env = _env_dict(list(self.runtime.get("Env") or []))
        out = [(k, v) for k, v in sorted(self.args.items()) if v is not None and k not in env]
        out += [(k, v) for k, v in sorted(self.b.opts.build_args.items())
                if k in PROXY_ARGS and k not in self.args and k not in env]
        return out

    def _do_copy(self, ins: Any, runtime: dict[str, Any], last: bool, add: bool = False) -> None:
        self.b.copy_step(self, ins, runtime, add)

    def _do_add(self, ins: Any, runtime: dict[str, Any], last: bool) -> None:
        self._do_copy(ins, runtime, last, add=True)


def label_step(labels: dict[str, str]) -> Any:
    """``--label`` as the LABEL instruction podman adds at the end of the target stage."""
    from capsa.build.instructions import parse_trigger

    return parse_trigger("LABEL " + " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in labels.items()))


def _heredoc_text(doc: Any) -> str:
    text = doc.text() if callable(getattr(doc, "text", None)) else doc.content
    return str(text)
