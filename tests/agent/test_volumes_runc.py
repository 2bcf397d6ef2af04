"""Pod volumes in real runc containers: a configMap volume (whole and by subPath), an emptyDir
(with subPathExpr), a Memory emptyDir (tmpfs with its size), read-only enforcement; a subPath
symlink escape refused before runc runs; the staged subPath bind surviving a swap to a symlink;
and teardown leaving no mount (the harness also checks no mount, cgroup or state leaked)."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from kubeproc.agent.hostmount import unmount_all_under
from kubeproc.agent.mounts import container_mounts
from kubeproc.agent.runtime.rootfs import mounts_under
from kubeproc.agent.volumes import VolumeError, VolumeSources, setup_pod_volumes, teardown_pod_volumes
from tests.agent.runtime.conftest import RUNC, harness_ctx

pytestmark = pytest.mark.skipif(not os.access(RUNC, os.X_OK), reason=f"{RUNC} is missing (apt-get install runc)")

CRI_LINE = re.compile(r"^\S+ (stdout|stderr) [FP] (.*)$")


def messages(log: str) -> list[str]:
    out = []
    for line in log.splitlines():
        m = CRI_LINE.match(line)
        assert m, line
        out.append(m.group(2))
    return out


@pytest.fixture
def harness():
    # a failed test's mounts go first: never rmtree through a mount
    with harness_ctx(unmount_all_under) as h:
        yield h


def sources(cms: dict[str, dict[str, Any]]) -> VolumeSources:
    return VolumeSources(config_map=lambda ns, n: cms.get(n), secret=lambda ns, n: None,
                         pvc=lambda ns, n: None, pv=lambda n: None,
                         service_account_token=lambda pod: None, pv_path=lambda pv: None)


POD: dict[str, Any] = {
    "metadata": {"name": "web-0", "namespace": "default", "uid": "u1"},
    "spec": {"containers": [{"name": "app"}], "volumes": [
        {"name": "cfg", "configMap": {"name": "cfg"}},
        {"name": "scratch", "emptyDir": {}},
        {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
    ]},
}


def test_configmap_subpath_and_empty_dirs_in_a_container(harness) -> None:
    pod_dir = os.path.join(harness.data, "pods", "volumes-test")
    try:
        vols = setup_pod_volumes(POD, pod_dir, sources({"cfg": {"data": {"app.conf": "hello", "other": "x"}}}), "node-1")
        assert mounts_under(pod_dir) == [os.path.realpath(vols["mem"].path)]  # the one host mount
        with open(os.path.join(vols["scratch"].path, "seed"), "w") as f:
            f.write("seeded\n")
        container = {"name": "app", "volumeMounts": [
            {"name": "cfg", "mountPath": "/config"},
            {"name": "cfg", "mountPath": "/app.conf", "subPath": "app.conf"},
            {"name": "scratch", "mountPath": "/scratch"},
            {"name": "scratch", "mountPath": "/logs", "subPathExpr": "$(POD_NAME)/logs"},
            {"name": "mem", "mountPath": "/mem"},
        ]}
        mounts = container_mounts(POD, container, vols, {"POD_NAME": "web-0"}, pod_dir=pod_dir)
        ex, log = harness.go(harness.run("vols", ("sh", "-c", (
            "cat /config/app.conf; echo; cat /app.conf; echo; cat /scratch/seed; echo w > /logs/out; "
            "grep -o 'size=[0-9]*k' /proc/mounts | sort -u | grep 16384k; "
            "touch /config/x 2>/dev/null || echo config-ro; touch /app.conf 2>/dev/null || echo subpath-ro; "
            "echo m > /mem/f && echo mem-rw")), mounts=mounts))
        assert ex.exit_code == 0, log
        assert messages(log) == ["hello", "hello", "seeded", "size=16384k", "config-ro", "subpath-ro", "mem-rw"]
        with open(os.path.join(vols["scratch"].path, "web-0/logs/out")) as f:
            assert f.read() == "w\n"
    finally:
        teardown_pod_volumes(pod_dir)
    assert mounts_under(pod_dir) == []
    assert sorted(os.listdir(pod_dir)) == []


def test_subpath_symlink_escape_fails_before_runc(harness) -> None:
    pod_dir = os.path.join(harness.data, "pods", "escape-test")
    try:
        vols = setup_pod_volumes(POD, pod_dir, sources({"cfg": {"data": {"a": "A"}}}), "node-1")
        os.symlink("/etc", os.path.join(vols["scratch"].path, "esc"))  # what a container could plant
        container = {"name": "app", "volumeMounts": [{"name": "scratch", "mountPath": "/x", "subPath": "esc"}]}
        with pytest.raises(VolumeError) as exc:
            container_mounts(POD, container, vols, {}, pod_dir=pod_dir)
        assert (exc.value.reason, exc.value.message) == (
            "CreateContainerConfigError", 'failed to prepare subPath for volumeMount "scratch" of container "app"')
        assert harness.go(harness.rt.list()) == []  # runc never ran
        assert mounts_under(pod_dir) == [os.path.realpath(vols["mem"].path)]  # no staged bind
    finally:
        teardown_pod_volumes(pod_dir)
    assert mounts_under(pod_dir) == []


def test_staged_subpath_survives_a_swap_to_a_symlink_and_is_rebound(harness) -> None:
    pod_dir = os.path.join(harness.data, "pods", "toctou-test")
    try:
        vols = setup_pod_volumes(POD, pod_dir, sources({"cfg": {"data": {"a": "A"}}}), "node-1")
        logs = os.path.join(vols["scratch"].path, "logs")
        os.mkdir(logs)
        open(os.path.join(logs, "marker"), "w").close()
        container = {"name": "app", "volumeMounts": [{"name": "scratch", "mountPath": "/logs", "subPath": "logs"}]}
        container_mounts(POD, container, vols, {}, pod_dir=pod_dir)  # a first attempt's bind
        mounts = container_mounts(POD, container, vols, {}, pod_dir=pod_dir)  # restart: rebound, not stacked
        staged = os.path.join(pod_dir, "volume-subpaths", "scratch", "app", "0")
        assert mounts[0].source == staged
        assert mounts_under(staged) == [os.path.realpath(staged)]
        # the race the staging closes: the checked directory is replaced by a symlink to /etc
        os.rename(logs, logs + ".old")
        os.symlink("/etc", logs)
        ex, log = harness.go(harness.run("toctou", ("ls", "/logs"), mounts=mounts))
        assert ex.exit_code == 0 and messages(log) == ["marker"]
    finally:
        teardown_pod_volumes(pod_dir)
    assert mounts_under(pod_dir) == []
