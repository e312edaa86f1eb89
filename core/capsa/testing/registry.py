"""The registry conformance suite: the registry driver contract against a real registry.

Mixed into a test class with ``name`` (and optionally ``options``); see
``tests/test_registry_conformance.py``::

    from capsa.testing.registry import RegistryConformance

    class TestMyDriver(RegistryConformance):
        name = "mydriver"
        chunked_options = {"chunk_size": 65536}  # options that make put_blob upload in chunks; None: skip

The registry comes from the fixture ``registry_target`` (a :class:`RegistryTarget`). By default
it is a real ``docker-registry`` the suite starts on 127.0.0.1
(:class:`capsa.testing.registryserver.RegistryServer`, Debian's docker-registry package) of the
kind the class attribute ``target`` names: ``plain`` HTTP (the default), ``tls`` (a CA made for
the test, trusted through a cert dir), ``tls-noverify``, ``mtls`` (client certificates
required), ``basic`` and ``basic-tls`` (htpasswd), ``token`` (Bearer tokens from a token service
the suite runs); ``tests/test_registry_conformance.py`` runs every kind. Override the fixture to
run the suite against another registry. Every test uses
only the contract of :class:`capsa.drivers.registry.RegistryDriver` and checks what it reads
itself (digests, sizes, bytes), so a third-party registry driver runs it unchanged; where the
target has a ``server``, a few tests also check interoperability with a plain HTTP client
(:mod:`capsa.testing.registryupload`).
"""
from __future__ import annotations

import hashlib
import io
import json
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from capsa.drivers.registry import Credentials, Descriptor, Endpoint
from capsa.errors import RegistryError
from capsa.image import mediatypes as mt
from capsa.testing.drivers import make_driver
from capsa.testing.registrytargets import (TARGETS, RegistryTarget, closed_port, established_to, image_config,
                                           image_manifest, plain_target, registry_targets, sha256)

__all__ = ["TARGETS", "RegistryConformance", "RegistryTarget", "closed_port", "plain_target", "registry_targets",
           "sha256"]


