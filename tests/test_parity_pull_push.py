"""Parity with podman 4.3: ``pull``, ``push``, ``login``, ``logout`` where no registry is needed:
archive destinations and sources, flag checks, messages and exit codes (tests/parity.py). Their
registry behaviour is tested against the real local registry in test_pull.py, test_push.py and
test_login.py."""
from __future__ import annotations

from parity import Case, parity_fixtures

NOWHERE = "127.0.0.1:1"  # (nothing listens there)

CASES = [
    # push to archives
    Case("push-oci-archive", "push -q {image} oci-archive:{tmp}/p.tar", stdout=r"\A\Z"),
    Case("image-push-docker-archive", "image push --quiet {image} docker-archive:{tmp}/p.tar", stdout=r"\A\Z"),
    Case("push-digestfile", "push -q --digestfile {tmp}/d {image} oci-archive:{tmp}/p.tar", stdout=r"\A\Z"),
    Case("push-format-v2s2", "push -q --format v2s2 --remove-signatures {image} oci-archive:{tmp}/p.tar", stdout=r"\A\Z"),
    Case("push-compression-format", "push -q --compression-format gzip --compress {image} oci-archive:{tmp}/p.tar",
         stdout=r"\A\Z"),
    Case("push-tls-verify-false", "push -q --tls-verify=false --disable-content-trust {image} oci-archive:{tmp}/p.tar",
         stdout=r"\A\Z"),
    Case("push-unknown", "push -q nosuch oci-archive:{tmp}/p.tar", code=125, stderr=r"nosuch: image not known"),
    Case("push-authfile-missing", "push --authfile {tmp}/nosuch.json {image} oci-archive:{tmp}/p.tar", code=125,
         stderr=r"^Error: stat .*/nosuch.json: no such file or directory$"),
    Case("push-sign-by", "push --sign-by me {image} oci-archive:{tmp}/p.tar", code=125,
         stderr=r"\AError: --sign-by is not supported: ", podman_skip="capsa refuses the flag (docs/cli.md); podman signs"),
    # pull
    Case("pull-authfile-missing", f"pull --authfile {{tmp}}/nosuch.json {NOWHERE}/x", code=125,
         stderr=r"^Error: stat .*/nosuch.json: no such file or directory$"),
    Case("pull-unreachable", f"pull -q --tls-verify=false {NOWHERE}/x", code=125, stderr=r"^Error: "),
    Case("image-pull-unreachable", f"image pull --quiet --creds a:b --cert-dir {{tmp}} {NOWHERE}/x", code=125,
         stderr=r"^Error: "),
    Case("pull-decryption-key", f"pull --decryption-key k {NOWHERE}/x", code=125,
         stderr=r"\AError: --decryption-key is not supported: ", podman_skip="capsa refuses the flag (docs/cli.md)"),
    # login, logout
    Case("login-get-login", f"login --get-login --authfile {{tmp}}/a.json {NOWHERE}", code=125,
         stderr=rf"^Error: not logged into {NOWHERE}$"),
    Case("login-password-stdin-no-user", f"login --password-stdin {NOWHERE}", input="pw\n", code=125,
         stderr=r"^Error: Must provide --username with --password-stdin"),
    Case("login-both-passwords", f"login -u a -p b --password-stdin {NOWHERE}", input="pw\n", code=125,
         stderr=r"^Error: Can't specify both --password-stdin and --password"),
    Case("logout-authfile-missing", "logout -a --authfile {tmp}/nosuch.json", code=125,
         stderr=r"^Error: checking authfile: stat .*/nosuch.json: no such file or directory$"),
    Case("logout-all-and-registry", f"logout -a {NOWHERE}", code=125),
]

store, podman_store, test_parity = parity_fixtures("pull", CASES)
