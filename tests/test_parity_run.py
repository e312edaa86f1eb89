"""Parity of ``run`` (and ``container run``) with podman 4.3: podman-run(1)'s flags and messages,
a case per flag, each run in capsa and in podman (see tests/parity.py). The flags of the
resources slice (devices, limits, namespaces, health checks) have their cases elsewhere."""
from __future__ import annotations

import subprocess

from parity import Case, parity_fixtures

NOT_FOUND = (r"^Error: (crun: )?executable file `nosuchcmd` not found in \$PATH: No such file or directory: "
             r"OCI runtime attempted to invoke a command that was not found$")


def lines_are(*wanted: str) -> object:
    """A check: stdout has each of ``wanted`` as a whole line."""
    def check(r: subprocess.CompletedProcess[str]) -> None:
        have = r.stdout.splitlines()
        missing = [w for w in wanted if w not in have]
        assert not missing, f"lines {missing} not in {have}"
    return check


def no_line_starting(prefix: str) -> object:
    def check(r: subprocess.CompletedProcess[str]) -> None:
        assert not [line for line in r.stdout.splitlines() if line.startswith(prefix)], r.stdout
    return check


def env_names_are(*names: str) -> object:
    def check(r: subprocess.CompletedProcess[str]) -> None:
        assert sorted(line.partition("=")[0] for line in r.stdout.splitlines()) == sorted(names), r.stdout
    return check


def only_stdout(r: subprocess.CompletedProcess[str]) -> None:
    assert "err" not in r.stderr, r.stderr


