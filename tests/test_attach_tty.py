"""Terminals, ``attach`` and ``--detach-keys`` (issue 12, items 2, 3 and 6), through a real
pseudo-terminal: the capsa CLI runs with a pty's slave as its controlling terminal
(tests/ptyterm.py) and the test types, reads and resizes on the master."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import CAPSA, Capsa
from containers import BOTH, driver_store_fixtures
from ptyterm import PtyCommand

from capsa.container.attach import by_directory_fd
from capsa.container.detachkeys import InvalidDetachKeys, Matcher, parse


store, oci_store, c = driver_store_fixtures("attach")


def on_pty(c: Capsa, *args: str, rows: int = 24, cols: int = 80) -> PtyCommand:
    argv = [str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot), *args]
    return PtyCommand(argv, c.env, rows, cols)


def status(c: Capsa, name: str) -> str:
    return json.loads(c("inspect", name).stdout)[0]["State"]["Status"]


def lean_monitor(c: Capsa, name: str) -> None:
    """Wait until the container's monitor handed over to its lean form (attach must work there)."""
    monitor = int(c("inspect", "--format", "{{.State.ConmonPid}}", name).stdout)
    deadline = time.monotonic() + 10
    while b"capsa.container.lean_monitor" not in Path(f"/proc/{monitor}/cmdline").read_bytes():
        assert time.monotonic() < deadline, "the monitor did not hand over"
        time.sleep(0.05)


def attach_popen(c: Capsa, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
    base = [str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot)]
    return subprocess.Popen([*base, *args], env=c.env, **kwargs)  # type: ignore[call-overload, no-any-return]


def read_until(stream: object, marker: bytes, timeout: float = 15) -> bytes:
    """Read ``stream`` (a pipe) until ``marker`` shows (what was read), else fail."""
    import select

    fd, seen, deadline = stream.fileno(), b"", time.monotonic() + timeout  # type: ignore[attr-defined]
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{marker!r} not seen in {seen[-200:]!r}"
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 65536)
            assert chunk, f"end of output before {marker!r}: {seen[-200:]!r}"
            seen += chunk
    return seen


# -- the detach-key syntax -------------------------------------------------------------------------

@pytest.mark.parametrize("spec, keys", [
    (None, b"\x10\x11"), ("ctrl-p,ctrl-q", b"\x10\x11"), ("", b""), ("a", b"a"), ("ctrl-a", b"\x01"),
    ("ctrl-@", b"\x00"), ("ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", b"\x1b\x1c\x1d\x1e\x1f"), ("ctrl-x,y", b"\x18y"),
    ("DEL", b"\x7f"), ("ctrl-z,Z", b"\x1aZ"),
])
def test_detach_key_specs(spec: str | None, keys: bytes) -> None:
    assert parse(spec) == keys


@pytest.mark.parametrize("spec", ["ctrl-zz", "ctrl-A", "shift-a", "ab", "ctrl-p,", ",", "ctrl-", "é", "ctrl-1"])
def test_bad_detach_key_specs(spec: str) -> None:
    with pytest.raises(InvalidDetachKeys, match=r"^invalid detach keys: Unknown character: '"):
        parse(spec)


def test_the_matcher_holds_back_a_partial_sequence_and_passes_on_what_is_not_one() -> None:
    m = Matcher(b"\x10\x11")
    assert m.feed(b"ab\x10") == (b"ab", False)  # held: it may start the sequence
    assert m.feed(b"c") == (b"\x10c", False)  # it did not
    assert m.feed(b"\x10\x10") == (b"\x10", False)
    assert m.feed(b"\x11rest") == (b"", True)  # across two reads
    assert Matcher(b"").feed(b"\x10\x11") == (b"\x10\x11", False)  # "" never detaches
    assert Matcher(b"xyz").feed(b"axxyz") == (b"ax", True)


# -- run -it, attach, detach -----------------------------------------------------------------------

