"""``--change`` (import, commit) reads its instruction with the Containerfile parser and applies it
with the same code the build uses for metadata steps (capsa.image.config.apply_instruction)."""
from __future__ import annotations

import pytest

from capsa.build.changes import parse_change
from capsa.errors import UsageError
from capsa.image.config import apply_change, apply_instruction


def applied(*changes: str, runtime: dict | None = None) -> dict:
    runtime = dict(runtime or {})
    for change in changes:
        apply_change(runtime, change)
    return runtime


def test_commands_exec_shell_and_key_equals_forms() -> None:
    assert applied('CMD ["/bin/sh"]')["Cmd"] == ["/bin/sh"]
    assert applied("CMD echo  hi")["Cmd"] == ["/bin/sh", "-c", "echo  hi"]
    assert applied("CMD=/bin/pwd")["Cmd"] == ["/bin/sh", "-c", "/bin/pwd"]
    assert applied("ENTRYPOINT ['x']")["Entrypoint"] == ["/bin/sh", "-c", "['x']"]   # not JSON: shell form
    assert applied("ENTRYPOINT []")["Entrypoint"] == []


def test_env_and_label_follow_the_containerfile_rules() -> None:
    rt = applied('ENV A=1 B="two words" C=$PATH:/x', "ENV LEGACY a b  c", "ENV A=3",
                 runtime={"Env": ["PATH=/bin", "A=0"]})
    # as docker: a variable set again keeps its place
    assert rt["Env"] == ["PATH=/bin", "A=3", "B=two words", "C=/bin:/x", "LEGACY=a b  c"]
    assert applied('LABEL "com.x.y"="a b" k=v')["Labels"] == {"com.x.y": "a b", "k": "v"}


def test_ports_volumes_and_the_rest() -> None:
    rt = applied("EXPOSE 80 81/UDP 90-92", 'VOLUME ["/a", "/b c"]', "VOLUME /d /e", "USER app",
                 "WORKDIR /srv", "WORKDIR sub", "STOPSIGNAL SIGINT", "ONBUILD RUN echo hi")
    assert rt["ExposedPorts"] == {p: {} for p in ("80/tcp", "81/udp", "90/tcp", "91/tcp", "92/tcp")}
    assert rt["Volumes"] == {p: {} for p in ("/a", "/b c", "/d", "/e")}
    assert (rt["User"], rt["WorkingDir"], rt["StopSignal"], rt["OnBuild"]) == ("app", "/srv/sub", "2", ["RUN echo hi"])  # podman stores the number


@pytest.mark.parametrize(("change", "message"), [
    ("RUN make", "invalid instruction RUN"),
    ("", "invalid instruction"),
    ("ENV PATH", "ENV must have two arguments"),
    ("ENV =x", "ENV names can not be blank"),
    ("EXPOSE http", "invalid containerPort: http"),
    ("STOPSIGNAL SIGNOPE", "invalid signal"),
    ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
    ("CMD x\nRUN y", "exactly one instruction"),
    ("WORKDIR ${X", "missing '}'"),
])
def test_bad_changes_are_usage_errors(change: str, message: str) -> None:
    runtime: dict = {"Env": ["A=1"]}
    with pytest.raises(UsageError, match="invalid change") as err:
        apply_change(runtime, change)
    assert message in str(err.value) and err.value.hint
    assert runtime == {"Env": ["A=1"]}


def test_the_build_applies_instructions_with_its_shell() -> None:
    runtime: dict = {}
    apply_instruction(runtime, parse_change("CMD run it"), shell=["/bin/bash", "-lc"])
    assert runtime["Cmd"] == ["/bin/bash", "-lc", "run it"]