CASES = [
    # -- messages and exit codes (podman-run(1) EXIT STATUS)
    Case("h-needs-an-argument", "run -h", code=125, stderr=r"^Error: flag needs an argument: 'h' in -h$"),
    Case("h-is-hostname", "run --rm -h box {image} hostname", stdout=r"\Abox\n\Z"),
    Case("command-not-found", "run --rm {image} nosuchcmd", code=127, stderr=NOT_FOUND),
    Case("command-not-found-detached", "run -d {image} nosuchcmd", code=127, stdout=r"\A\Z", stderr=NOT_FOUND),
    Case("path-not-found", "run --rm {image} /nosuch", code=127, stderr=r"^Error: .*`/nosuch` not found"),
    Case("command-not-executable", "run --rm {image} /etc/passwd", code=126,
         stderr=r"^Error: (crun: )?open executable: Permission denied: OCI permission denied$"),
    Case("container-exit-code", "run --rm {image} sh -c 'exit 3'", code=3),
    # -- the container's environment and files
    Case("default-environment", "run --rm {image} env",
         check=lines_are("PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", "HOME=/root")),
    Case("container-variable", "run --rm {image} env", stdout=r"^container=\w+$"),
    Case("home-of-a-user", "run --rm -u alice {image} sh -c 'echo $HOME'", stdout=r"\A/home/alice\n\Z"),
    Case("home-of-nobody", "run --rm -u nobody {image} sh -c 'echo $HOME'", stdout=r"\A/nonexistent\n\Z"),
    Case("home-of-an-unknown-uid", "run --rm -u 4321 {image} sh -c 'echo $HOME'", stdout=r"\A/\n\Z"),
    Case("containerenv-is-empty", "run --rm {image} wc -c /run/.containerenv", stdout=r"^0 /run/.containerenv$"),
    Case("containerenv-privileged", "run --rm --privileged --name pv {image} cat /run/.containerenv",
         check=lines_are('name="pv"', "rootless=0"), stdout=r'^engine="\w+-[\d.]+"\nname="pv"\nid="[0-9a-f]{64}"\n'
                                                            r'image="localhost/busybox:latest"\nimageid="[0-9a-f]{64}"\n'),
    Case("root-directory-mode", "run --rm {image} stat -c %a /", stdout=r"\A555\n\Z"),
    # -- --env-host, --env-merge, --unsetenv, --unsetenv-all, --http-proxy
    Case("env-host", "run --rm --env-host {image} env", env={"PARITY_FOO": "bar"}, stdout=r"^PARITY_FOO=bar$"),
    Case("env-merge", "run --rm --env-merge 'PATH=${PATH}:/x' {image} sh -c 'echo $PATH'",
         stdout=r"\A/usr/sbin:/usr/bin:/sbin:/bin:/x\n\Z"),
    Case("unsetenv", "run --rm --unsetenv TERM {image} env", check=no_line_starting("TERM=")),
    Case("unsetenv-all", "run --rm --unsetenv-all -e PATH=/bin {image} env", check=env_names_are("PATH", "HOSTNAME", "HOME")),
    Case("http-proxy", "run --rm {image} sh -c 'echo $http_proxy'", env={"http_proxy": "http://proxy:3128"},
         stdout=r"\Ahttp://proxy:3128\n\Z"),
    Case("http-proxy-false", "run --rm --http-proxy=false {image} sh -c 'echo x$http_proxy'",
         env={"http_proxy": "http://proxy:3128"}, stdout=r"\Ax\n\Z"),
    # -- --tz, --umask, --no-hosts, --read-only-tmpfs, --init-path
    Case("tz", "run --rm --tz Asia/Tokyo {image} date +%Z", stdout=r"\AJST\n\Z"),
    Case("tz-unknown", "run --rm --tz Nope/Nowhere {image} true", code=125,
         stderr=r"^Error: .*stat /usr/share/zoneinfo/Nope/Nowhere: no such file or directory$"),
    Case("umask", "run --rm --umask 0027 {image} sh -c umask", stdout=r"\A0027\n\Z"),
    Case("umask-invalid", "run --rm --umask 9 {image} true", code=125, stderr=r"invalid umask string 9: invalid argument$"),
    Case("no-hosts", "run --rm --no-hosts {image} cat /etc/hosts", code=1),
    Case("read-only-tmpfs-false", "run --rm --read-only --read-only-tmpfs=false {image} touch /tmp/x", code=1),
    Case("read-only-tmpfs", "run --rm --read-only {image} touch /tmp/x"),
    Case("init-path", "run --rm --init --init-path /usr/bin/catatonit {image} sh -c 'echo $$'", stdout=r"\A2\n\Z"),
    Case("init-path-missing", "run --rm --init --init-path /nosuch {image} true", code=125,
         stderr=r"^Error: container-init binary not found on the host: stat /nosuch: no such file or directory$"),
    # -- --attach
    Case("attach-stdout", "run --rm -a stdout {image} sh -c 'echo out; echo err >&2'", stdout=r"\Aout\n\Z",
         check=only_stdout),
    Case("attach-invalid", "run --rm -a foo {image} true", code=125,
         stderr=r'^Error: invalid stream "foo" for --attach - must be one of stdin, stdout, or stderr: invalid argument$'),
    # -- --cidfile, --pidfile, --conmon-pidfile, --replace, --rmi
    Case("cidfile-exists", "run --rm --cidfile {tmp}/cid {image} true", code=125,
         setup=("run --rm -v {tmp}:/h {image} touch /h/cid",),
         stderr=r"^Error: container id file exists\. Ensure another container is not using it or delete "),
    Case("cidfile", "run --rm -v {tmp}:/h {image} cat /h/cid", setup=("run -d --cidfile {tmp}/cid {image} true",),
         stdout=r"\A[0-9a-f]{64}\n?\Z"),
    Case("pidfile", "run --rm -v {tmp}:/h {image} cat /h/pid",
         setup=("run -d --pidfile {tmp}/pid {image} sleep 30",), stdout=r"\A[1-9]\d*\n?\Z"),
    Case("conmon-pidfile", "run --rm -v {tmp}:/h {image} cat /h/mpid",
         setup=("run -d --conmon-pidfile {tmp}/mpid {image} sleep 30",), stdout=r"\A[1-9]\d*\n?\Z"),
    Case("name-in-use", "run --name twice {image} true", setup=("create --name twice {image} true",), code=125,
         stderr=r"^Error: .*the container name \"twice\" is already in use"),
    Case("replace", "run --replace --rm --name twice {image} echo replaced",
         setup=("create --name twice {image} sleep 30",), stdout=r"\Atwice\nreplaced\n\Z"),
    Case("replace-running", "run --replace --rm --name twice {image} echo replaced",
         setup=("run -d --name twice --stop-timeout 1 {image} sleep 30",), stdout=r"^replaced$"),
    Case("rmi", "run --rmi rmitag true", setup=("tag {image} rmitag",)),
    Case("rmi-keeps-the-container", "ps -a --format '{{.Status}}'", setup=("tag {image} rmitag", "run --rmi rmitag true"),
         stdout=r"\AExited \(0\) "),  # (podman 4.3: --rmi does not imply --rm)
    Case("rmi-detached-is-not-honoured", "wait rd", setup=("tag {image} rmitag", "run -d --rmi --name rd rmitag true"),
         stdout=r"\A0\n\Z"),  # (podman 4.3 keeps both the container and the image)
    Case("rmi-detached-image-kept", "image exists rmitag",
         setup=("tag {image} rmitag", "run -d --rmi --name rd rmitag true", "wait rd")),
    Case("rmi-then-gone", "image exists rmitag", setup=("tag {image} rmitag", "run --rmi rmitag true"), code=1),
    # -- --annotation, --label-file, --expose
    Case("annotation", "inspect an --format '{{index .Config.Annotations \"a\"}}'",
         setup=("create --name an --annotation a=b {image} true",), stdout=r"\Ab\n\Z"),
    Case("label-file", "inspect lf --format '{{.Config.Labels.a}} {{.Config.Labels.b}}'",
         setup=("run --rm -v {tmp}:/h {image} sh -c 'printf \"a=1\\n# no\\nb=2\\n\" > /h/labels'",
                "create --name lf --label-file {tmp}/labels {image} true"), stdout=r"\A1 2\n\Z"),
    Case("expose-publish-all", "port ex", setup=("run -d --name ex --expose 8080 -P {image} sleep 30",),
         stdout=r"\A8080/tcp -> 0\.0\.0\.0:\d+\n\Z"),
    # -- --volumes-from, --requires
    Case("volumes-from", "run --rm --volumes-from src {image} sh -c 'cat /v/f; mount | grep -c \" /t \"'",
         setup=("create --name src -v vol:/v --tmpfs /t {image} true",
                "run --rm -v vol:/v {image} sh -c 'echo hi > /v/f'"), code=1, stdout=r"\Ahi\n0\n\Z"),
    Case("volumes-from-ro", "run --rm --volumes-from src:ro {image} touch /v/x", code=1,
         setup=("create --name src -v vol:/v {image} true",), stderr=r"Read-only file system"),
    Case("volumes-from-own-mount-wins", "run --rm --volumes-from src -v {tmp}:/v {image} ls /v", stdout=r"\A\Z",
         setup=("create --name src -v vol:/v {image} true", "run --rm -v vol:/v {image} touch /v/f")),
    Case("volumes-from-unknown", "run --rm --volumes-from nosuch {image} true", code=125,
         stderr=r'^Error: looking up container "nosuch" for volumes-from: no container with name or ID "nosuch" found: '
                r"no such container$"),
    Case("volumes-from-bad-option", "run --rm --volumes-from src:bad {image} true", code=125,
         setup=("create --name src -v vol:/v {image} true",),
         stderr=r'^Error: invalid option "bad" specified - volumes from another container can only use z,ro,rw options$'),
    Case("requires", "ps --format '{{.Names}}'", setup=("create --name dep {image} sleep 30",
                                                         "run --rm --requires dep {image} true"), stdout=r"\Adep\n\Z"),
    Case("requires-on-start", "ps --format '{{.Names}}'", setup=("create --name dep {image} sleep 30",
                                                                  "create --rm --name late --requires dep {image} true",
                                                                  "start -a late"), stdout=r"^dep$"),
    Case("requires-unknown", "run --rm --requires nosuch {image} true", code=125,
         stderr=r'^Error: "nosuch" is not a valid container, cannot be used as a dependency: no container with name or '
                r'ID "nosuch" found: no such container$'),
    # -- --passwd, --passwd-entry, --hostuser
    Case("passwd-entry-added", "run --rm -u 1234 {image} sh -c 'tail -1 /etc/passwd; tail -1 /etc/group; whoami'",
         stdout=r"\A1234:\*:1234:0:container user:/:/bin/sh\n1234:x:1234:1234\n1234\n\Z"),
    Case("passwd-entry-group", "run --rm -u 1234:5678 {image} sh -c 'tail -1 /etc/passwd; tail -1 /etc/group'",
         stdout=r"\A1234:\*:1234:5678:container user:/:/bin/sh\n5678:x:5678:1234\n\Z"),
    Case("passwd-known-uid", "run --rm -u 1000 {image} sh -c 'tail -1 /etc/passwd; whoami'",
         stdout=r"\Anobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice\n\Z"),
    Case("passwd-false", "run --rm --passwd=false -u 1234 {image} tail -1 /etc/passwd",
         stdout=r"\Anobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\Z"),
    Case("passwd-entry", "run --rm --passwd-entry 'u:x:$UID:$GID:me:$HOME:/bin/sh' -u 1234 {image} tail -1 /etc/passwd",
         stdout=r"\Au:x:1234:0:me:/:/bin/sh\n\Z"),
    Case("hostuser", "run --rm --hostuser daemon {image} tail -1 /etc/passwd", stdout=r"\Adaemon:\*:1:1:daemon:/:/bin/sh\n\Z"),
    Case("hostuser-known", "run --rm --hostuser root {image} tail -1 /etc/passwd",
         stdout=r"\Anobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\Z"),
    Case("hostuser-unknown", "run --rm --hostuser nosuchuser {image} true", code=126,
         stderr=r"^Error: creating temporary passwd file for container [0-9a-f]{64}: user: unknown user nosuchuser$"),
    Case("create-passwd-is-run-only", "create --passwd=false {image}", code=125, stderr=r"^Error: unknown flag: --passwd$"),
    # -- --timeout
    Case("timeout", "run --rm --timeout 1 {image} sh -c 'trap \"echo TERM\" TERM; sleep 10 & wait'", code=255,
         stdout=r"\A\Z"),
    Case("timeout-after-the-handoff", "run --rm --timeout 2 {image} sleep 10", code=255),
    Case("timeout-exit-code-recorded", "wait to", setup=("run -d --name to --timeout 1 {image} sleep 10",),
         stdout=r"\A-1\n\Z"),  # (podman's inspect ExitCode, ps "Exited (-1)"; run itself exits 255)
    Case("timeout-inspect", "inspect to --format '{{.State.ExitCode}}'",
         setup=("run -d --name to --timeout 1 {image} sleep 10", "wait to"), stdout=r"\A-1\n\Z"),
    Case("timeout-not-reached", "run --rm --timeout 5 {image} sh -c 'exit 4'", code=4),
    # -- --chrootdirs, --personality
    Case("chrootdirs", "run --rm --chrootdirs /srv {image} sh -c 'ls /srv/etc; grep -c nameserver /srv/etc/resolv.conf'",
         stdout=r"\Ahosts\nresolv\.conf\n[1-9]\d*\n\Z", podman_skip=None),
    Case("chrootdirs-no-hostname", "run --rm --chrootdirs /srv {image} cat /srv/etc/hostname", code=1),
    Case("personality", "run --rm --personality LINUX32 {image} uname -m", stdout=r"\Ai686\n\Z"),
    Case("personality-linux", "run --rm --personality LINUX {image} uname -m", stdout=r"\Ax86_64\n\Z"),
    Case("personality-unknown", "run --rm --personality BAD {image} uname -m", code=126,
         stderr=r"^Error: .*unknown persona specified `BAD`$"),
    # -- --pull
    Case("pull-never-missing", "run --rm --pull never nosuchimage true", code=125,
         stderr=r"^Error: nosuchimage: image not known$"),
    Case("pull-policy-unknown", "run --rm --pull bogus {image} true", code=125,
         stderr=r'^Error: unsupported pull policy "bogus"$'),
    Case("pull-never-present", "run --rm --pull=never {image} true"),
    # -- flags taken with podman's values
    Case("taken-values", "run --rm --systemd false --sdnotify ignore --seccomp-policy default --userns host "
                         "--image-volume ignore --log-driver k8s-file {image} true"),
    Case("container-run", "container run --rm --annotation a=b --tz Asia/Tokyo {image} date +%Z", stdout=r"\AJST\n\Z"),
    # -- refused (one line naming the flag and why); podman does these
    Case("secret-refused", "run --rm --secret nosuch {image} true", code=125, stderr=r"^Error: .*(secret|--secret)"),
    Case("preserve-fds-refused", "run --rm --preserve-fds 1 {image} true", code=125,
         stderr=r"^Error: --preserve-fds is not supported: ", podman_skip="podman passes the descriptors: capsa refuses"),
    Case("systemd-always-refused", "run --rm --systemd always {image} true", code=125,
         stderr=r"^Error: --systemd always is not supported: ", podman_skip="podman has a systemd mode: capsa refuses"),
    Case("log-driver-none", "logs ln", setup=("run --name ln --log-driver none {image} echo hi",), code=125,
         stderr=r"^Error: this container is using the 'none' log driver, cannot read logs: this container is not "
                r"logging output$"),
    Case("log-driver-none-attached", "run --rm --log-driver none {image} echo hi", stdout=r"\Ahi\n\Z"),
    Case("log-driver-none-inspect", "inspect ln --format '{{.HostConfig.LogConfig.Type}}'",
         setup=("create --name ln --log-driver none {image} true",), stdout=r"\Anone\n\Z"),
    Case("log-opt-path", "run --rm -v {tmp}:/h {image} cat /h/my.log",
         setup=("run --rm --log-opt path={tmp}/my.log {image} echo hi",), stdout=r"^\S+ stdout F hi$"),
    Case("log-opt-path-logs", "logs lp", setup=("run --name lp --log-opt path={tmp}/my.log {image} echo hi",),
         stdout=r"\Ahi\n\Z"),
    Case("log-opt-path-inspect", "inspect lp --format '{{.HostConfig.LogConfig.Path}}'",
         setup=("create --name lp --log-opt path={tmp}/my.log {image} true",), stdout=r"/my\.log\n\Z"),
    Case("journald-refused", "run --rm --log-driver journald {image} true", code=125,
         stderr=r"^Error: --log-driver journald is not supported: ", podman_skip="podman logs to the journal: capsa refuses"),
    Case("userns-refused", "run --rm --uidmap 0:100000:65536 {image} true", code=125,
         podman_skip="podman maps ids: capsa refuses (no user namespaces)"),
]
store, podman_store, test_parity = parity_fixtures("run", CASES)