@BOTH
def test_run_it_is_a_real_terminal_that_follows_resizes_detaches_and_reattaches(c: Capsa) -> None:
    run = on_pty(c, "run", "-it", "--name", "term", "busybox", "sh", rows=33, cols=101)
    try:
        run.expect("# ")
        run.type("tty; stty size\r")
        assert "/dev/pts/0" in run.expect("33 101")  # a pty of the container's own, with our size
        # (a foreground job of its own: at its prompt busybox's line editor takes a SIGWINCH itself)
        run.type("sh -c \"trap 'echo got-winch' WINCH; echo armed-$((1+1)); while :; do sleep 0.1; done\"\r")
        run.expect("armed-2")
        run.resize(40, 120)  # the client sends the new size, the monitor sets it: SIGWINCH inside
        run.expect("got-winch")
        run.type(b"\x03")  # ctrl-c: the container's pty sends SIGINT to that job
        run.type("stty size\r")
        run.expect("40 120")
        run.type(b"\x10\x11")  # ctrl-p ctrl-q
        assert run.wait() == 0
        assert b"Error" not in run.output and b"\x10" not in run.output
        assert run.mode_now() == run.mode_before  # the terminal is as it was (not raw)
    finally:
        run.close()
    assert status(c, "term") == "running"
    lean_monitor(c, "term")
    again = on_pty(c, "attach", "term", rows=20, cols=70)
    try:
        again.wait_raw()
        again.type("echo hel''lo $((6*7)); stty size\r")
        again.expect("hello 42")
        again.expect("20 70")  # attaching sends our size
        again.type("exit 3\r")
        assert again.wait() == 3  # the container's exit code
        assert again.mode_now() == again.mode_before
    finally:
        again.close()
    assert status(c, "term") == "exited"


def test_custom_detach_keys_and_two_clients_watching(c: Capsa) -> None:
    assert c("run", "-dit", "--name", "shared", "busybox", "sh").returncode == 0
    lean_monitor(c, "shared")
    typing = on_pty(c, "attach", "--detach-keys", "ctrl-x,y", "shared")
    watching = on_pty(c, "attach", "--no-stdin", "shared")
    try:
        typing.wait_raw()
        for probe in range(1000, 1100):  # until the other one (which does not touch its terminal) is attached
            typing.type(f"echo probe-$(({probe}+1))\r")
            try:
                watching.expect(f"probe-{probe + 1}", timeout=0.2)
                break
            except AssertionError:
                pass
        else:
            raise AssertionError(f"the --no-stdin client saw nothing; output: {watching.output!r}")
        typing.type("echo both-$((20+3))\r")
        typing.expect("both-23")
        watching.expect("both-23")  # every client sees the output
        typing.type(b"\x18y")  # the custom keys detach this client only
        assert typing.wait() == 0
        assert typing.mode_now() == typing.mode_before
        assert status(c, "shared") == "running" and watching.proc.poll() is None
        watching.type("echo never\r")  # --no-stdin: nothing typed here reaches the container (its log says)
        last = on_pty(c, "attach", "shared")
        last.wait_raw()
        last.type("echo last-$((1+1)); exit 4\r")
        last.expect("last-2")
        watching.expect("last-2")
        assert last.wait() == 4 and watching.wait() == 4
        log = c("logs", "shared").stdout
        assert "last-2" in log and "never" not in log
    finally:
        typing.close()
        watching.close()


def test_empty_detach_keys_disable_detaching(c: Capsa) -> None:
    run = on_pty(c, "run", "-it", "--rm", "--detach-keys", "", "busybox", "sh")
    try:
        run.expect("# ")
        run.type(b"\x10\x11")
        time.sleep(0.5)
        assert run.proc.poll() is None  # still attached
        run.type(b"\x15exit 5\r")  # (ctrl-u: whatever ctrl-p recalled goes)
        assert run.wait() == 5
        assert run.mode_now() == run.mode_before
    finally:
        run.close()


