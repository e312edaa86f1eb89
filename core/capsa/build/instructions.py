"""Typed, validated Containerfile instructions, grouped into stages (``parse_plan``).

``parse_plan`` checks the whole file before anything runs: unknown instructions, unknown or
malformed flags, wrong argument counts, a non-JSON ``SHELL``, bad ``HEALTHCHECK`` options, bad
stage names, instructions before the first ``FROM``... each a ``BuildError``
``"Containerfile:LINE: message"`` with a hint.

Values are kept as written (quotes, ``$VAR``); ``Instruction.expanded(env)`` returns a copy with
docker's expansion applied: the words of ``ADD COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER VOLUME
WORKDIR ARG`` expand (one word each with ``shellwords.expand``, ``EXPOSE`` split into words);
``RUN CMD ENTRYPOINT SHELL HEALTHCHECK ONBUILD MAINTAINER`` never do (the shell in the container
expands ``RUN``'s and ``CMD``'s text). ``ENV``/``LABEL``/``ARG`` values always go through the
lexer, so their quotes are removed even when nothing expands.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from capsa.build.checks import (EVERYTHING_SET, Invalid, check_count, check_flags, check_port, command_words,
                                 duration_flag, key_values)
from capsa.build.parser import Heredoc, Node, join_heredoc_openers, parse, parse_heredoc
from capsa.build.shellwords import expand, expand_heredoc, expand_words
from capsa.errors import BuildError

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")


@dataclass(kw_only=True)
class Instruction:
    """Base of every instruction: ``node`` is the parsed line (numbers, original text);
    ``escape`` the file's escape character (used when expanding)."""

    node: Node
    escape: str = "\\"
    filename: str = "Containerfile"

    @property
    def keyword(self) -> str:
        """The instruction's name, upper case (``"RUN"``)."""
        return self.node.keyword.upper()

    def expanded(self, env: Mapping[str, str]) -> Instruction:
        """A copy with docker's expansion rules applied (``self`` when nothing expands);
        ``BuildError`` ``"FILE:LINE: ..."`` on a bad ``${...}`` or an invalid result."""
        try:
            return self._expand(env)
        except BuildError as err:
            raise BuildError(f"{self.filename}:{self.node.start_line}: {err.message}", err.hint) from None

    def _expand(self, env: Mapping[str, str]) -> Instruction:
        return self

    def _x(self, word: str, env: Mapping[str, str]) -> str:
        return expand(word, env, self.escape)


@dataclass(kw_only=True)
class From(Instruction):
    base: str
    stage_name: str | None
    platform: str | None

    def _expand(self, env: Mapping[str, str]) -> From:
        """``base`` and ``--platform`` expand with the ARGs declared before the first FROM."""
        platform = self._x(self.platform, env) if self.platform else self.platform
        return dataclasses.replace(self, base=self._x(self.base, env), platform=platform)


@dataclass(kw_only=True)
class Run(Instruction):
    """``command``: the exec form's words, or in shell form one string for the shell (a
    ``<<EOF`` in it refers to ``heredocs``, in order). ``flags`` are the raw flags (none is
    accepted today)."""

    command: list[str]
    json_form: bool
    heredocs: list[Heredoc] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def _lone_heredoc(self) -> Heredoc | None:
        if self.json_form or not self.heredocs or parse_heredoc(self.command[0].strip()) is None:
            return None
        return self.heredocs[0]

    def executable_heredoc(self) -> Heredoc | None:
        """``RUN <<EOF`` whose body starts with ``#!``: docker writes the body to a file
        (mode 0755) and executes it instead of running a shell."""
        lone = self._lone_heredoc()
        return lone if lone is not None and lone.text().startswith("#!") else None

    def shell_text(self) -> str:
        """What the shell runs for shell form, heredocs resolved as docker does: a lone
        ``<<EOF`` runs its body; otherwise every body follows the line with its terminator, so
        the shell reads real here-documents (``cat <<EOF > file``)."""
        lone = self._lone_heredoc()
        if lone is not None:
            return lone.text()
        return self.command[0] + "".join(f"\n{doc.content}{doc.name}" for doc in self.heredocs)


