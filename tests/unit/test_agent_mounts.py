"""volumeMounts → OCI bind mounts (kubeproc.agent.mounts): options, read-only rule, subPathExpr,
subPath creation, and the escape table (every way out of the volume is refused). Without
pod_dir no host mount is made; the staged bind (pod_dir) is tested as root in tests/agent."""

from __future__ import annotations

import os
import stat
from typing import Any

import pytest

from kubeproc.agent.mounts import SubPathError, container_mounts, expand_subpath_expr, safe_open
from kubeproc.agent.runtime.bundle import Mount
from kubeproc.agent.volumes import HostVolume, VolumeError

POD: dict[str, Any] = {"metadata": {"name": "p", "namespace": "default"}}


def ctr(*mounts: dict[str, Any], name: str = "app") -> dict[str, Any]:
    return {"name": name, "volumeMounts": list(mounts)}


@pytest.fixture
def vol(tmp_path):
    """A writable volume plus things outside it to escape to."""
    v = tmp_path / "vol"
    v.mkdir()
    os.chmod(v, 0o777)
    (v / "data").mkdir()
    (v / "data/file").write_text("in")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("out")
    return v, outside


def test_mount_options_and_read_only_rule(tmp_path) -> None:
    vols = {"rw": HostVolume("/h/rw", False, "emptyDir"), "ro": HostVolume("/h/ro", True, "configMap")}
    got = container_mounts(POD, ctr(
        {"name": "rw", "mountPath": "/a"},
        {"name": "rw", "mountPath": "/b", "readOnly": True},
        {"name": "ro", "mountPath": "/c"},
        {"name": "rw", "mountPath": "/d", "mountPropagation": "HostToContainer"},
        {"name": "rw", "mountPath": "/e", "mountPropagation": "Bidirectional"},
    ), vols, {})
    assert got == [
        Mount("/h/rw", "/a", ("rbind", "rprivate")),
        Mount("/h/rw", "/b", ("rbind", "rprivate", "ro")),
        Mount("/h/ro", "/c", ("rbind", "rprivate", "ro")),
        Mount("/h/rw", "/d", ("rbind", "rslave")),
        Mount("/h/rw", "/e", ("rbind", "rshared")),
    ]
    assert all(m.type == "bind" for m in got)


def test_missing_volume() -> None:
    with pytest.raises(VolumeError) as exc:
        container_mounts(POD, ctr({"name": "ghost", "mountPath": "/g"}), {}, {})
    assert (exc.value.reason, exc.value.message) == (
        "CreateContainerConfigError", 'cannot find volume "ghost" to mount into container "app"')


@pytest.mark.parametrize("expr,env,want", [
    ("$(POD)/logs", {"POD": "web-0"}, "web-0/logs"),
    ("$$(POD)", {"POD": "web-0"}, "$(POD)"),
    ("$(A)-$(B)", {"A": "1", "B": "2"}, "1-2"),
    ("plain", {}, "plain"),
], ids=["var", "escaped", "two-vars", "no-vars"])
def test_subpath_expr_expansion(expr, env, want) -> None:
    assert expand_subpath_expr(expr, env) == want


@pytest.mark.parametrize("expr,env,error", [
    ("$(B)/$(A)", {}, "missing value for A, B"),
    ("$(EMPTY)", {"EMPTY": ""}, "missing value for EMPTY"),
], ids=["unknown-vars-sorted", "empty-value"])
def test_subpath_expr_missing_values(expr, env, error) -> None:
    with pytest.raises(SubPathError, match=f"^{error}$"):
        expand_subpath_expr(expr, env)


def test_subpath_expr_creates_the_directory(vol) -> None:
    v, _ = vol
    hv = {"logs": HostVolume(str(v), False, "emptyDir")}
    got = container_mounts(POD, ctr({"name": "logs", "mountPath": "/logs", "subPathExpr": "$(POD_NAME)/x"}), hv,
                           {"POD_NAME": "web-0"})
    assert got == [Mount(str(v / "web-0/x"), "/logs", ("rbind", "rprivate"))]
    assert stat.S_IMODE(os.stat(v / "web-0").st_mode) == 0o777  # the volume root's mode
    assert stat.S_IMODE(os.stat(v / "web-0/x").st_mode) == 0o777