def test_a_client_ended_by_a_signal_gives_the_terminal_back(c: Capsa) -> None:
    """SIGTERM (not proxied with --sig-proxy=false) ends the client: its terminal is restored first
    and it dies of that signal; the container goes on. Proxied, the container gets it."""
    assert c("run", "-dit", "--name", "going-on", "busybox", "sh").returncode == 0
    client = on_pty(c, "attach", "--sig-proxy=false", "going-on")
    try:
        client.wait_raw()
        client.proc.send_signal(signal.SIGTERM)
        assert client.wait() == -signal.SIGTERM
        assert client.mode_now() == client.mode_before
    finally:
        client.close()
    assert status(c, "going-on") == "running"
    client = on_pty(c, "attach", "going-on")
    try:
        client.wait_raw()
        client.proc.send_signal(signal.SIGTERM)  # proxied: the shell ignores SIGTERM, as login shells do
        time.sleep(0.3)
        assert client.proc.poll() is None
        client.type("exit 8\r")
        assert client.wait() == 8 and client.mode_now() == client.mode_before
    finally:
        client.close()


def test_a_restart_keeps_its_clients_and_their_window_size(c: Capsa) -> None:
    assert c("run", "-dit", "--restart", "on-failure:1", "--name", "again", "busybox", "sh").returncode == 0
    client = on_pty(c, "attach", "again", rows=25, cols=77)
    try:
        client.wait_raw()
        client.type("exit 1\r")  # the policy restarts it, on a new pty; the client stays
        deadline = time.monotonic() + 15
        while c("inspect", "--format", "{{.RestartCount}} {{.State.Status}}", "again").stdout.split() != ["1", "running"]:
            assert time.monotonic() < deadline, "not restarted"
            time.sleep(0.05)
        client.type("stty size\r")
        client.expect("25 77")
        client.type("exit 0\r")
        assert client.wait() == 0 and client.mode_now() == client.mode_before
    finally:
        client.close()
    assert json.loads(c("inspect", "again").stdout)[0]["RestartCount"] == 1


def test_start_ai_of_a_tty_container(c: Capsa) -> None:
    assert c("create", "-it", "--name", "later", "busybox", "sh").returncode == 0
    start = on_pty(c, "start", "-ai", "later", rows=30, cols=90)
    try:
        start.expect("# ")
        start.type("stty size; exit 6\r")
        start.expect("30 90")
        assert start.wait() == 6
        assert start.mode_now() == start.mode_before
    finally:
        start.close()


def test_a_large_paste_reaches_a_tty_container_whole(c: Capsa) -> None:
    """The pty's input queue holds a few KB: the monitor keeps the rest until the container reads."""
    run = on_pty(c, "run", "-it", "--rm", "busybox", "sh", "-c", "stty -echo; echo ready; wc -l")
    try:
        run.expect("ready")
        lines = "".join(f"line {i:05d} of a paste that is longer than a pty's buffer\r" for i in range(4000))
        run.type(lines)
        run.type(b"\x04")  # ctrl-d: the end of input, for the container's pty
        run.expect("4000")
        assert run.wait() == 0
    finally:
        run.close()


# -- attach without a terminal ---------------------------------------------------------------------

def test_run_d_then_attach_relays_output_and_the_exit_code(c: Capsa) -> None:
    r = c("run", "-d", "--name", "bg", "busybox", "sh", "-c", "sleep 1.5; echo late; echo oops >&2; exit 7")
    assert r.returncode == 0
    r = c("attach", "-l")  # (the newest container)
    assert (r.returncode, r.stdout, r.stderr) == (7, "late\n", "oops\n")
    r = c("attach", "bg")  # exited now: podman's error
    assert (r.returncode, r.stdout) == (125, "")
    assert r.stderr.splitlines()[0] == "Error: you can only attach to running containers"
    assert c("create", "--name", "fresh", "busybox", "true").returncode == 0
    assert c("attach", "fresh").returncode == 125
    r = c("attach", "nosuch")
    assert r.returncode == 125 and r.stderr.startswith("Error: no container with name or ID \"nosuch\"")