@dataclass(kw_only=True)
class Cmd(Instruction):
    command: list[str]
    json_form: bool


@dataclass(kw_only=True)
class Entrypoint(Instruction):
    command: list[str]
    json_form: bool


@dataclass(kw_only=True)
class _Pairs(Instruction):
    """Key-value instructions: every key and value expands, all with the environment before
    the instruction (``ENV A=1 B=$A`` does not see the new ``A``)."""

    pairs: list[tuple[str, str | None]]

    def _expand(self, env: Mapping[str, str]) -> _Pairs:
        x = self._x
        return dataclasses.replace(self, pairs=[(x(k, env), None if v is None else x(v, env))
                                                for k, v in self.pairs])


@dataclass(kw_only=True)
class Env(_Pairs):
    """``pairs``: (name, value)."""


@dataclass(kw_only=True)
class Arg(_Pairs):
    """``pairs``: (name, default or None when the ARG has no ``=``)."""


@dataclass(kw_only=True)
class Label(_Pairs):
    """``pairs``: (key, value)."""


@dataclass(kw_only=True)
class Expose(Instruction):
    ports: list[str]

    def _expand(self, env: Mapping[str, str]) -> Expose:
        """Each port expands and splits into words (``EXPOSE $PORTS``)."""
        ports = [word for port in self.ports for word in expand_words(port, env, self.escape)]
        for port in ports:
            check_port(port)
        return dataclasses.replace(self, ports=ports)


@dataclass(kw_only=True)
class Workdir(Instruction):
    path: str

    def _expand(self, env: Mapping[str, str]) -> Workdir:
        return dataclasses.replace(self, path=self._x(self.path, env))


@dataclass(kw_only=True)
class User(Instruction):
    user: str

    def _expand(self, env: Mapping[str, str]) -> User:
        return dataclasses.replace(self, user=self._x(self.user, env))


@dataclass(kw_only=True)
class Volume(Instruction):
    paths: list[str]

    def _expand(self, env: Mapping[str, str]) -> Volume:
        paths = [self._x(path, env).strip() for path in self.paths]   # docker trims each path
        if any(not path for path in paths):
            raise Invalid("VOLUME specified can not be an empty string")
        return dataclasses.replace(self, paths=paths)


@dataclass(kw_only=True)
class Copy(Instruction):
    """``sources``: paths/globs (in the context, or in stage/image ``from_``); a source that
    is a heredoc (``<<EOF``) is in ``heredocs`` instead, under its name. ``link`` is accepted
    and changes nothing (every step makes its own layer anyway)."""

    sources: list[str]
    dest: str
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    heredocs: list[Heredoc] = field(default_factory=list)

    def _expand(self, env: Mapping[str, str]) -> Copy:
        """Sources, destination, ``--from``, ``--chown`` and ``--chmod`` expand, and the bodies
        of heredocs whose delimiter was unquoted (``$`` only: quotes and escapes stay)."""
        x = self._x
        return dataclasses.replace(
            self, sources=[x(s, env) for s in self.sources], dest=x(self.dest, env),
            from_=x(self.from_, env) if self.from_ else self.from_,
            chown=x(self.chown, env) if self.chown else self.chown,
            chmod=x(self.chmod, env) if self.chmod else self.chmod,
            heredocs=[dataclasses.replace(doc, content=expand_heredoc(doc.content, env, self.escape))
                      if doc.expand else doc for doc in self.heredocs])


@dataclass(kw_only=True)
class Add(Copy):
    """``ADD``: like ``COPY`` (without ``--from``), and local tar archives are extracted.
    URL sources are the builder's to fetch or refuse."""


@dataclass(kw_only=True)
class Shell(Instruction):
    shell: list[str]


