"""The local-path provisioner (kubeproc.controllers.volume.provisioner, .localpath) against
sig-storage-lib-external-provisioner: shouldProvision, the PV it creates, shouldDelete; the
directory's owner and mode from the first consumer pod; the filesystem module's safety.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from kubeproc.controllers.volume import binder as b
from kubeproc.controllers.volume import provisioner as prov
from kubeproc.controllers.volume.localpath import LocalPaths

PROV = prov.PROVISIONER
HANDED = {b.ANN_STORAGE_PROVISIONER: PROV, b.ANN_BETA_STORAGE_PROVISIONER: PROV}


def claim(anns: dict[str, str] | None = None, cls: str = "local-path", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "ns", "uid": "abc", "resourceVersion": "7",
                         "annotations": dict(anns or {})},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": cls,
                     "resources": {"requests": {"storage": "2Gi"}}, **spec}}


def sc(mode: str = "WaitForFirstConsumer", provisioner: str = PROV, **kw: Any) -> dict[str, Any]:
    out = prov.local_path_class()
    out.update(volumeBindingMode=mode, provisioner=provisioner, **kw)
    return out


@pytest.mark.parametrize("c, classes, existing, want", [
    (claim({**HANDED, b.ANN_SELECTED_NODE: "n1"}), {"local-path": sc()}, {}, True),
    (claim(HANDED), {"local-path": sc()}, {}, False),
    (claim(HANDED), {"local-path": sc("Immediate")}, {}, True),
    (claim({b.ANN_BETA_STORAGE_PROVISIONER: PROV}), {"local-path": sc("Immediate")}, {}, True),
    (claim({b.ANN_STORAGE_PROVISIONER: "other"}), {"local-path": sc("Immediate")}, {}, False),
    (claim(HANDED), {"local-path": sc("Immediate", "other")}, {}, False),
    (claim(HANDED, volumeName="v"), {"local-path": sc("Immediate")}, {}, False),
    (claim(HANDED), {"local-path": sc("Immediate")}, {"pvc-abc": {}}, False),
    (claim(HANDED), {}, {}, False),
], ids=["wffc-with-selected-node", "wffc-without-node", "immediate", "beta-annotation",
        "other-provisioner-asked", "class-of-other-provisioner", "already-bound",
        "volume-exists", "class-missing"])
def test_should_provision(c: dict[str, Any], classes: dict[str, Any], existing: dict[str, Any],
                          want: bool) -> None:
    assert prov.should_provision(c, classes, existing) is want


def test_provisioned_volume_local_with_node_affinity() -> None:
    pv = prov.provisioned_volume(claim(HANDED), sc(mountOptions=["noatime"]), "/d/ns/data-abc", "n1")
    assert pv["metadata"] == {"name": "pvc-abc",
                              "annotations": {"pv.kubernetes.io/provisioned-by": PROV}}
    assert pv["spec"] == {
        "capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce"],
        "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "ns", "name": "data", "uid": "abc",
                     "apiVersion": "v1", "resourceVersion": "7"},
        "storageClassName": "local-path", "persistentVolumeReclaimPolicy": "Delete",
        "volumeMode": "Filesystem", "mountOptions": ["noatime"],
        "local": {"path": "/d/ns/data-abc"},
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]}}}


@pytest.mark.parametrize("reclaim, want", [("Retain", "Retain"), (None, "Delete")],
                         ids=["class-policy", "default-delete"])
def test_reclaim_policy_from_class(reclaim: str | None, want: str) -> None:
    cls = sc()
    cls.pop("reclaimPolicy")
    if reclaim:
        cls["reclaimPolicy"] = reclaim
    pv = prov.provisioned_volume(claim(), cls, "/p", "n1")
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == want


def test_no_node_means_host_path() -> None:
    pv = prov.provisioned_volume(claim(), sc("Immediate"), "/p", "")
    assert pv["spec"]["hostPath"] == {"path": "/p", "type": "DirectoryOrCreate"}
    assert "nodeAffinity" not in pv["spec"] and "local" not in pv["spec"]


@pytest.mark.parametrize("anns, default, want", [
    ({b.ANN_SELECTED_NODE: "n2"}, "n1", "n2"), ({}, "n1", "n1"), ({}, "", "")],
    ids=["scheduler-choice", "this-node", "unknown"])
def test_target_node(anns: dict[str, str], default: str, want: str) -> None:
    assert prov.target_node(claim(anns), default) == want


def test_volume_path_and_name() -> None:
    assert prov.volume_path("/data/volumes", claim()) == "/data/volumes/ns/data-abc"
    assert prov.volume_name(claim()) == "pvc-abc"


def _pv(phase: str = "Released", policy: str = "Delete", by: str = PROV, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "pvc-abc", "annotations": {b.ANN_DYNAMICALLY_PROVISIONED: by}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"persistentVolumeReclaimPolicy": policy}, "status": {"phase": phase}}


@pytest.mark.parametrize("pv, want", [
    (_pv(), True), (_pv(phase="Bound"), False), (_pv(policy="Retain"), False),
    (_pv(by="other"), False), (_pv(deleting=True), False)],
    ids=["released-delete-ours", "bound", "retain", "other-provisioner", "being-deleted"])
def test_should_delete(pv: dict[str, Any], want: bool) -> None:
    assert prov.should_delete(pv) is want


def _consumer(name: str, created: str, phase: str = "Running", **sc: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
            "spec": {"securityContext": sc, "containers": [{"name": "c"}],
                     "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]},
            "status": {"phase": phase}}


def test_first_consumer_is_oldest_live_pod() -> None:
    pods = [_consumer("late", "2026-01-02T00:00:00Z"), _consumer("done", "2025-01-01T00:00:00Z", "Succeeded"),
            _consumer("early", "2026-01-01T00:00:00Z"),
            {"metadata": {"name": "unrelated", "namespace": "ns", "creationTimestamp": "2020-01-01T00:00:00Z"},
             "spec": {}}]
    got = prov.first_consumer(claim(), pods)
    assert got is not None and got["metadata"]["name"] == "early"


@pytest.mark.parametrize("pod, want", [
    (_consumer("p", "t", fsGroup=2000, runAsUser=1000), prov.Ownership(1000, 2000, 0o2770)),
    (_consumer("p", "t", runAsUser=1000), prov.Ownership(1000, None, 0o750)),
    (_consumer("p", "t"), prov.Ownership(None, None, 0o750)),
    (None, prov.Ownership(None, None, 0o750)),
    ({"spec": {"containers": [{"securityContext": {"runAsUser": 7}}]}}, prov.Ownership(7, None, 0o750)),
], ids=["fsgroup-and-user", "user-only", "nothing", "no-consumer", "container-run-as-user"])
def test_ownership(pod: dict[str, Any] | None, want: prov.Ownership) -> None:
    got = prov.ownership(pod)
    assert got == want and not got.mode & 0o002


def test_local_paths_create_and_remove(tmp_path: Path) -> None:
    paths = LocalPaths(str(tmp_path / "volumes"))
    target = str(tmp_path / "volumes" / "ns" / "data-abc")
    paths.create(target, prov.Ownership(None, os.getgid(), 0o2770))
    paths.create(target, prov.Ownership(None, os.getgid(), 0o2770))  # idempotent
    mode = os.stat(target).st_mode
    assert stat.S_IMODE(mode) == 0o2770
    assert stat.S_IMODE(os.stat(os.path.dirname(target)).st_mode) == 0o711
    Path(target, "file").write_text("x")
    paths.remove(target)
    assert not os.path.exists(target)
    paths.remove(target)  # already gone is fine


@pytest.mark.parametrize("rel", ["../escape", "", "ns/../../escape"],
                         ids=["parent", "root-itself", "dotdot-inside"])
def test_local_paths_refuse_outside_root(tmp_path: Path, rel: str) -> None:
    paths = LocalPaths(str(tmp_path / "volumes"))
    outside = os.path.join(str(tmp_path / "volumes"), rel)
    with pytest.raises(ValueError):
        paths.create(outside, prov.Ownership(None, None, 0o750))
    with pytest.raises(ValueError):
        paths.remove(outside)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_local_paths_chown_as_root(tmp_path: Path) -> None:
    paths = LocalPaths(str(tmp_path / "v"))
    target = str(tmp_path / "v" / "ns" / "d")
    paths.create(target, prov.Ownership(1000, 2000, 0o2770))
    st = os.stat(target)
    assert (st.st_uid, st.st_gid) == (1000, 2000)


def test_default_class_object() -> None:
    cls = prov.local_path_class()
    assert cls["metadata"] == {"name": "local-path",
                               "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}
    assert (cls["provisioner"], cls["volumeBindingMode"], cls["reclaimPolicy"]) == (
        "kubeproc.io/local-path", "WaitForFirstConsumer", "Delete")
