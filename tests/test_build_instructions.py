"""capsa.build.instructions: every instruction's parsing and validation, the expansion rules,
stages and ARG scoping as parsed, and the history text (capsa.build.history)."""
from __future__ import annotations

import pytest

from capsa.build import instructions as I
from capsa.build.history import created_by, step_text
from capsa.build.instructions import parse_plan, parse_trigger
from capsa.errors import BuildError


def one(text: str) -> I.Instruction:
    """The single instruction after ``FROM scratch``."""
    stage = parse_plan("FROM scratch\n" + text).stages[0]
    assert len(stage.instructions) == 2
    return stage.instructions[1]


def fails(text: str, message: str, line: int = 2) -> BuildError:
    with pytest.raises(BuildError) as err:
        parse_plan(text)
    assert str(err.value).startswith(f"Containerfile:{line}: {message}"), str(err.value)
    assert err.value.hint
    return err.value


# -- stages and FROM

def test_stages_meta_args_and_from_forms() -> None:
    plan = parse_plan("ARG BASE=busybox\nARG V\nFROM $BASE AS Build\nRUN x\n"
                      "FROM --platform=linux/amd64 scratch\nCOPY --from=build /a /b\n")
    assert [a.pairs for a in plan.meta_args] == [[("BASE", "busybox")], [("V", None)]]
    first, second = plan.stages
    assert (first.index, first.name, first.base, first.platform, first.line) == (0, "build", "$BASE", None, 3)
    assert (second.index, second.name, second.base, second.platform, second.line) == (1, None, "scratch", "linux/amd64", 5)
    assert [type(i).__name__ for i in first.instructions] == ["From", "Run"]
    assert first.instructions[0].expanded({"BASE": "busybox"}).base == "busybox"
    assert plan.escape == "\\"


@pytest.mark.parametrize(("text", "message", "line"), [
    ("RUN x\n", "no build stage in current context", 1),
    ("FROM a b\n", "FROM requires either one or three arguments", 1),
    ("FROM a TO b\n", "FROM requires either one or three arguments", 1),
    ("FROM a AS 9x\n", "invalid name for build stage: '9x'", 1),
    ("FROM a AS x\nFROM b AS X\n", "duplicate name x", 2),
    ("FROM --plat=x a\n", "FROM: unknown flag: --plat", 1),
    ("FROM --platform a\n", "FROM: missing a value on flag: --platform", 1),
])
def test_from_errors(text: str, message: str, line: int) -> None:
    fails(text, message, line)


def test_no_from_at_all() -> None:
    with pytest.raises(BuildError, match="no FROM instruction"):
        parse_plan("ARG A=1\n")


# -- RUN CMD ENTRYPOINT SHELL

def test_run_forms_and_heredoc() -> None:
    shell = one("RUN echo $HOME \\\n  && ls\n")
    assert (shell.command, shell.json_form) == (["echo $HOME   && ls"], False)
    assert shell.expanded({"HOME": "/x"}) is shell          # the shell expands it, not the builder
    exec_ = one('RUN ["ls", "-l"]\n')
    assert (exec_.command, exec_.json_form) == (["ls", "-l"], True)
    doc = one("RUN <<EOF\necho hi\nEOF\n")
    assert doc.command == ["<<EOF"] and doc.heredocs[0].content == "echo hi\n"


def test_run_refusals() -> None:
    fails("FROM a\nRUN --mount=type=cache,target=/c make\n", "RUN --mount is not supported by capsa build")
    fails("FROM a\nRUN --network=none make\n", "RUN --network is not supported")
    fails("FROM a\nRUN\n", "RUN requires at least one argument")
    fails("FROM a\nRUN --bogus x\n", "RUN: unknown flag: --bogus")


def test_cmd_entrypoint_shell() -> None:
    assert one("CMD echo $X\n").command == ["echo $X"]
    assert one('CMD ["a", "$X"]\n').expanded({"X": "1"}).command == ["a", "$X"]
    assert one("CMD []\n").command == []
    assert (one('ENTRYPOINT ["/bin/sh"]\n').command, one("ENTRYPOINT top -b\n").json_form) == (["/bin/sh"], False)
    assert one('SHELL ["/bin/bash", "-c"]\n').shell == ["/bin/bash", "-c"]
    fails("FROM a\nSHELL /bin/bash -c\n", "SHELL requires the arguments to be in JSON form")
    fails("FROM a\nSHELL []\n", "SHELL requires at least one argument")
    fails("FROM a\nCMD --doit [\"a\"]\n", "CMD: unknown flag: --doit")


