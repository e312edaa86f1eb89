"""Parity of ``create`` (and ``container create``) with podman 4.3: podman-create(1)'s flags that
differ from run's (no --rmi, --preserve-fds, -d...), what create records (inspect), and
``start`` of a container whose command cannot be run (see tests/parity.py)."""
from __future__ import annotations

from parity import Case, parity_fixtures

ID = r"[0-9a-f]{64}"

CASES = [
    Case("h-needs-an-argument", "create -h", code=125, stderr=r"^Error: flag needs an argument: 'h' in -h$"),
    Case("prints-the-id", "create {image} true", stdout=rf"\A{ID}\n\Z"),
    Case("container-create", "container create --annotation a=b {image} true", stdout=rf"\A{ID}\n\Z"),
    Case("rmi-is-run-only", "create --rmi {image} true", code=125, stderr=r"^Error: unknown flag: --rmi$"),
    Case("preserve-fds-is-run-only", "create --preserve-fds 1 {image} true", code=125,
         stderr=r"^Error: unknown flag: --preserve-fds$"),
    Case("detach-is-run-only", "create -d {image} true", code=125, stderr=r"^Error: unknown shorthand flag: 'd' in -d$"),
    Case("attach", "create -a stdout -a stderr {image} true", stdout=rf"\A{ID}\n\Z"),
    Case("attach-unchecked", "create -a nope {image} true", stdout=rf"\A{ID}\n\Z"),
    Case("missing-command-is-created", "create {image} nosuchcmd", stdout=rf"\A{ID}\n\Z"),
    Case("start-missing-command", "start {cid}", setup=("create {image} nosuchcmd",), code=125,
         stderr=r'^Error: unable to start container "[0-9a-f]{64}": (crun: )?executable file `nosuchcmd` not found in \$PATH'),
    Case("start-attach-missing-command", "start -a {cid}", setup=("create {image} nosuchcmd",), code=125,
         stderr=r"^Error: unable to start container [0-9a-f]{64}: (crun: )?executable file `nosuchcmd` not found in \$PATH"),
    Case("cidfile", "run --rm -v {tmp}:/h {image} cat /h/cid", setup=("create --cidfile {tmp}/cid {image} true",),
         stdout=rf"\A{ID}\n?\Z"),
    Case("cidfile-exists", "create --cidfile {tmp}/cid {image} true", setup=("create --cidfile {tmp}/cid {image} true",),
         code=125, stderr=r"^Error: container id file exists\. Ensure another container is not using it or delete "),
    Case("replace", "create --replace --name rc {image} true", setup=("create --name rc {image} true",),
         stdout=rf"\Arc\n{ID}\n\Z"),
    Case("replace-no-container", "create --replace --name rc {image} true", stdout=rf"\A{ID}\n\Z"),
    Case("inspect-timezone-umask", "inspect tz --format '{{.Config.Timezone}} {{.Config.Umask}}'",
         setup=("create --name tz --tz Asia/Tokyo --umask 0027 {image} true",), stdout=r"\AAsia/Tokyo 0027\n\Z"),
    Case("inspect-umask-default", "inspect tz --format '{{.Config.Umask}}'", setup=("create --name tz {image} true",),
         stdout=r"\A0022\n\Z"),
    Case("inspect-log-driver", "inspect lg --format '{{.HostConfig.LogConfig.Type}}'",
         setup=("create --name lg --log-driver k8s-file {image} true",), stdout=r"\Ak8s-file\n\Z"),
    Case("inspect-annotation", "inspect an --format '{{index .Config.Annotations \"a\"}}'",
         setup=("create --name an --annotation a=b=c {image} true",), stdout=r"\Ab=c\n\Z"),
    Case("label-file-missing", "create --label-file {tmp}/nosuch {image} true", code=125,
         stderr=r"^Error: unable to process labels: open .*/nosuch: no such file or directory$"),
    Case("started-later", "start -a tz", setup=("create --name tz --tz Asia/Tokyo {image} date +%Z",),
         stdout=r"\AJST\n\Z"),
    Case("init-ctr-refused", "create --init-ctr always {image} true", code=125, stderr=r"^Error: "),
    Case("secret-refused", "create --secret nosuch {image} true", code=125, stderr=r"^Error: .*(secret|--secret)"),
]
store, podman_store, test_parity = parity_fixtures("create", CASES)