@dataclass(kw_only=True)
class StopSignal(Instruction):
    signal: str

    def _expand(self, env: Mapping[str, str]) -> StopSignal:
        """The signal expands, and must then name a signal (``SIGTERM``, ``TERM``, ``15``)."""
        from capsa.signals import signal_number
        from capsa.errors import UsageError

        signal = self._x(self.signal, env)
        try:
            signal_number(signal)
        except UsageError as err:
            raise Invalid(f"STOPSIGNAL: {err.message}", err.hint) from None
        return dataclasses.replace(self, signal=signal)


@dataclass(kw_only=True)
class Healthcheck(Instruction):
    """``test``: None for ``HEALTHCHECK NONE`` (the image's check is disabled: docker stores
    ``["NONE"]``), else ``["CMD", ...]`` (exec form) or ``["CMD-SHELL", "text"]``. Durations
    are nanoseconds and ``retries`` a count; 0 means the flag was absent, i.e. docker's default
    (see ``DEFAULTS``), as in an image config (a 0 written in a flag is refused, as podman does)."""

    DEFAULTS = {"interval": 30_000_000_000, "timeout": 30_000_000_000, "start_period": 0,
                "start_interval": 5_000_000_000, "retries": 3}
    test: list[str] | None
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    def config(self) -> dict:
        """The image config's ``Healthcheck`` object (docker's field names, zeros omitted)."""
        if self.test is None:
            return {"Test": ["NONE"]}
        out: dict = {"Test": list(self.test)}
        for key, name in (("interval", "Interval"), ("timeout", "Timeout"),
                          ("start_period", "StartPeriod"), ("start_interval", "StartInterval"),
                          ("retries", "Retries")):
            if getattr(self, key):
                out[name] = getattr(self, key)
        return out


@dataclass(kw_only=True)
class OnBuild(Instruction):
    """``expression``: the trigger as written after ``ONBUILD``, heredoc bodies included (what
    the image config keeps);
    ``trigger``: it parsed and validated."""

    expression: str
    trigger: Instruction


@dataclass(kw_only=True)
class Maintainer(Instruction):
    name: str


@dataclass
class Stage:
    index: int
    name: str | None
    base: str
    platform: str | None
    line: int
    instructions: list[Instruction]


@dataclass
class Plan:
    meta_args: list[Arg]
    stages: list[Stage]
    escape: str


# -- building instructions from nodes

def _from(node: Node, flags: dict) -> Instruction:
    args = node.args
    if len(args) not in (1, 3) or (len(args) == 3 and args[1].lower() != "as"):
        raise Invalid("FROM requires either one or three arguments", "write FROM IMAGE [AS NAME]")
    name = args[2].lower() if len(args) == 3 else None
    if name is not None and not _STAGE_NAME.match(name):
        raise Invalid(f"invalid name for build stage: {name!r}, name can't start with a number or contain symbols")
    return From(node=node, base=args[0], stage_name=name, platform=flags.get("platform"))


def _run(node: Node, flags: dict) -> Instruction:
    check_count(node, 1)
    return Run(node=node, command=command_words(node), json_form=node.json_form,
               heredocs=list(node.heredocs), flags=list(node.flags))


def _cmd(node: Node, flags: dict) -> Instruction:
    return Cmd(node=node, command=command_words(node) if node.args else [], json_form=node.json_form)


def _entrypoint(node: Node, flags: dict) -> Instruction:
    return Entrypoint(node=node, command=command_words(node) if node.args else [], json_form=node.json_form)


def _arg(node: Node, flags: dict) -> Instruction:
    check_count(node, 1)
    pairs: list[tuple[str, str | None]] = []
    for word in node.args:
        name, has_value, value = word.partition("=")
        if not name:
            raise Invalid(f"ARG names can not be blank: {word!r}")
        pairs.append((name, value if has_value else None))
    return Arg(node=node, pairs=pairs)