# -- ENV LABEL ARG

def test_env_both_forms_and_expansion() -> None:
    legacy = one('ENV GREETING hello "big" world\n')
    assert legacy.pairs == [("GREETING", 'hello "big" world')]
    assert legacy.expanded({}).pairs == [("GREETING", "hello big world")]
    pairs = one('ENV A=1 B="two words" C=$A D=\'$A\' E=${Z:-dflt}\n')
    assert pairs.expanded({"A": "0"}).pairs == [
        ("A", "1"), ("B", "two words"), ("C", "0"), ("D", "$A"), ("E", "dflt")]
    fails("FROM a\nENV PATH\n", "ENV must have two arguments")
    fails("FROM a\nENV\n", "ENV requires at least one argument")
    fails("FROM a\nENV =x\n", "ENV names can not be blank")
    fails("FROM a\nLABEL a=1 =x\n", "LABEL names can not be blank")


def test_label_and_maintainer() -> None:
    label = one('LABEL "com.example.a"="x y" b=$V\n')
    assert label.expanded({"V": "v"}).pairs == [("com.example.a", "x y"), ("b", "v")]
    assert one("MAINTAINER Jane <j@x>\n").name == "Jane <j@x>"
    assert one("MAINTAINER Jane <j@x>\n").expanded({}).name == "Jane <j@x>"
    fails("FROM a\nLABEL\n", "LABEL requires at least one argument")
    fails("FROM a\nMAINTAINER\n", "MAINTAINER requires exactly one argument")


def test_arg_scoping_data() -> None:
    plan = parse_plan("ARG V=1\nFROM a\nARG V\nARG W=\"x y\" X\nRUN echo\nFROM b\nRUN echo\n")
    assert [a.pairs for a in plan.meta_args] == [[("V", "1")]]
    first, second = plan.stages
    args = [i for i in first.instructions if isinstance(i, I.Arg)]
    assert [a.pairs for a in args] == [[("V", None)], [("W", '"x y"'), ("X", None)]]
    assert args[1].expanded({}).pairs == [("W", "x y"), ("X", None)]
    assert not [i for i in second.instructions if isinstance(i, I.Arg)]   # ARGs end with their stage
    fails("FROM a\nARG\n", "ARG requires at least one argument")
    fails("FROM a\nARG =x\n", "ARG names can not be blank")


# -- EXPOSE WORKDIR USER VOLUME STOPSIGNAL

def test_simple_word_instructions() -> None:
    env = {"P": "80 81/udp", "D": "/srv", "U": "app", "S": "SIGINT"}
    assert one("EXPOSE $P 90-92/tcp\n").expanded(env).ports == ["80", "81/udp", "90-92/tcp"]
    assert one("WORKDIR $D/x\n").expanded(env).path == "/srv/x"
    assert one("USER $U:$U\n").expanded(env).user == "app:app"
    assert one("STOPSIGNAL $S\n").expanded(env).signal == "SIGINT"
    assert one('VOLUME ["/a", "$D"]\n').expanded(env).paths == ["/a", "/srv"]
    assert one("VOLUME /a $D\n").expanded(env).paths == ["/a", "/srv"]
    fails("FROM a\nEXPOSE 80/foo\n", "invalid proto: foo")
    fails("FROM a\nEXPOSE http\n", "invalid containerPort: http")
    fails("FROM a\nEXPOSE 8010-8000\n", "invalid range specified for container port: 8010-8000")
    fails("FROM a\nEXPOSE 80-\n", "invalid containerPort: 80-")
    assert one("WORKDIR /a b\n").path == "/a b"                  # one string, as docker reads it
    fails("FROM a\nWORKDIR\n", "WORKDIR requires exactly one argument")
    fails("FROM a\nUSER\n", "USER requires exactly one argument")
    fails('FROM a\nVOLUME [""]\n', "VOLUME specified can not be an empty string")
    assert one('VOLUME [" /a ", "/b"]\n').expanded({}).paths == ["/a", "/b"]   # docker trims each path
    fails("FROM a\nSTOPSIGNAL\n", "STOPSIGNAL requires exactly one argument")
    fails("FROM a\nSTOPSIGNAL SIGBOGUS\n", "STOPSIGNAL: invalid signal 'SIGBOGUS'")
    assert one("STOPSIGNAL 9\n").signal == "9" and one("STOPSIGNAL term\n").signal == "term"
    with pytest.raises(BuildError, match="invalid containerPort"):
        one("EXPOSE $P\n").expanded({"P": "nope"})