def test_input_larger_than_every_buffer_while_output_flows(c: Capsa) -> None:
    """``cat`` writes while it reads: neither the client nor the monitor may block on a write."""
    text = "".join(f"{i:07d} {'x' * 60}\n" for i in range(60000))  # 4 MB
    r = c("run", "-i", "--rm", "busybox", "cat", input=text, timeout=60)
    assert r.returncode == 0 and r.stdout == text
    r = c("run", "-i", "--rm", "busybox", "sh", "-c", "sleep 1.5; wc -c", input=text, timeout=60)  # (past the lean hand-over)
    assert (r.returncode, r.stdout.strip()) == (0, str(len(text)))


def test_start_ai_and_attach_no_stdin(c: Capsa) -> None:
    assert c("create", "-i", "--name", "reader", "busybox", "sh", "-c", "read x; echo got-$x").returncode == 0
    r = c("start", "-a", "-i", "reader", input="abc\n")
    assert (r.returncode, r.stdout) == (0, "got-abc\n")
    assert c("run", "-di", "--name", "waiting", "busybox", "sh", "-c", "read x; echo got-$x; exit 2").returncode == 0
    base = [str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot)]
    quiet = subprocess.Popen([*base, "attach", "--no-stdin", "waiting"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             env=c.env)
    try:
        quiet.stdin.write(b"leaked\n")  # type: ignore[union-attr]
        quiet.stdin.close()  # type: ignore[union-attr]
        time.sleep(1)
        assert status(c, "waiting") == "running"  # it never got that line (nor its end of input)
        r = c("container", "attach", "waiting", input="yo\n")
        assert (r.returncode, r.stdout) == (2, "got-yo\n")
        assert quiet.wait(timeout=30) == 2 and quiet.stdout.read() == b"got-yo\n"  # type: ignore[union-attr]
    finally:
        quiet.kill()
        quiet.wait()


def _as_a_background_job() -> None:
    """A shell starts a background job with SIGINT ignored: ctrl-c must still end (or reach
    through) the commands podman's catch it in (Go's signal.Notify takes an ignored signal back)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_signals_are_proxied_unless_sig_proxy_is_false(c: Capsa) -> None:
    script = "trap 'echo got-int; exit 9' INT; while :; do sleep 0.1; echo tick; done"
    assert c("run", "-d", "--name", "trapper", "busybox", "sh", "-c", script).returncode == 0
    base = [str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot)]
    for proxy, expected in (("false", None), ("true", 9)):
        client = subprocess.Popen([*base, "attach", f"--sig-proxy={proxy}", "trapper"], stdout=subprocess.PIPE, env=c.env,
                                  preexec_fn=_as_a_background_job)
        try:
            read_until(client.stdout, b"tick")  # attached
            client.send_signal(signal.SIGINT)
            code = client.wait(timeout=30)
            if expected is None:  # the client went (as a ctrl-c ends capsa), the container did not get the signal
                assert code == 130 and status(c, "trapper") == "running"
            else:
                assert code == expected and client.stdout.read().endswith(b"got-int\n")  # type: ignore[union-attr]
        finally:
            client.kill()
            client.wait()


# -- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["run", "--detach-keys", "ctrl-zz", "--name", "never", "busybox", "true"],
    ["run", "-it", "--detach-keys=shift-a", "busybox", "sh"],
    ["start", "--detach-keys", "ab", "-a", "made"],
    ["attach", "--detach-keys", "ctrl-", "made"],
])
def test_a_detach_key_spec_that_does_not_parse_is_refused_and_changes_nothing(c: Capsa, argv: list[str]) -> None:
    assert c("create", "--name", "made", "busybox", "true").returncode == 0
    before = c("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout
    r = c(*argv)
    assert (r.returncode, r.stdout) == (125, "")
    assert r.stderr.splitlines()[0].startswith("Error: invalid detach keys: Unknown character: '")
    assert c("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout == before


# -- clients that misbehave ------------------------------------------------------------------------

def test_a_client_that_stops_reading_holds_up_neither_the_log_nor_stop(c: Capsa, tmp_path: Path) -> None:
    """Its output waits in a bounded buffer of its own; over the cap the client is dropped."""
    script = ("while [ ! -e /sig/go ]; do echo wait; sleep 0.1; done; "
              "head -c 8000000 /dev/zero | tr '\\0' x; echo; echo marker; sleep 600")
    assert c("run", "-d", "--name", "flood", "-v", f"{tmp_path}:/sig", "busybox", "sh", "-c", script).returncode == 0
    stuck = attach_popen(c, "attach", "--no-stdin", "flood", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader = attach_popen(c, "attach", "--no-stdin", "flood", stdout=subprocess.PIPE)
    try:
        read_until(stuck.stdout, b"wait")  # attached; from now on nobody reads it
        read_until(reader.stdout, b"wait")
        (tmp_path / "go").touch()
        read_until(reader.stdout, b"marker", timeout=30)  # another client gets all of it meanwhile
        log = Path(c("inspect", "--format", "{{.LogPath}}", "flood").stdout.strip())
        deadline = time.monotonic() + 30
        while b"marker" not in log.read_bytes()[-4096:]:
            assert time.monotonic() < deadline, f"the log stopped at {log.stat().st_size} bytes"
            time.sleep(0.1)
        stuck.stdout.read()  # type: ignore[union-attr]  # (what it was sent before it was dropped)
        assert stuck.wait(timeout=30) == 125
        assert stuck.stderr.read().startswith(b"Error: the container's monitor dropped this client")  # type: ignore[union-attr]
        started = time.monotonic()
        assert c("stop", "-t", "1", "flood", timeout=30).returncode == 0
        assert time.monotonic() - started < 10
    finally:
        for client in (stuck, reader):
            client.kill()
            client.wait()


def od_chars(text: str) -> list[str]:
    """``od -An -c`` output as its tokens."""
    return text.split()


def test_piped_input_is_never_searched_for_detach_keys(c: Capsa) -> None:
    """The keys inside piped input are the container's input; it gets the rest and its end."""
    r = c("run", "-i", "--rm", "busybox", "od", "-An", "-c", input="a\x10\x11b\n", timeout=30)
    assert (r.returncode, od_chars(r.stdout)) == (0, ["a", "020", "021", "b", "\\n"])
    r = c("run", "-i", "--rm", "--detach-keys", "x", "busybox", "od", "-An", "-c", input="x1", timeout=30)
    assert (r.returncode, od_chars(r.stdout)) == (0, ["x", "1"])


def test_a_partial_detach_sequence_at_the_end_of_typed_input_is_input(c: Capsa) -> None:
    """Typed on a terminal (``-i`` without ``-t``: the line discipline cooks it), ``ab`` ctrl-p then
    ctrl-d twice: the held ctrl-p reaches the container before its end of input."""
    run = on_pty(c, "run", "-i", "--rm", "busybox", "od", "-An", "-c")
    try:
        run.type(b"ab\x10\x04")  # (ctrl-d mid-line: the line so far is one read)
        run.type(b"\x04")  # at a line's start: a read of nothing, the end of input
        assert run.wait() == 0
        assert "a   b 020" in run.output.decode(errors="replace")
    finally:
        run.close()


def test_start_a_of_a_running_container_attaches(c: Capsa) -> None:
    """podman-start(1): ``start -a`` of a running container attaches to it (it printed the name)."""
    assert c("run", "-di", "--name", "busy", "busybox", "sh", "-c", "read x; echo got-$x; exit 5").returncode == 0
    r = c("start", "-a", "-i", "busy", input="yes\n", timeout=30)  # (the container waits for this line)
    assert (r.returncode, r.stdout) == (5, "got-yes\n")


def test_a_monitor_that_dies_is_an_error_for_every_attached_client(c: Capsa) -> None:
    """run and attach alike: no exit code from the monitor and none recorded is an error, not 0."""
    script = "echo ready; while :; do sleep 0.2; echo tick; done"
    run = attach_popen(c, "run", "--name", "orphaned", "busybox", "sh", "-c", script,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    attached = None
    try:
        read_until(run.stdout, b"ready")
        attached = attach_popen(c, "attach", "orphaned", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        read_until(attached.stdout, b"tick")
        monitor = int(c("inspect", "--format", "{{.State.ConmonPid}}", "orphaned").stdout)
        os.kill(monitor, signal.SIGKILL)
        for client in (run, attached):
            assert client.wait(timeout=30) == 125
            error = client.stderr.read().decode()  # type: ignore[union-attr]
            assert error.startswith("Error: the container's monitor went away without recording"), error
    finally:
        for client in (run, attached):
            if client is not None:
                client.kill()
                client.wait()


def test_input_left_for_a_run_does_not_reach_the_restarted_one(c: Capsa) -> None:
    """A paste to a -t run that never reads it: what its pty could not take waits in the monitor,
    and goes with that run; the restarted process (a new pty) reads nothing of it."""
    script = ("if [ -e /ran ]; then stty -echo; echo count=$(timeout 3 cat | wc -c)=; "
              "else touch /ran; stty -echo; echo first; sleep 2; exit 1; fi")
    run = on_pty(c, "run", "-it", "--restart", "on-failure:1", "--name", "twice", "busybox", "sh", "-c", script)
    try:
        run.expect("first")
        run.type("".join(f"line {i:05d} of a paste the first run never reads\r" for i in range(3000)))
        seen = run.expect("=", timeout=20) + run.expect("=")
        assert "count=0=" in seen, seen
        assert run.wait() == 0
    finally:
        run.close()


def test_any_ending_signal_gives_the_terminal_back_without_sig_proxy(c: Capsa) -> None:
    assert c("run", "-dit", "--name", "usr1", "busybox", "sh").returncode == 0
    client = on_pty(c, "attach", "--sig-proxy=false", "usr1")
    try:
        client.wait_raw()
        client.proc.send_signal(signal.SIGUSR1)
        assert client.wait() == -signal.SIGUSR1
        assert client.mode_now() == client.mode_before
    finally:
        client.close()
    assert status(c, "usr1") == "running"


def test_tstp_and_cont_are_proxied(c: Capsa) -> None:
    """podman proxies every signal but a few: a SIGTSTP to the client does not stop it."""
    script = "trap 'echo got-tstp' TSTP; trap 'echo got-cont' CONT; while :; do sleep 0.1; echo tick; done"
    assert c("run", "-d", "--name", "stops", "busybox", "sh", "-c", script).returncode == 0
    client = attach_popen(c, "attach", "stops", stdout=subprocess.PIPE)
    try:
        read_until(client.stdout, b"tick")
        client.send_signal(signal.SIGTSTP)
        read_until(client.stdout, b"got-tstp")
        client.send_signal(signal.SIGCONT)
        read_until(client.stdout, b"got-cont")
        assert c("kill", "stops").returncode == 0
        assert client.wait(timeout=30) == 137
    finally:
        client.kill()
        client.wait()


def test_a_signal_overtakes_input_the_container_does_not_read(c: Capsa) -> None:
    """8 MB piped to a container that never reads its stdin: input backs up (in the client, the
    socket, the monitor) and a SIGINT to the client still reaches the container at once."""
    import threading

    script = "trap 'echo got-int; exit 9' INT; echo ready; while :; do sleep 0.1; done"
    client = attach_popen(c, "run", "-i", "--name", "deaf", "busybox", "sh", "-c", script,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    written = [0]

    def flood() -> None:
        try:
            for _ in range(128):
                client.stdin.write(b"y" * 65536)  # type: ignore[union-attr]
                written[0] += 65536
            client.stdin.close()  # type: ignore[union-attr]
        except (BrokenPipeError, ValueError):
            pass

    writer = threading.Thread(target=flood, daemon=True)
    writer.start()
    try:
        read_until(client.stdout, b"ready")
        last, deadline = -1, time.monotonic() + 30
        while written[0] != last:  # until the input backed up all the way to our pipe
            assert time.monotonic() < deadline, "the input never backed up"
            last = written[0]
            time.sleep(0.5)
        assert written[0] < 8 << 20
        client.send_signal(signal.SIGINT)
        assert client.wait(timeout=10) == 9
        assert client.stdout.read() == b"got-int\n"  # type: ignore[union-attr]
    finally:
        client.kill()
        client.wait()


def test_a_peer_announcing_a_huge_frame_is_dropped(c: Capsa) -> None:
    """A frame length over the protocol's cap (here 4 GiB) ends that connection; others go on."""
    import socket
    import struct

    assert c("run", "-di", "--name", "framed", "busybox", "sh", "-c", "read x; echo got-$x").returncode == 0
    lean_monitor(c, "framed")
    ident = c("inspect", "--format", "{{.Id}}", "framed").stdout.strip()
    path = next(p for p in Path(c.runroot).rglob("attach") if ident in str(p) and p.is_socket())
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as peer:
        peer.settimeout(10)
        by_directory_fd(str(path), peer.connect)  # (a deep runroot: past a socket address's 107 bytes)
        peer.sendall(struct.pack(">BI", 0, 0xFFFFFFFF) + b"x" * 1000)
        assert peer.recv(100) == b""  # dropped (it waited for 4 GiB)
    r = c("attach", "framed", input="fine\n", timeout=30)
    assert (r.returncode, r.stdout) == (0, "got-fine\n")


def test_a_reader_that_pauses_gets_all_the_output_and_the_exit_code(c: Capsa) -> None:
    """``run ... | (sleep; wc -c)``: the container exits while its client still owes output to a
    reader that pauses; the client gets all of it and the container's exit code, not 0 with part
    of it (review finding)."""
    script = f"{CAPSA} --root {c.root} --runroot {c.runroot} run busybox sh -c 'head -c 3000000 /dev/zero; exit 3' " \
             "| (sleep 3; wc -c)"
    r = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, text=True, env=c.env, timeout=60)
    assert (r.stdout.strip(), r.returncode) == ("3000000", 3), r.stderr


def test_a_client_still_owed_output_holds_up_neither_stop_nor_its_output(c: Capsa) -> None:
    """The container is stopped while its run client, piped to nobody yet, is owed 3 MB: the
    monitor ends at once (stop waits for it), a drainer of its own gives the client everything
    later (review: stop waited up to 30 s for the client)."""
    run = subprocess.Popen([str(CAPSA), "--root", str(c.root), "--runroot", str(c.runroot), "run", "--name", "owed",
                            "busybox", "sh", "-c", "head -c 3000000 /dev/zero; echo; exec sleep 1000"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=c.env)
    try:
        deadline = time.monotonic() + 30
        while "sleep" not in c("top", "owed", "comm").stdout:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        started = time.monotonic()
        assert c("stop", "-t", "0", "owed", timeout=60).returncode == 0
        assert time.monotonic() - started < 10
        out, err = run.communicate(timeout=60)
        assert (len(out), run.returncode) == (3000001, 137), err
    finally:
        run.kill()
    c("rm", "owed")