def _copy(node: Node, flags: dict) -> Instruction:
    keyword = node.keyword.upper()
    if len(node.args) < 2:
        raise Invalid(f"{keyword} requires at least two arguments, but only one was provided. "
                      "Destination could not be determined.", f"write {keyword} SOURCE... DEST")
    *srcs, dest = node.args if node.json_form else join_heredoc_openers(node.args)
    if parse_heredoc(dest) is not None:
        raise Invalid(f"{keyword} cannot accept a heredoc as a destination")
    docs = {doc.name: doc for doc in node.heredocs}
    sources, heredocs = [], []
    for src in srcs:
        doc = parse_heredoc(src) if not node.json_form else None
        if doc is None:
            sources.append(src)
        else:
            heredocs.append(docs.get(doc.name, doc))
    cls = Copy if node.keyword == "copy" else Add
    return cls(node=node, sources=sources, dest=dest, from_=flags.get("from"), chown=flags.get("chown"),
               chmod=flags.get("chmod"), link=bool(flags.get("link")), heredocs=heredocs)


def _shell(node: Node, flags: dict) -> Instruction:
    if not node.json_form:
        raise Invalid("SHELL requires the arguments to be in JSON form", 'write SHELL ["/bin/sh", "-c"]')
    check_count(node, 1)
    return Shell(node=node, shell=list(node.args))


