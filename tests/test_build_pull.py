"""``build``'s FROM through the engine's pull, against a real registry (Debian's
docker-registry on 127.0.0.1): pulled when missing, again with ``--pull=always``, never with
``--pull=never``."""
from __future__ import annotations

from pathlib import Path

from capsa.testing.imagebuilder import busybox_image
from capsa.testing.registryupload import upload_image

from buildtest import assert_nothing_left, build, built, context
from conftest import Capsa


def test_from_pulls_as_the_pull_policy_says(capsa: Capsa, registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = busybox_image(None, whiteouts=False)
    upload_image(registry, "base/bb", "1", [(layer.data, layer.media_type) for layer in image.layers], image.config,
                 image.manifest_media_type)
    capsa.write_config(f'[registry.registries."{registry.host}"]\ninsecure = true\n')
    ref = f"{registry.host}/base/bb:1"
    ctx = context(tmp_path, f"FROM {ref}\nRUN echo built-on-pulled > /x\n")
    manifests = lambda: len(registry.requests_seen("GET", "/manifests/"))  # noqa: E731
    try:
        never = build(capsa, ctx, "--pull=never")
        assert never.returncode == 125 and "image not known" in never.stderr
        first = built(capsa, ctx)  # (missing: pulled)
        pulls = manifests()
        assert pulls >= 1
        r = capsa("run", "--rm", first, "cat", "/x")
        assert r.stdout == "built-on-pulled\n", r.stderr
        assert built(capsa, ctx) == first and manifests() == pulls  # (present: not pulled again)
        assert built(capsa, ctx, "--pull=always") == first and manifests() > pulls
        assert built(capsa, ctx, "--pull=never") == first
    finally:
        assert_nothing_left(capsa)
        capsa("system", "reset", "-f", timeout=120)


def test_from_pulls_with_the_registry_flags_and_a_bare_pull(capsa: Capsa, basic_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """--creds and --tls-verify reach FROM's pull (podman's build flags, as pull's); a bare
    ``--pull`` means ``--pull=true`` (pflag's optional value): always pull, not take the
    context as the flag's value."""
    from capsa.testing.registryfixtures import BASIC_PASSWORD, BASIC_USER

    image = busybox_image(None, whiteouts=False)
    upload_image(basic_registry, "base/bb", "1", [(layer.data, layer.media_type) for layer in image.layers], image.config,
                 image.manifest_media_type, auth=(BASIC_USER, BASIC_PASSWORD))
    ref = f"{basic_registry.host}/base/bb:1"
    ctx = context(tmp_path, f"FROM {ref}\nRUN echo with-creds > /x\n")
    manifests = lambda: len(basic_registry.requests_seen("GET", "/manifests/"))  # noqa: E731
    try:
        denied = build(capsa, ctx, "--tls-verify=false")
        assert denied.returncode == 125 and "authentication required" in denied.stderr, denied.stderr
        assert capsa("images", "-a", "-q").stdout == ""
        first = built(capsa, ctx, "--tls-verify=false", "--creds", f"{BASIC_USER}:{BASIC_PASSWORD}")
        assert capsa("run", "--rm", first, "cat", "/x").stdout == "with-creds\n"
        pulls = manifests()
        again = built(capsa, ctx, "--pull", "--tls-verify=false", "--creds", f"{BASIC_USER}:{BASIC_PASSWORD}")
        assert again == first and manifests() > pulls
    finally:
        assert_nothing_left(capsa)
        capsa("system", "reset", "-f", timeout=120)