# -- COPY ADD

def test_copy_flags_sources_and_expansion() -> None:
    copy = one("COPY --from=build --chown=$U:1 --chmod=0755 --link a* $D/b /dest/\n")
    assert isinstance(copy, I.Copy) and not isinstance(copy, I.Add)
    assert (copy.sources, copy.dest, copy.from_, copy.chown, copy.chmod, copy.link) == (
        ["a*", "$D/b"], "/dest/", "build", "$U:1", "0755", True)
    done = copy.expanded({"U": "app", "D": "dir"})
    assert (done.sources, done.chown) == (["a*", "dir/b"], "app:1")
    json_form = one('COPY ["a b", "/c d/"]\n')
    assert (json_form.sources, json_form.dest) == (["a b"], "/c d/")
    add = one("ADD --chown=1 x.tar /\n")
    assert isinstance(add, I.Add) and add.chown == "1"


def test_copy_heredoc_sources() -> None:
    copy = one("COPY <<one.txt <<-'two' /d/\nfirst $X\none.txt\n\tsecond\n\ttwo\n")
    assert copy.sources == []
    first, second = copy.heredocs
    assert (first.name, first.text(), first.expand) == ("one.txt", "first $X\n", True)
    assert (second.name, second.text(), second.expand) == ("two", "second\n", False)


@pytest.mark.parametrize(("text", "message"), [
    ("COPY a\n", "COPY requires at least two arguments"),
    ("ADD a\n", "ADD requires at least two arguments"),
    ("COPY a <<EOF\nx\nEOF\n", "COPY cannot accept a heredoc as a destination"),
    ("COPY --chown a b\n", "COPY: missing a value on flag: --chown"),
    ("COPY --from=x --from=y a b\n", "COPY: duplicate flag specified: --from"),
    ("COPY --link=maybe a b\n", "COPY: expecting boolean value for flag --link"),
    ("COPY --parents a b\n", "COPY --parents is not supported by capsa build"),
    ("ADD --from=x a b\n", "ADD: unknown flag: --from"),
    ("ADD --checksum=sha256:0 a b\n", "ADD --checksum is not supported"),
])
def test_copy_errors(text: str, message: str) -> None:
    fails("FROM a\n" + text, message)


# -- HEALTHCHECK

def test_healthcheck() -> None:
    hc = one("HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --retries=4 CMD curl -f x\n")
    assert hc.test == ["CMD-SHELL", "curl -f x"]
    assert (hc.interval, hc.timeout, hc.start_period, hc.retries) == (90 * 10**9, 5 * 10**8, 2 * 10**9, 4)
    assert hc.config() == {"Test": ["CMD-SHELL", "curl -f x"], "Interval": 90 * 10**9,
                           "Timeout": 5 * 10**8, "StartPeriod": 2 * 10**9, "Retries": 4}
    exec_ = one('HEALTHCHECK CMD ["/bin/check", "-q"]\n')
    assert (exec_.test, exec_.interval, exec_.retries) == (["CMD", "/bin/check", "-q"], 0, 0)
    none = one("HEALTHCHECK NONE\n")
    assert none.test is None and none.config() == {"Test": ["NONE"]}
    assert I.Healthcheck.DEFAULTS["interval"] == 30 * 10**9


@pytest.mark.parametrize(("text", "message"), [
    ("HEALTHCHECK\n", "HEALTHCHECK requires at least one argument"),
    ("HEALTHCHECK NONE x\n", "HEALTHCHECK NONE takes no arguments"),
    ("HEALTHCHECK CONNECT TCP 7000\n", "Unknown type 'CONNECT' in HEALTHCHECK (try CMD)"),
    ("HEALTHCHECK CMD\n", "Missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK --interval=5 CMD x\n", 'HEALTHCHECK --interval: time: missing unit in duration "5"'),
    ("HEALTHCHECK --timeout=1x CMD x\n", 'HEALTHCHECK --timeout: time: unknown unit "x"'),
    ("HEALTHCHECK --interval=10ns CMD x\n", "HEALTHCHECK --interval cannot be less than 1ms"),
    # podman 4.3 (checked here) refuses 0 and negative values: "absent" is the only default
    ("HEALTHCHECK --retries=-1 CMD x\n", "HEALTHCHECK --retries must be at least 1 (not -1)"),
    ("HEALTHCHECK --retries=0 CMD x\n", "HEALTHCHECK --retries must be at least 1 (not 0)"),
    ("HEALTHCHECK --interval=0s CMD x\n", 'HEALTHCHECK --interval must be positive'),
    ("HEALTHCHECK --timeout=-1s CMD x\n", 'HEALTHCHECK --timeout must be positive'),
    ("HEALTHCHECK --retries=two CMD x\n", "HEALTHCHECK --retries: invalid number 'two'"),
    ("HEALTHCHECK --retries=1_0 CMD x\n", "HEALTHCHECK --retries: invalid number '1_0'"),
    ("HEALTHCHECK --retries=9999999999 CMD x\n", "HEALTHCHECK --retries: invalid number '9999999999'"),
    ("HEALTHCHECK --every=5s CMD x\n", "HEALTHCHECK: unknown flag: --every"),
])
def test_healthcheck_errors(text: str, message: str) -> None:
    fails("FROM a\n" + text, message)