def _healthcheck(node: Node, flags: dict) -> Instruction:
    check_count(node, 1)
    kind = node.args[0].upper()
    if kind == "NONE":
        if len(node.args) != 1:
            raise Invalid("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(node=node, test=None)
    if kind != "CMD":
        raise Invalid(f"Unknown type {node.args[0]!r} in HEALTHCHECK (try CMD)", "write HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE")
    rest = node.args[1:]
    command = list(rest) if node.json_form else ([" ".join(rest)] if rest else [])
    if not command:
        raise Invalid("Missing command after HEALTHCHECK CMD")
    retries = 0
    if flags.get("retries"):
        text = str(flags["retries"])
        # Go's strconv.ParseInt(s, 10, 32): no "_", no spaces, a 32-bit value
        if not re.fullmatch(r"[+-]?[0-9]+", text) or not -2**31 <= int(text) < 2**31:
            raise Invalid(f"HEALTHCHECK --retries: invalid number {text!r}")
        retries = int(text)
        if retries < 1:
            raise Invalid(f"HEALTHCHECK --retries must be at least 1 (not {retries})",
                          "leave the flag out for the default (3)")
    return Healthcheck(node=node, test=(["CMD"] if node.json_form else ["CMD-SHELL"]) + command,
                       interval=duration_flag(flags, "interval"), timeout=duration_flag(flags, "timeout"),
                       start_period=duration_flag(flags, "start-period"),
                       start_interval=duration_flag(flags, "start-interval"), retries=retries)


_ONBUILD_PREFIX = re.compile(r"(?i)^\s*ONBUILD\s*")


def _onbuild(node: Node, flags: dict) -> Instruction:
    if node.child is None:
        raise Invalid("ONBUILD requires at least one argument", "write ONBUILD INSTRUCTION ...")
    trigger = node.child.keyword.upper()
    if trigger == "ONBUILD":
        raise Invalid("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("FROM", "MAINTAINER"):
        raise Invalid(f"{trigger} isn't allowed as an ONBUILD trigger")
    # as docker stores it: the line, then each heredoc body with its terminator
    expression = _ONBUILD_PREFIX.sub("", node.original, count=1)
    expression += "".join(f"\n{doc.content}{doc.name}" for doc in node.child.heredocs)
    return OnBuild(node=node, expression=expression, trigger=_make(node.child))


_Maker = Callable[[Node, dict], Instruction]


def _one(cls: type, attr: str) -> _Maker:
    def make(node: Node, flags: dict) -> Instruction:
        check_count(node, 1, 1)
        return cls(node=node, **{attr: node.args[0]})
    return make


def _list(cls: type, attr: str) -> _Maker:
    """(Values are checked by ``build_instruction``'s trial expansion: ports, empty paths.)"""
    def make(node: Node, flags: dict) -> Instruction:
        check_count(node, 1)
        return cls(node=node, **{attr: list(node.args)})
    return make


_BUILDERS: dict[str, _Maker] = {
    "from": _from, "run": _run, "cmd": _cmd, "entrypoint": _entrypoint,
    "env": lambda node, flags: Env(node=node, pairs=key_values(node)),
    "label": lambda node, flags: Label(node=node, pairs=key_values(node)),
    "arg": _arg, "expose": _list(Expose, "ports"), "volume": _list(Volume, "paths"),
    "workdir": _one(Workdir, "path"), "user": _one(User, "user"),
    "stopsignal": _one(StopSignal, "signal"), "maintainer": _one(Maintainer, "name"),
    "copy": _copy, "add": _copy, "shell": _shell, "healthcheck": _healthcheck, "onbuild": _onbuild,
}
KEYWORDS = tuple(sorted(k.upper() for k in _BUILDERS))


def _make(node: Node) -> Instruction:
    maker = _BUILDERS.get(node.keyword)
    if maker is None:
        import difflib
        written = node.original.split()[0] if node.original.split() else node.keyword
        close = difflib.get_close_matches(written.upper(), KEYWORDS, n=1)
        hint = f"did you mean {close[0]}?" if close else f"instructions are: {', '.join(KEYWORDS)}"
        raise Invalid(f"unknown instruction: {written}", hint)
    return maker(node, check_flags(node))


def build_instruction(node: Node, escape: str = "\\", filename: str = "Containerfile") -> Instruction:
    """The typed instruction for one node, its ``${...}`` syntax checked; ``Invalid`` (a
    ``BuildError``, without the file and line) when it is malformed."""
    inst = _make(node)
    for each in (inst, inst.trigger) if isinstance(inst, OnBuild) else (inst,):
        each.escape, each.filename = escape, filename
        each._expand(EVERYTHING_SET)
    return inst


def parse_plan(text: str, filename: str = "Containerfile") -> Plan:
    """The whole file parsed and validated, split into stages; every error is raised here,
    before any step runs, as ``"FILENAME:LINE: message"``."""
    try:
        df = parse(text)
    except BuildError as err:
        raise BuildError(f"{filename}:{err.message}".replace(":line ", ":", 1), err.hint) from None
    meta: list[Arg] = []
    stages: list[Stage] = []
    names: set[str] = set()
    for node in df.nodes:
        try:
            inst = build_instruction(node, df.escape, filename)
            if isinstance(inst, From):
                if inst.stage_name in names:
                    raise Invalid(f"duplicate name {inst.stage_name}", "give every stage its own AS name")
                if inst.stage_name:
                    names.add(inst.stage_name)
                stages.append(Stage(index=len(stages), name=inst.stage_name, base=inst.base,
                                    platform=inst.platform, line=node.start_line, instructions=[inst]))
            elif stages:
                stages[-1].instructions.append(inst)
            elif isinstance(inst, Arg):
                meta.append(inst)
            else:
                raise Invalid("no build stage in current context",
                              "only ARG may come before the first FROM")
        except BuildError as err:
            raise BuildError(f"{filename}:{node.start_line}: {err.message}", err.hint) from None
    if not stages:
        raise BuildError(f"{filename}: no FROM instruction", "a Containerfile starts (after ARGs) with FROM")
    return Plan(meta_args=meta, stages=stages, escape=df.escape)


def parse_trigger(text: str) -> Instruction:
    """One ONBUILD trigger as an image config stores it (``"RUN echo hi"``), validated the way
    ``ONBUILD`` validates it in a Containerfile."""
    try:
        df = parse(text)
        if len(df.nodes) != 1:
            raise Invalid("a trigger is exactly one instruction")
        wrapper = Node(keyword="onbuild", args=[], flags=[], json_form=False, heredocs=[],
                       original="ONBUILD " + text, start_line=1, end_line=1, child=df.nodes[0])
        inst = build_instruction(wrapper, df.escape, "ONBUILD trigger")
    except BuildError as err:
        raise BuildError(f"ONBUILD trigger {text!r}: {err.message}", err.hint) from None
    assert isinstance(inst, OnBuild)
    return inst.trigger
