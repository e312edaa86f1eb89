"""Parity with podman 4.3: ``import``, ``save`` and ``load`` (and their ``image`` forms), flag by
flag (tests/parity.py). Tarballs come from ``export`` of a container of the case."""
from __future__ import annotations

from parity import Case, parity_fixtures

EXPORTED = ("create --name src {image} true", "export -o {tmp}/rootfs.tar src")
SHA = r"\Asha256:[0-9a-f]{64}\n\Z"

CASES = [
    # import
    Case("import", "import {tmp}/rootfs.tar one", setup=EXPORTED, stdout=r"^sha256:[0-9a-f]{64}$"),
    Case("import-quiet", "import -q {tmp}/rootfs.tar one", setup=EXPORTED, stdout=SHA),
    Case("image-import", "image import --quiet {tmp}/rootfs.tar", setup=EXPORTED, stdout=SHA),
    Case("import-platform", "image inspect --format '{{.Architecture}} {{.Os}}' one",
         setup=(*EXPORTED, "import -q --arch arm64 --os linux --variant v8 {tmp}/rootfs.tar one"),
         stdout=r"\Aarm64 linux\n\Z"),
    Case("import-message", "image inspect --format {{.Comment}} one",
         setup=(*EXPORTED, "import -q --message hello {tmp}/rootfs.tar one"), stdout=r"\Ahello\n\Z"),
    Case("import-m", "history --format {{.Comment}} one",
         setup=(*EXPORTED, "import -q -m hi {tmp}/rootfs.tar one"), stdout=r"\Ahi\n\Z"),
    Case("import-change", "image inspect --format '{{.Config.Env}} {{.Config.Cmd}} {{.Config.WorkingDir}}' one",
         setup=(*EXPORTED, "import -q --change 'ENV A=1' -c 'CMD [\"/bin/true\"]' -c 'WORKDIR /tmp' {tmp}/rootfs.tar one"),
         stdout=r"\A\[A=1\] \[/bin/true\] /tmp\n\Z"),
    Case("import-bad-change", "import -c 'RUN true' {tmp}/rootfs.tar one", setup=EXPORTED, code=125),
    Case("import-missing", "import {tmp}/nosuch.tar", code=125),
    # save
    Case("save", "save -o {tmp}/a.tar {image}", stdout=r"\A\Z"),
    Case("image-save-quiet", "image save -q -o {tmp}/a.tar {image}", stdout=r"\A\Z"),
    Case("save-oci-archive-uncompressed", "save --format oci-archive --uncompressed -o {tmp}/a.tar {image}", stdout=r"\A\Z"),
    Case("save-oci-dir-uncompressed", "save --format oci-dir --uncompressed -o {tmp}/dir {image}", stdout=r"\A\Z"),
    Case("save-docker-archive", "save --format docker-archive -o {tmp}/a.tar {image}", stdout=r"\A\Z"),
    Case("save-multi-image-archive", "save -m -o {tmp}/a.tar {image} one", setup=(*EXPORTED, "commit -q src one"),
         stdout=r"\A\Z"),
    Case("save-multi-image-archive-long", "save --multi-image-archive -o {tmp}/a.tar {image}", stdout=r"\A\Z"),
    Case("save-bad-format", "save --format bogus -o {tmp}/a.tar {image}", code=125,
         stderr=r"^Error: format value must be one of oci-dir oci-archive docker-dir docker-archive$"),
    Case("save-unknown", "save -o {tmp}/a.tar nosuch", code=125, stderr=r"nosuch: image not known"),
    # load
    Case("load", "load -i {tmp}/a.tar", setup=("save -o {tmp}/a.tar {image}",),
         stdout=r"^Loaded image: localhost/busybox:latest$"),
    Case("image-load-quiet", "image load -q --input {tmp}/a.tar", setup=("save -o {tmp}/a.tar {image}",),
         stdout=r"\ALoaded image: localhost/busybox:latest\n\Z"),
    Case("load-stdin-oci", "load -q -i {tmp}/o.tar", setup=("save --format oci-archive -o {tmp}/o.tar {image}",),
         stdout=r"^Loaded image: "),
    Case("load-multi", "load -q -i {tmp}/m.tar", setup=(*EXPORTED, "commit -q src one", "save -m -o {tmp}/m.tar {image} one"),
         check=lambda r: sorted(r.stdout.splitlines()) == ["Loaded image: localhost/busybox:latest",
                                                          "Loaded image: localhost/one:latest"]),
    Case("load-unknown-payload", "load -i /etc/passwd", code=125,
         stderr=r"^Error: payload does not match any of the supported image formats"),
    Case("load-missing", "load -i {tmp}/nosuch.tar", code=125),
]

store, podman_store, test_parity = parity_fixtures("imgio", CASES)