# -- ONBUILD and triggers

def test_onbuild() -> None:
    ob = one("ONBUILD  COPY --chown=1 . /app\n")
    assert ob.expression == "COPY --chown=1 . /app"
    assert isinstance(ob.trigger, I.Copy) and ob.trigger.chown == "1"
    assert ob.expanded({"X": "y"}) is ob
    fails("FROM a\nONBUILD ONBUILD RUN x\n", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    fails("FROM a\nONBUILD FROM b\n", "FROM isn't allowed as an ONBUILD trigger")
    fails("FROM a\nONBUILD MAINTAINER me\n", "MAINTAINER isn't allowed as an ONBUILD trigger")
    fails("FROM a\nONBUILD\n", "ONBUILD requires at least one argument")
    fails("FROM a\nONBUILD RUNN x\n", "unknown instruction: RUNN")


def test_parse_trigger() -> None:
    run = parse_trigger("RUN echo hi")
    assert isinstance(run, I.Run) and run.command == ["echo hi"]
    with pytest.raises(BuildError, match="ONBUILD trigger 'ONBUILD RUN x': Chaining"):
        parse_trigger("ONBUILD RUN x")
    with pytest.raises(BuildError, match="unknown instruction: BOGUS"):
        parse_trigger("BOGUS x")


# -- the whole file, escape, errors

def test_unknown_instruction_names_line_and_suggests() -> None:
    err = fails("FROM a\n\n# c\n\nRUN ok\nLABEL a=b\nRUNN make\n", "unknown instruction: RUNN", 7)
    assert "RUN" in err.hint


def test_custom_filename_and_parser_errors_get_it() -> None:
    with pytest.raises(BuildError, match=r"^Dockerfile\.dev:2: unterminated heredoc"):
        parse_plan("FROM a\nRUN <<EOF\n", "Dockerfile.dev")


def test_escape_directive_reaches_expansion() -> None:
    plan = parse_plan("# escape=`\nFROM a\nWORKDIR C:\\dir\\$X\nENV A=`$X\n")
    workdir, env = plan.stages[0].instructions[1:]
    assert plan.escape == "`" and workdir.escape == "`"
    assert workdir.expanded({"X": "sub"}).path == "C:\\dir\\sub"
    assert env.expanded({"X": "sub"}).pairs == [("A", "$X")]


# -- history text

def test_step_text_and_created_by() -> None:
    stage = parse_plan("FROM a\nARG A=1 B\nRUN echo hi \\\n  && echo there\nENV X=$A\n"
                       "COPY f /tmp/\nRUN [\"ls\"]\n").stages[0]
    _, arg, run, env, copy, exec_ = stage.instructions
    assert step_text(run) == "RUN echo hi   && echo there"
    assert created_by(run, build_args={"B": "2", "A": "1"}) == "|2 A=1 B=2 /bin/sh -c echo hi   && echo there"
    assert created_by(run) == "/bin/sh -c echo hi   && echo there"
    # podman 4.3 records "/bin/sh -c" whatever the stage's SHELL, exec form included
    assert created_by(exec_, build_args={"A": "1"}) == '|1 A=1 /bin/sh -c ["ls"]'
    # ARG records the names of every ARG in scope that has a value, sorted (podman 4.3:
    # "ARG B=2 A=1" gives "ARG A B", a later "ARG C" without value still "ARG A B")
    assert created_by(arg, build_args={"C": "3", "A": "1"}) == "/bin/sh -c #(nop) ARG A C"
    assert created_by(arg) == "/bin/sh -c #(nop) ARG "
    assert created_by(env) == "/bin/sh -c #(nop) ENV X=$A"
    assert created_by(copy, source_digest="file:abc") == "/bin/sh -c #(nop) COPY file:abc in /tmp/ "
    assert created_by(copy) == "/bin/sh -c #(nop) COPY f /tmp/"


# -- expansion errors: syntax before the build, values when expanding

def test_bad_substitution_fails_at_parse_time_with_its_line() -> None:
    fails("FROM a\nRUN ok\nWORKDIR ${X\n", "failed to process \"${X\": syntax error: missing '}'", 3)
    fails("FROM a\nENV A=\"unterminated\n", "failed to process", 2)
    fails("FROM a\nONBUILD USER ${:x}\n", "failed to process", 2)
    # RUN's text is the shell's: not checked
    assert one("RUN echo ${X\n").command == ["echo ${X"]
    # unset-variable errors depend on the build's values: not raised while parsing
    user = one("USER ${NAME:?give a name}\n")
    with pytest.raises(BuildError, match=r"^Containerfile:2: failed to process .*NAME: give a name"):
        user.expanded({})
    assert user.expanded({"NAME": "app"}).user == "app"


def test_copy_heredoc_bodies_expand_only_when_unquoted() -> None:
    copy = one("COPY <<a <<'b' /d/\n\"$X\" \\$X ${Y:-y}\na\n$X\nb\n")
    plain, quoted = copy.expanded({"X": "1"}).heredocs
    assert plain.content == '"1" \\$X y\n'
    assert quoted.content == "$X\n"
    run = one("RUN <<EOF\necho $X\nEOF\n")
    assert run.expanded({"X": "1"}).heredocs[0].content == "echo $X\n"


def test_onbuild_trigger_uses_the_file_escape() -> None:
    plan = parse_plan('# escape=`\nFROM a\nONBUILD ENV A="x\\"\n')
    trigger = plan.stages[0].instructions[1].trigger
    assert trigger.escape == "`" and trigger.expanded({}).pairs == [("A", "x\\")]


def test_run_heredoc_resolution() -> None:
    lone = one("RUN <<-EOF\n\techo one\n\techo two\n\tEOF\n")
    assert lone.shell_text() == "echo one\necho two\n" and lone.executable_heredoc() is None
    script = one("RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n")
    assert script.executable_heredoc().content == "#!/usr/bin/env python3\nprint(1)\n"
    inline = one("RUN cat <<A > /a && cat <<'B' > /b\nfirst\nA\nsecond $X\nB\n")
    assert inline.executable_heredoc() is None
    assert inline.shell_text() == "cat <<A > /a && cat <<'B' > /b\nfirst\nA\nsecond $X\nB"
    assert one("RUN echo plain\n").shell_text() == "echo plain"


def test_durations_follow_go() -> None:
    from capsa.build.durations import parse_duration
    assert parse_duration("1h2m3.5s") == 3723 * 10**9 + 5 * 10**8
    assert parse_duration("1.5ms") == 1_500_000 and parse_duration("0") == 0
    assert parse_duration("-2us") == -2000 and parse_duration("10µs") == 10_000
    for bad in ("", "5", "1d", "s", ".s", "1.5"):
        with pytest.raises(ValueError, match="time: "):
            parse_duration(bad)


def test_onbuild_heredoc_trigger_keeps_its_body() -> None:
    """docker stores the bodies after the line (each with its terminator), so the child build
    reads the whole trigger back."""
    ob = one("ONBUILD RUN <<EOF\necho hi\nEOF\n")
    assert ob.expression == "RUN <<EOF\necho hi\nEOF"
    again = parse_trigger(ob.expression)
    assert isinstance(again, I.Run) and again.heredocs[0].content == "echo hi\n"
    assert again.shell_text() == ob.trigger.shell_text() == "echo hi\n"


def test_stopsignal_takes_realtime_signals() -> None:
    """``STOPSIGNAL SIGRTMIN+3`` (systemd images) is a valid signal for docker and podman."""
    import signal

    from capsa.container.stopping import signal_number
    assert one("STOPSIGNAL SIGRTMIN+3\n").signal == "SIGRTMIN+3"
    assert signal_number("SIGRTMIN+3") == signal_number("rtmin+3") == signal.SIGRTMIN + 3
    assert signal_number("RTMAX-1") == signal.SIGRTMAX - 1
    fails("FROM a\nSTOPSIGNAL SIGRTMIN+99\n", "STOPSIGNAL: invalid signal 'SIGRTMIN+99'")