def test_subpath_expr_error_reason(vol) -> None:
    v, _ = vol
    with pytest.raises(VolumeError) as exc:
        container_mounts(POD, ctr({"name": "l", "mountPath": "/l", "subPathExpr": "$(NOPE)"}),
                         {"l": HostVolume(str(v), False, "emptyDir")}, {})
    assert (exc.value.reason, exc.value.message) == ("CreateContainerConfigError", "missing value for NOPE")


def test_subpath_to_an_existing_file_and_through_an_inner_symlink(vol) -> None:
    v, _ = vol
    os.symlink("data/file", v / "alias")  # like a configMap key: a link that stays inside
    hv = {"v": HostVolume(str(v), True, "configMap")}
    got = container_mounts(POD, ctr({"name": "v", "mountPath": "/f", "subPath": "data/file"},
                                    {"name": "v", "mountPath": "/g", "subPath": "alias"}), hv, {})
    assert [m.source for m in got] == [str(v / "data/file")] * 2
    assert all("ro" in m.options for m in got)


def _setup_escape(v, outside, case: str) -> str:
    if case == "symlink-to-etc":
        os.symlink("/etc", v / "esc")
        return "esc"
    if case == "symlink-chain":
        os.symlink("hop2", v / "hop1")
        os.symlink(str(outside), v / "hop2")
        return "hop1"
    if case == "symlink-to-file-outside":
        os.symlink(str(outside / "secret"), v / "esc")
        return "esc"
    if case == "relative-symlink-up":
        os.symlink("../../outside", v / "data/up")
        return "data/up/secret"
    if case == "inner-component-symlink":
        os.symlink(str(outside), v / "dir")
        return "dir/secret"
    if case == "dangling-symlink-outside":  # would make the kubelet mkdir outside the volume
        os.symlink(str(outside / "new"), v / "esc")
        return "esc/sub"
    raise AssertionError(case)


@pytest.mark.parametrize("case", [
    "symlink-to-etc", "symlink-chain", "symlink-to-file-outside", "relative-symlink-up",
    "inner-component-symlink", "dangling-symlink-outside",
])
def test_subpath_symlink_escapes_are_refused(vol, case) -> None:
    v, outside = vol
    sub = _setup_escape(v, outside, case)
    before = sorted(os.listdir(outside))
    with pytest.raises(VolumeError) as exc:
        container_mounts(POD, ctr({"name": "v", "mountPath": "/x", "subPath": sub}),
                         {"v": HostVolume(str(v), False, "emptyDir")}, {})
    assert exc.value.reason == "CreateContainerConfigError"
    assert exc.value.message in (
        'failed to prepare subPath for volumeMount "v" of container "app"',
        'failed to create subPath directory for volumeMount "v" of container "app"')
    assert "not within volume path" in exc.value.detail or "is outside of allowed base" in exc.value.detail
    assert sorted(os.listdir(outside)) == before  # nothing created outside


@pytest.mark.parametrize("sub,message", [
    ("../outside", "unable to provision SubPath `../outside`: must not contain '..'"),
    ("data/../../outside", "unable to provision SubPath `data/../../outside`: must not contain '..'"),
    ("/etc", "error SubPath `/etc` must not be an absolute path"),
], ids=["dotdot", "inner-dotdot", "absolute"])
def test_subpath_lexical_escapes_are_refused(vol, sub, message) -> None:
    v, _ = vol
    with pytest.raises(VolumeError) as exc:
        container_mounts(POD, ctr({"name": "v", "mountPath": "/x", "subPath": sub}),
                         {"v": HostVolume(str(v), False, "emptyDir")}, {})
    assert (exc.value.reason, exc.value.message) == ("CreateContainerConfigError", message)


def test_subpath_expr_expanding_to_an_escape_is_refused(vol) -> None:
    v, _ = vol
    with pytest.raises(VolumeError, match="must not contain"):
        container_mounts(POD, ctr({"name": "v", "mountPath": "/x", "subPathExpr": "$(D)/outside"}),
                         {"v": HostVolume(str(v), False, "emptyDir")}, {"D": ".."})


def test_safe_open_refuses_any_symlink_component(vol) -> None:
    v, _ = vol
    os.symlink("data", v / "link")
    with pytest.raises(SubPathError, match="unexpected symlink found"):
        safe_open(str(v / "link/file"), str(v))
    fd = safe_open(str(v / "data/file"), str(v))
    try:
        assert os.path.samestat(os.fstat(fd), os.stat(v / "data/file"))
    finally:
        os.close(fd)
