"""Realistic image parts for registry tests: layer tars, compressed as real images are, and a
valid image config (``rootfs.diff_ids`` are the digests of the uncompressed layers).

- :func:`busybox_tar`: a root filesystem with Debian's busybox-static as ``/bin/busybox``, links
  for the common applets (``sh``, ``echo``, ``cat``, ``ls``...), ``/etc/passwd``/``group`` and a
  few files the second layer deletes;
- :func:`whiteout_tar`: a second layer deleting ``/etc/removed.txt`` (``etc/.wh.removed.txt``),
  making ``/data`` opaque (``data/.wh..wh..opq``, so ``/data/old.txt`` disappears) and adding
  ``/data/new.txt`` and ``/etc/added.txt``;
- :func:`make_layer`: compresses a tar (``gzip``, ``zstd`` or ``None``) into a :class:`Layer`,
  a ``(data, media_type)`` tuple with ``digest`` and ``diff_id``;
- :func:`busybox_image`: both layers and their config, ready for
  :func:`capsa.testing.registryupload.upload_image`.

Everything is deterministic: the same arguments give the same bytes, hence the same digests.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import platform
import tarfile
from pathlib import Path
from typing import NamedTuple

BUSYBOX = Path("/bin/busybox")
MTIME = 1700000000
APPLETS = ("sh", "echo", "cat", "ls", "true", "false", "env", "sleep", "id", "test", "printf", "mkdir", "rm",
           "touch", "wc", "head", "uname", "hostname", "pwd", "stat", "grep")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = {None: "application/vnd.oci.image.layer.v1.tar", "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
             "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = {None: "application/vnd.docker.image.rootfs.diff.tar",
                "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip"}


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layer(NamedTuple):
    """A layer blob as stored in a registry: unpacks as ``(data, media_type)``."""

    data: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def diff_id(self) -> str:
        """The digest of the uncompressed tar (what the config's ``rootfs.diff_ids`` lists)."""
        return sha256_digest(decompress(self.data))


class Image(NamedTuple):
    """Layers and config of one image (``config`` is the JSON bytes)."""

    layers: list[Layer]
    config: bytes
    config_media_type: str
    manifest_media_type: str


def decompress(data: bytes) -> bytes:
    """The tar inside a layer blob, whatever its compression (gzip, zstd or none)."""
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def compress(tar: bytes, compression: str | None) -> bytes:
    if compression is None:
        return tar
    if compression == "gzip":
        return gzip.compress(tar, compresslevel=6, mtime=0)
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3, write_content_size=True).compress(tar)
    raise ValueError(f"unknown compression {compression!r} (gzip, zstd or None)")


def make_layer(tar: bytes, compression: str | None = "gzip", flavor: str = "oci") -> Layer:
    """``tar`` compressed, with the media type of ``flavor`` (``oci`` or ``docker``; Docker's
    v2s2 has no zstd type, so ``docker`` + ``zstd`` uses the OCI one, as real images do)."""
    kinds = DOCKER_LAYER if flavor == "docker" and compression in DOCKER_LAYER else OCI_LAYER
    return Layer(compress(tar, compression), kinds[compression])


class TarWriter:
    """A tiny deterministic tar builder (root-owned entries, fixed mtime)."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buffer, mode="w", format=tarfile.PAX_FORMAT)

    def _info(self, name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime, info.uid, info.gid = kind, mode, MTIME, 0, 0
        info.uname = info.gname = "root"
        return info

    def dir(self, name: str, mode: int = 0o755) -> None:
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode))

    def file(self, name: str, data: bytes | str, mode: int = 0o644) -> None:
        payload = data.encode() if isinstance(data, str) else data
        info = self._info(name, tarfile.REGTYPE, mode)
        info.size = len(payload)
        self.tar.addfile(info, io.BytesIO(payload))

    def symlink(self, name: str, target: str) -> None:
        info = self._info(name, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self.tar.addfile(info)

    def hardlink(self, name: str, target: str) -> None:
        info = self._info(name, tarfile.LNKTYPE, 0o755)
        info.linkname = target
        self.tar.addfile(info)

    def bytes(self) -> bytes:
        self.tar.close()
        return self.buffer.getvalue()


def busybox_tar(extra_files: dict[str, str] | None = None) -> bytes:
    """The base layer (see the module docstring). Needs Debian's busybox-static."""
    if not BUSYBOX.is_file():
        raise FileNotFoundError(f"{BUSYBOX} is missing: install Debian's busybox-static (scripts/setup.sh does)")
    w = TarWriter()
    for name, mode in (("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("root", 0o700), ("data", 0o755)):
        w.dir(name, mode)
    w.file("bin/busybox", BUSYBOX.read_bytes(), 0o755)
    for applet in APPLETS:
        w.symlink(f"bin/{applet}", "busybox")
    w.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    w.file("etc/group", "root:x:0:\nnogroup:x:65534:\n")
    w.file("etc/removed.txt", "the second layer deletes this\n")
    w.file("data/old.txt", "the second layer's opaque /data hides this\n")
    for name, text in (extra_files or {}).items():
        w.file(name, text)
    return w.bytes()


def whiteout_tar(extra_files: dict[str, str] | None = None) -> bytes:
    """The second layer: a whiteout, an opaque directory and new files (module docstring)."""
    w = TarWriter()
    w.dir("etc")
    w.file("etc/.wh.removed.txt", b"")
    w.file("etc/added.txt", "added by the second layer\n")
    w.dir("data")
    w.file("data/.wh..wh..opq", b"")
    w.file("data/new.txt", "new in the opaque /data\n")
    for name, text in (extra_files or {}).items():
        w.file(name, text)
    return w.bytes()


def host_architecture() -> str:
    """The OCI name of this machine's architecture (amd64, arm64...)."""
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64"}.get(machine, machine)


def image_config(diff_ids: list[str], *, architecture: str | None = None, os: str = "linux",
                 variant: str | None = None, cmd: list[str] | None = None, env: list[str] | None = None,
                 labels: dict[str, str] | None = None) -> bytes:
    """A valid image config (JSON bytes) for layers with these ``diff_ids``."""
    config: dict[str, object] = {
        "Env": env if env is not None else ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": cmd if cmd is not None else ["/bin/sh"],
    }
    if labels:
        config["Labels"] = labels
    doc: dict[str, object] = {
        "created": "2023-11-14T22:13:20Z",
        "architecture": architecture or host_architecture(),
        "os": os,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": f"capsa.testing layer {i}"}
                    for i in range(len(diff_ids))],
    }
    if variant:
        doc["variant"] = variant
    return json.dumps(doc, indent=None, separators=(",", ":"), sort_keys=True).encode()


def busybox_image(compression: str | None = "gzip", flavor: str = "oci", *, whiteouts: bool = True,
                  architecture: str | None = None, variant: str | None = None, cmd: list[str] | None = None,
                  labels: dict[str, str] | None = None, extra_files: dict[str, str] | None = None) -> Image:
    """The busybox layer (plus the whiteout layer when ``whiteouts``) and its config.
    ``extra_files`` go into the base layer (a way to make images with distinct digests)."""
    tars = [busybox_tar(extra_files)] + ([whiteout_tar()] if whiteouts else [])
    layers = [make_layer(tar, compression, flavor) for tar in tars]
    config = image_config([sha256_digest(tar) for tar in tars], architecture=architecture, variant=variant,
                          cmd=cmd, labels=labels)
    if flavor == "docker":
        return Image(layers, config, DOCKER_CONFIG, DOCKER_MANIFEST)
    return Image(layers, config, OCI_CONFIG, OCI_MANIFEST)
