"""Parity with podman 4.3: ``commit``/``container commit`` and ``build``/``image build``, flag by
flag (tests/parity.py); build's refused flags are refused in one line (podman runs them)."""
from __future__ import annotations

from parity import Case, parity_fixtures

SRC = ("create --name src -v /vol {image} touch /made",)
ID64 = r"\A[0-9a-f]{64}\n\Z"
CONTAINERFILE = "FROM {image}\nLABEL built=yes\nRUN echo hi > /f\n".replace("{image}", "busybox")
REFUSED = "capsa refuses the flag (docs/cli.md); podman honours it"

CASES = [
    # commit
    Case("commit-quiet", "commit -q src one", setup=SRC, stdout=ID64),
    Case("container-commit", "container commit --quiet src", setup=SRC, stdout=ID64),
    Case("commit-progress", "commit src one", setup=SRC, stdout=r"^[0-9a-f]{64}$"),
    Case("commit-author", "image inspect --format {{.Author}} one", setup=(*SRC, "commit -q --author me src one"),
         stdout=r"\Ame\n\Z"),
    Case("commit-a", "image inspect --format {{.Author}} one", setup=(*SRC, "commit -q -a me src one"), stdout=r"\Ame\n\Z"),
    Case("commit-change", "image inspect --format '{{.Config.Labels}} {{.Config.User}}' one",
         setup=(*SRC, "commit -q --change 'LABEL a=b' -c 'USER nobody' src one"), stdout=r"\Amap\[a:b\] nobody\n\Z"),
    Case("commit-message-docker", "image inspect --format '{{.Comment}} {{.ManifestType}}' one",
         setup=(*SRC, "commit -q -f docker --message hello src one"),
         stdout=r"\Ahello application/vnd.docker.distribution.manifest.v2\+json\n\Z"),
    Case("commit-format-oci", "image inspect --format {{.ManifestType}} one", setup=(*SRC, "commit -q --format oci src one"),
         stdout=r"\Aapplication/vnd.oci.image.manifest.v1\+json\n\Z"),
    Case("commit-iidfile", "commit -q --iidfile {tmp}/iid src one", setup=SRC, stdout=ID64),
    Case("commit-pause-false", "commit -q --pause=false src one", setup=SRC, stdout=ID64),
    Case("commit-p", "commit -q -p src one", setup=SRC, stdout=ID64),
    Case("commit-include-volumes", "image inspect --format {{.Config.Volumes}} one",
         setup=(*SRC, "commit -q --include-volumes src one"), stdout=r"\Amap\[/vol:"),  # (Go prints the value {})
    Case("commit-squash", "image inspect --format '{{len .RootFS.Layers}}' one", setup=(*SRC, "commit -q --squash src one"),
         stdout=r"\A1\n\Z"),
    Case("commit-s", "commit -q -s src one", setup=SRC, stdout=ID64),
    Case("commit-unknown", "commit -q nosuch one", code=125, stderr=r"^Error: .*nosuch"),
    Case("commit-no-args", "commit", code=125),
    # build
    Case("build-quiet", "build -q -f - -t one {tmp}", input=CONTAINERFILE, stdout=ID64),
    Case("image-build", "image build -q -f - {tmp}", input=CONTAINERFILE, stdout=ID64),
    Case("build-net", "build -q --net none -f - {tmp}", input=CONTAINERFILE, stdout=ID64),
    Case("build-network", "build -q --network none -f - {tmp}", input=CONTAINERFILE, stdout=ID64),
    Case("build-platform", "build -q --platform linux/arm64 -f - {tmp}", input=CONTAINERFILE, code=125,
         stderr=r"\AError: --platform is not supported: ", podman_skip=REFUSED),
    Case("image-build-output", "image build -q -o {tmp}/out -f - {tmp}", input=CONTAINERFILE, code=125,
         stderr=r"\AError: -o is not supported: ", podman_skip=REFUSED),
    # flags with no effect to have (podman: -D is --disable-compression, its default; --compress is
    # a legacy no-op; --disable-content-trust a Docker no-op): taken, not refused
    Case("build-D", "build -q -D -f - {tmp}", input=CONTAINERFILE, stdout=ID64),
    Case("build-no-ops", "build -q --disable-compression=false --compress --disable-content-trust -f - {tmp}",
         input=CONTAINERFILE, stdout=ID64),
]

store, podman_store, test_parity = parity_fixtures("commit", CASES)