class RegistryConformance:
    kind: ClassVar[str] = "registry"
    name: ClassVar[str] = ""
    options: ClassVar[dict[str, Any]] = {}
    chunked_options: ClassVar[dict[str, Any] | None] = None  # driver options for chunked uploads
    chunk_limit: ClassVar[int] = 1 << 20  # the contract's largest get_blob chunk

    # fixtures --------------------------------------------------------------------------------

    target: ClassVar[str] = "plain"  # which of TARGETS the default registry_target starts

    @pytest.fixture
    def registry_target(self) -> Iterator[RegistryTarget]:
        """The registry under test: by default a real docker-registry of kind ``target`` (see
        :func:`registry_targets`); override the fixture for another registry."""
        yield from registry_targets(self.target)

    def new_driver(self, tmp_path: Path, target: RegistryTarget, endpoint: Endpoint | None = None,
                   **options: Any) -> Any:
        driver = make_driver(self.kind, self.name, tmp_path / f"d{len(self._drivers)}", dict(self.options, **options))
        driver.configure(target.registry, endpoint or target.endpoint)
        self._drivers.append(driver)
        return driver

    @pytest.fixture(autouse=True)
    def _close_drivers(self) -> Iterator[None]:
        self._drivers: list[Any] = []
        yield
        for driver in self._drivers:
            driver.close()  # (the contract's; a no-op unless the driver holds something)

    @pytest.fixture
    def driver(self, tmp_path: Path, registry_target: RegistryTarget) -> Any:
        return self.new_driver(tmp_path, registry_target)

    # helpers ---------------------------------------------------------------------------------

    def push_blob(self, driver: Any, target: RegistryTarget, repo: str, data: bytes) -> str:
        digest = sha256(data)
        driver.put_blob(target.registry, repo, digest, io.BytesIO(data), len(data))
        return digest

    def fetch_blob(self, driver: Any, target: RegistryTarget, repo: str, digest: str) -> bytes:
        chunks = []
        for chunk in driver.get_blob(target.registry, repo, digest):
            assert isinstance(chunk, bytes) and 0 < len(chunk) <= self.chunk_limit
            chunks.append(chunk)
        return b"".join(chunks)

    def push_image(self, driver: Any, target: RegistryTarget, repo: str, tag: str,
                   media_type: str = mt.OCI_MANIFEST) -> tuple[bytes, str]:
        layer, config = f"layer of {repo}:{tag}".encode() * 100, image_config(tag)
        for blob in (layer, config):
            self.push_blob(driver, target, repo, blob)
        body = image_manifest(config, [layer], media_type)
        return body, driver.put_manifest(target.registry, repo, tag, body, media_type)

    # blobs -----------------------------------------------------------------------------------

    def test_blob_round_trip(self, driver: Any, registry_target: RegistryTarget) -> None:
        t = registry_target
        data = bytes(range(256)) * 9000 + b"tail"  # > 2 MiB: several chunks
        digest = sha256(data)
        assert driver.blob_exists(t.registry, "conf/blobs", digest) is False
        self.push_blob(driver, t, "conf/blobs", data)
        assert driver.blob_exists(t.registry, "conf/blobs", digest) is True
        got = self.fetch_blob(driver, t, "conf/blobs", digest)
        assert sha256(got) == digest and len(got) == len(data)

    def test_empty_and_small_blobs(self, driver: Any, registry_target: RegistryTarget) -> None:
        t = registry_target
        for data in (b"", b"x", b"{}"):
            digest = self.push_blob(driver, t, "conf/small", data)
            assert driver.blob_exists(t.registry, "conf/small", digest)
            assert self.fetch_blob(driver, t, "conf/small", digest) == data

    def test_chunked_upload(self, tmp_path: Path, registry_target: RegistryTarget) -> None:
        if self.chunked_options is None:
            pytest.skip("the driver declares no options for chunked uploads")
        t = registry_target
        driver = self.new_driver(tmp_path, t, **self.chunked_options)
        for size in (1, 100_000, 3 * 65536, 700_001):
            data = hashlib.sha256(str(size).encode()).digest() * (size // 32) + b"z" * (size % 32)
            digest = self.push_blob(driver, t, "conf/chunked", data)
            assert self.fetch_blob(driver, t, "conf/chunked", digest) == data

    def test_upload_from_an_unseekable_stream(self, driver: Any, registry_target: RegistryTarget) -> None:
        t = registry_target
        data = b"streamed " * 50_000

        class Pipe(io.RawIOBase):
            def __init__(self) -> None:
                self._src = io.BytesIO(data)

            def readable(self) -> bool:
                return True

            def readinto(self, buf: Any) -> int:
                chunk = self._src.read(min(len(buf), 4096))
                buf[:len(chunk)] = chunk
                return len(chunk)

        driver.put_blob(t.registry, "conf/pipe", sha256(data), io.BufferedReader(Pipe()), len(data))
        assert self.fetch_blob(driver, t, "conf/pipe", sha256(data)) == data

    def test_wrong_digest_is_refused(self, driver: Any, registry_target: RegistryTarget) -> None:
        t = registry_target
        data, claimed = b"actual bytes", sha256(b"other bytes")
        with pytest.raises(RegistryError) as err:
            driver.put_blob(t.registry, "conf/bad", claimed, io.BytesIO(data), len(data))
        assert err.value.code in ("DIGEST_INVALID", "BLOB_UPLOAD_INVALID", "SIZE_INVALID")
        assert driver.blob_exists(t.registry, "conf/bad", claimed) is False

    def test_unknown_blob(self, driver: Any, registry_target: RegistryTarget) -> None:
        t = registry_target
        self.push_blob(driver, t, "conf/known", b"something")
        missing = sha256(b"never pushed")
        assert driver.blob_exists(t.registry, "conf/known", missing) is False
        with pytest.raises(RegistryError) as err:
            b"".join(driver.get_blob(t.registry, "conf/known", missing))
        assert err.value.code in ("BLOB_UNKNOWN", "NAME_UNKNOWN")
        assert t.registry in err.value.message and "\n" not in err.value.message

    def test_closing_a_blob_early_releases_its_connection(self, driver: Any, registry_target: RegistryTarget) -> None:
        t = registry_target
        port = int(t.registry.rpartition(":")[2])
        data = b"\0" * (8 << 20)
        digest = self.push_blob(driver, t, "conf/early", data)
        before = established_to(port)
        streams = [driver.get_blob(t.registry, "conf/early", digest) for _ in range(4)]
        firsts = [next(iter(s)) for s in streams]
        assert all(firsts) and established_to(port) >= 4
        for stream in streams:
            stream.close()
        assert established_to(port) <= before + 1
        assert self.fetch_blob(driver, t, "conf/early", digest) == data  # the driver still works

    def test_close_releases_connections_and_the_driver_works_again(self, driver: Any,
                                                                    registry_target: RegistryTarget) -> None:
        t = registry_target
        port = int(t.registry.rpartition(":")[2])
        digest = self.push_blob(driver, t, "conf/close", b"pushed before close")
        assert established_to(port) >= 1
        driver.close()
        assert established_to(port) == 0
        driver.close()  # closing twice is harmless
        driver.configure(t.registry, t.endpoint)
        assert driver.blob_exists(t.registry, "conf/close", digest)
        assert self.fetch_blob(driver, t, "conf/close", digest) == b"pushed before close"
        self.push_blob(driver, t, "conf/close", b"pushed after close")

    def test_parallel_downloads(self, driver: Any, registry_target: RegistryTarget) -> None:
        t = registry_target
        blobs = [bytes([i]) * (300_000 + i) for i in range(6)]
        digests = [self.push_blob(driver, t, "conf/parallel", b) for b in blobs]
        results: dict[int, bytes | BaseException] = {}

        def fetch(i: int) -> None:
            try:
                results[i] = self.fetch_blob(driver, t, "conf/parallel", digests[i])
            except BaseException as exc:  # reported below
                results[i] = exc

        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(len(blobs))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert [results.get(i) for i in range(len(blobs))] == blobs

    # mounts ----------------------------------------------------------------------------------

    def test_mount_across_repositories(self, driver: Any, registry_target: RegistryTarget) -> None:
        t = registry_target
        digest = self.push_blob(driver, t, "conf/source", b"shared layer" * 1000)
        assert driver.mount_blob(t.registry, "conf/target", digest, "conf/source") is True
        assert driver.blob_exists(t.registry, "conf/target", digest) is True
        assert self.fetch_blob(driver, t, "conf/target", digest) == b"shared layer" * 1000

    def test_declined_mount(self, driver: Any, registry_target: RegistryTarget) -> None:
        t = registry_target
        self.push_blob(driver, t, "conf/source", b"present")
        absent = sha256(b"absent")
        assert driver.mount_blob(t.registry, "conf/target2", absent, "conf/source") is False
        assert driver.mount_blob(t.registry, "conf/target2", absent, "conf/no-such-repo") is False
        assert driver.blob_exists(t.registry, "conf/target2", absent) is False
        digest = self.push_blob(driver, t, "conf/target2", b"after a declined mount")  # uploads still work
        assert driver.blob_exists(t.registry, "conf/target2", digest)

    # manifests -------------------------------------------------------------------------------

    @pytest.mark.parametrize("media_type", [mt.OCI_MANIFEST, mt.DOCKER_MANIFEST])
    def test_manifest_round_trip(self, driver: Any, registry_target: RegistryTarget, media_type: str) -> None:
        t = registry_target
        body, digest = self.push_image(driver, t, "conf/image", "v1", media_type)
        assert digest == sha256(body)
        want = Descriptor(media_type=media_type, digest=digest, size=len(body))
        assert driver.resolve(t.registry, "conf/image", "v1") == want
        assert driver.resolve(t.registry, "conf/image", digest) == want
        assert driver.get_manifest(t.registry, "conf/image", "v1") == (body, media_type)
        assert driver.get_manifest(t.registry, "conf/image", digest) == (body, media_type)

    @pytest.mark.parametrize("index_type,manifest_type", [(mt.OCI_INDEX, mt.OCI_MANIFEST),
                                                          (mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST)])
    def test_index_round_trip(self, driver: Any, registry_target: RegistryTarget, index_type: str,
                              manifest_type: str) -> None:
        t = registry_target
        entries = []
        for arch in ("amd64", "arm64"):
            config = image_config(arch)
            layer = f"layer for {arch}".encode()
            for blob in (config, layer):
                self.push_blob(driver, t, "conf/multi", blob)
            body = image_manifest(config, [layer], manifest_type)
            digest = driver.put_manifest(t.registry, "conf/multi", sha256(body), body, manifest_type)
            assert digest == sha256(body)
            entries.append({"mediaType": manifest_type, "digest": digest, "size": len(body),
                            "platform": {"os": "linux", "architecture": arch}})
        index = json.dumps({"schemaVersion": 2, "mediaType": index_type, "manifests": entries}).encode()
        digest = driver.put_manifest(t.registry, "conf/multi", "latest", index, index_type)
        assert driver.resolve(t.registry, "conf/multi", "latest") == Descriptor(index_type, digest, len(index))
        assert driver.get_manifest(t.registry, "conf/multi", "latest") == (index, index_type)
        for entry in entries:
            body, media_type = driver.get_manifest(t.registry, "conf/multi", entry["digest"])
            assert (sha256(body), len(body), media_type) == (entry["digest"], entry["size"], manifest_type)

    def test_retagging_moves_the_tag(self, driver: Any, registry_target: RegistryTarget) -> None:
        t = registry_target
        first, _ = self.push_image(driver, t, "conf/moving", "v1")
        second, _ = self.push_image(driver, t, "conf/moving", "v2")
        driver.put_manifest(t.registry, "conf/moving", "latest", first, mt.OCI_MANIFEST)
        assert driver.resolve(t.registry, "conf/moving", "latest").digest == sha256(first)
        driver.put_manifest(t.registry, "conf/moving", "latest", second, mt.OCI_MANIFEST)
        assert driver.resolve(t.registry, "conf/moving", "latest").digest == sha256(second)

    def test_manifest_with_a_missing_blob_is_refused(self, driver: Any, registry_target: RegistryTarget) -> None:
        t = registry_target
        config = image_config("missing")
        self.push_blob(driver, t, "conf/broken", config)
        body = image_manifest(config, [b"a layer never pushed"])
        with pytest.raises(RegistryError) as err:
            driver.put_manifest(t.registry, "conf/broken", "v1", body, mt.OCI_MANIFEST)
        assert err.value.code in ("MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN", "MANIFEST_INVALID")

    def test_unknown_manifest(self, driver: Any, registry_target: RegistryTarget) -> None:
        t = registry_target
        self.push_image(driver, t, "conf/known", "v1")
        for call in (driver.resolve, driver.get_manifest):
            for ref in ("no-such-tag", sha256(b"no such manifest")):
                with pytest.raises(RegistryError) as err:
                    call(t.registry, "conf/known", ref)
                assert err.value.code == "MANIFEST_UNKNOWN", (call, ref, err.value.code)
                assert "\n" not in err.value.message
            with pytest.raises(RegistryError) as err:
                call(t.registry, "conf/no-such-repository", "v1")
            assert err.value.code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN")

    # tags ------------------------------------------------------------------------------------

    def test_list_tags(self, driver: Any, registry_target: RegistryTarget) -> None:
        t = registry_target
        body, _ = self.push_image(driver, t, "conf/tags", "v1")
        for tag in ("v2", "latest", "1.0.0-rc1"):
            driver.put_manifest(t.registry, "conf/tags", tag, body, mt.OCI_MANIFEST)
        assert sorted(driver.list_tags(t.registry, "conf/tags")) == ["1.0.0-rc1", "latest", "v1", "v2"]
        with pytest.raises(RegistryError) as err:
            driver.list_tags(t.registry, "conf/no-such-repository")
        assert err.value.code == "NAME_UNKNOWN"

    # reaching the registry -------------------------------------------------------------------

    def test_check_login(self, driver: Any, registry_target: RegistryTarget) -> None:
        driver.check_login(registry_target.registry)  # the target's endpoint is good

    def test_unreachable_registry(self, tmp_path: Path, registry_target: RegistryTarget) -> None:
        closed = f"127.0.0.1:{closed_port()}"
        target = RegistryTarget(closed, registry_target.endpoint)
        driver = self.new_driver(tmp_path, target)
        for call in (lambda: driver.check_login(closed), lambda: driver.resolve(closed, "conf/x", "v1"),
                     lambda: driver.blob_exists(closed, "conf/x", sha256(b"x"))):
            with pytest.raises(RegistryError) as err:
                call()
            assert err.value.code == "UNREACHABLE"
            assert closed in err.value.message and "\n" not in err.value.message and err.value.hint

    def test_untrusted_certificate_is_refused(self, tmp_path: Path, registry_target: RegistryTarget) -> None:
        t = registry_target
        if t.untrusted is None:
            pytest.skip("the target has no TLS to distrust")
        driver = self.new_driver(tmp_path, t, t.untrusted)
        with pytest.raises(RegistryError) as err:
            driver.check_login(t.registry)
        assert err.value.code == "UNREACHABLE" and t.registry in err.value.message and err.value.hint
        assert "\n" not in err.value.message

    # credentials -----------------------------------------------------------------------------

    def _wrong(self, target: RegistryTarget) -> Endpoint:
        if target.wrong_password is None or target.endpoint.credentials is None:
            pytest.skip("the target has no credentials to get wrong")
        e = target.endpoint
        return Endpoint(tls_verify=e.tls_verify, cert_dir=e.cert_dir,
                        credentials=Credentials(e.credentials.username, target.wrong_password))

    def _assert_no_secret(self, err: BaseException, *secrets: str) -> None:
        """No secret in the error's message, repr, hint or traceback, and no request with an
        ``Authorization`` header anywhere in its ``__cause__``/``__context__`` chain (an HTTP
        library's exception keeps the request it failed)."""
        texts = [str(err), repr(err), getattr(err, "hint", ""), "".join(traceback.format_exception(err))]
        for secret in secrets:
            assert secret
            for text in texts:
                assert secret not in text
        chain: list[BaseException] = []
        current: BaseException | None = err
        while current is not None and all(current is not seen for seen in chain):
            chain.append(current)
            request = getattr(current, "request", None)
            headers = getattr(request, "headers", None) or {}
            assert "Authorization" not in headers and "authorization" not in headers, type(current)
            current = current.__cause__ or current.__context__

    def test_wrong_credentials_are_unauthorized(self, tmp_path: Path, registry_target: RegistryTarget) -> None:
        t = registry_target
        wrong = self._wrong(t)
        driver = self.new_driver(tmp_path, t, wrong)
        for call in (lambda: driver.check_login(t.registry), lambda: driver.resolve(t.registry, "conf/x", "v1"),
                     lambda: self.push_blob(driver, t, "conf/x", b"denied")):
            with pytest.raises(RegistryError) as err:
                call()
            assert err.value.code == "UNAUTHORIZED", err.value.code
            assert "\n" not in err.value.message
            self._assert_no_secret(err.value, wrong.credentials.password, t.endpoint.credentials.password)

    def test_anonymous_is_refused_where_auth_is_required(self, tmp_path: Path, registry_target: RegistryTarget) -> None:
        t = registry_target
        if not t.anonymous_refused:
            pytest.skip("the target lets anonymous clients in")
        e = t.endpoint
        driver = self.new_driver(tmp_path, t, Endpoint(tls_verify=e.tls_verify, cert_dir=e.cert_dir))
        with pytest.raises(RegistryError) as err:
            self.push_blob(driver, t, "conf/anon", b"anonymous")
        assert err.value.code in ("UNAUTHORIZED", "DENIED")

    def test_configure_replaces_credentials(self, tmp_path: Path, registry_target: RegistryTarget) -> None:
        t = registry_target
        wrong = self._wrong(t)
        driver = self.new_driver(tmp_path, t)
        digest = self.push_blob(driver, t, "conf/creds", b"with good credentials")
        driver.configure(t.registry, wrong)  # cached tokens must not outlive the credentials
        with pytest.raises(RegistryError) as err:
            driver.blob_exists(t.registry, "conf/creds", digest)
        assert err.value.code == "UNAUTHORIZED"
        driver.configure(t.registry, t.endpoint)
        assert driver.blob_exists(t.registry, "conf/creds", digest)

    def test_credentials_never_show_in_errors(self, tmp_path: Path, registry_target: RegistryTarget) -> None:
        t = registry_target
        if t.endpoint.credentials is None:
            pytest.skip("the target needs no credentials")
        driver = self.new_driver(tmp_path, t)
        password = t.endpoint.credentials.password
        failures: list[BaseException] = []
        for call in (lambda: driver.resolve(t.registry, "conf/x", "nope"),
                     lambda: b"".join(driver.get_blob(t.registry, "conf/x", sha256(b"nope"))),
                     lambda: driver.list_tags(t.registry, "conf/nope"),
                     lambda: driver.put_manifest(t.registry, "conf/x", "v1", b"not json", mt.OCI_MANIFEST)):
            try:
                call()
            except RegistryError as exc:
                failures.append(exc)
        assert len(failures) == 4
        for exc in failures:
            self._assert_no_secret(exc, password)
        assert password not in repr(driver) and password not in repr(t.endpoint)

    # interoperability with a plain client ------------------------------------------------------

    def test_reads_what_a_plain_client_pushed(self, driver: Any, registry_target: RegistryTarget) -> None:
        t = registry_target
        if t.server is None:
            pytest.skip("the target has no server for a raw client")
        from capsa.testing.registryupload import upload_image

        layer = b"raw layer" * 500
        digest = upload_image(t.server, "conf/raw", "v1", [(layer, mt.OCI_LAYER)], image_config("raw"), auth=t.auth)
        desc = driver.resolve(t.registry, "conf/raw", "v1")
        assert desc.digest == digest and desc.media_type == mt.OCI_MANIFEST
        body, _ = driver.get_manifest(t.registry, "conf/raw", digest)
        assert sha256(body) == digest
        assert self.fetch_blob(driver, t, "conf/raw", sha256(layer)) == layer

    def test_a_plain_client_reads_what_the_driver_pushed(self, driver: Any, registry_target: RegistryTarget) -> None:
        t = registry_target
        if t.server is None:
            pytest.skip("the target has no server for a raw client")
        from capsa.testing.registryupload import MANIFEST_ACCEPT, RegistryClient

        body, digest = self.push_image(driver, t, "conf/pushed", "v1", mt.DOCKER_MANIFEST)
        with RegistryClient(t.server, t.auth) as client:
            got = client.get("/v2/conf/pushed/manifests/v1", headers={"Accept": MANIFEST_ACCEPT})
            assert got.status_code == 200 and got.content == body
            assert got.headers["Docker-Content-Digest"] == digest
            layer = json.loads(body)["layers"][0]
            blob = client.get(f"/v2/conf/pushed/blobs/{layer['digest']}")
            assert blob.status_code == 200 and sha256(blob.content) == layer["digest"]
