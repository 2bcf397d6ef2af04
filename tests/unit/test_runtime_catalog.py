"""kubeproc.agent.runtime.catalog: image names, Kubernetes' command/args rule, user overrides."""

from __future__ import annotations

import pytest

from kubeproc.agent.runtime import catalog
from kubeproc.agent.runtime.catalog import ImagePullError, Resolved

CAT = {
    "redis": {"command": ["redis-server"], "args": ["--protected-mode", "no"], "workingDir": "/data"},
    "busybox": {"args": ["sh"]},
    "python": {"args": ["python3"], "env": {"PYTHONUNBUFFERED": "1"}},
    "kubeproc/web": {"command": ["python3"], "args": ["-m", "http.server"]},
    "empty": {},
}


@pytest.mark.parametrize("image,want", [
    ("redis", "redis"),
    ("redis:7", "redis"),
    ("docker.io/library/redis:7.2-alpine", "redis"),
    ("library/redis", "redis"),
    ("redis@sha256:" + "a" * 64, "redis"),
    ("localhost:5000/kubeproc/web:1", "kubeproc/web"),
    ("registry.k8s.io/pause:3.9", "pause"),
    ("kubeproc/web", "kubeproc/web"),
    ("Busybox", "busybox"),
], ids=["bare", "tag", "registry-library-tag", "library-prefix", "digest", "registry-port", "registry-dns", "org", "lowercase"])
def test_image_name(image: str, want: str) -> None:
    assert catalog.image_name(image) == want


@pytest.mark.parametrize("image,command,args,want", [
    ("redis:7", None, None, Resolved("redis", ("redis-server", "--protected-mode", "no"), (), "/data")),
    ("redis:7", None, ["--port", "6380"], Resolved("redis", ("redis-server", "--port", "6380"), (), "/data")),
    ("redis:7", ["redis-server"], None, Resolved("redis", ("redis-server",), (), "/data")),
    ("redis:7", ["sh", "-c"], ["echo hi"], Resolved("redis", ("sh", "-c", "echo hi"), (), "/data")),
    ("busybox", None, None, Resolved("busybox", ("sh",), (), None)),
    ("busybox", None, ["sleep", "5"], Resolved("busybox", ("sleep", "5"), (), None)),
    ("python:3.12", None, None, Resolved("python", ("python3",), (("PYTHONUNBUFFERED", "1"),), None)),
    ("quay.io/bitnami/redis", None, None, Resolved("redis", ("redis-server", "--protected-mode", "no"), (), "/data")),
    ("ghcr.io/acme/unknown:1", ["my-prog"], ["x"], Resolved("", ("my-prog", "x"), (), None)),
], ids=["image-defaults", "args-replace-cmd", "command-drops-cmd", "command-and-args",
        "cmd-only-image", "args-only-on-cmd-only-image", "image-env", "last-path-component",
        "unknown-image-explicit-command"])
def test_resolve(image, command, args, want) -> None:
    assert catalog.resolve_in(CAT, image, command, args) == want


@pytest.mark.parametrize("image,command,args,reason,fragment", [
    ("ghcr.io/acme/unknown:1", None, None, "ErrImagePull", "add an entry `acme/unknown:"),
    ("ghcr.io/acme/unknown:1", None, ["x"], "ErrImagePull", "or give the container an explicit `command`"),
    ("ghcr.io/acme/unknown:1", [], None, "ErrImagePull", "$KUBEPROC_HOME/images.yaml"),
    ("empty", None, None, "CreateContainerError", "set `command`"),
], ids=["unknown-no-command", "unknown-args-only", "unknown-empty-command", "known-without-any-command"])
def test_resolve_errors(image, command, args, reason, fragment) -> None:
    got = catalog.resolve_in(CAT, image, command, args)
    assert isinstance(got, ImagePullError)
    assert got.reason == reason
    assert fragment in got.message


def test_builtin_catalog_has_the_demo_images() -> None:
    cat = catalog.load_catalog()
    for name in ("redis", "nginx", "busybox", "alpine", "debian", "ubuntu", "python", "postgres", "zookeeper", "kubeproc/web"):
        assert name in cat, name
    assert catalog.resolve("redis:7", None, None).argv[0] == "redis-server"


def test_user_catalog_overrides_and_extends(tmp_path) -> None:
    user = tmp_path / "images.yaml"
    user.write_text("redis:\n  command: [my-redis]\nacme/app:\n  command: [app]\n  env: {A: 1}\n")
    assert catalog.resolve("redis", None, None, user).argv == ("my-redis",)
    assert catalog.resolve("ghcr.io/acme/app:2", None, None, user) == Resolved("acme/app", ("app",), (("A", "1"),), None)
    assert catalog.resolve("busybox", None, None, user).argv == ("sh",)  # built-in entries stay
    assert catalog.resolve("redis", None, None, tmp_path / "missing.yaml").argv[0] == "redis-server"


@pytest.mark.parametrize("text,fragment", [
    ("redis: [a]", "expected a mapping"),
    ("redis:\n  cmd: [x]", "unknown field"),
    ("redis:\n  command: x", "command must be a list of strings"),
    ("redis:\n  workingDir: data", "workingDir must be an absolute path"),
    ("redis: {command: [x]\n", "not valid YAML"),
    ("- a\n- b\n", "expected a mapping of image name"),
], ids=["entry-not-mapping", "unknown-field", "command-not-list", "relative-workdir", "bad-yaml", "top-not-mapping"])
def test_malformed_user_catalog_is_an_image_pull_error(tmp_path, text, fragment) -> None:
    user = tmp_path / "images.yaml"
    user.write_text(text)
    got = catalog.resolve("redis", None, None, user)
    assert isinstance(got, ImagePullError) and fragment in got.message and str(user) in got.message
