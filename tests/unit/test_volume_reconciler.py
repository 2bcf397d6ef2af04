"""The volume controller (kubeproc.controllers.volume.reconciler) over a real Registry: Immediate
claims provisioned and bound with upstream's annotations, WaitForFirstConsumer claims waiting
for the scheduler's selected-node, reclaim Delete (PV and directory gone) and Retain (PV
Released, directory kept), pvc-protection holding a claim while a scheduled pod uses it, and
the retroactive default class.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kubeproc.api import resources
from kubeproc.client.local import LocalClient
from kubeproc.controllers.volume import provisioner as prov
from kubeproc.controllers.volume.reconciler import VolumeController
from kubeproc.machinery.events import EventRecorder
from kubeproc.registry.registry import Registry
from tests.unit.test_events import cluster, stored_events, until

PV = resources.by_kind("", "PersistentVolume")
PVC = resources.by_kind("", "PersistentVolumeClaim")
SC = resources.by_kind("storage.k8s.io", "StorageClass")
POD = resources.by_kind("", "Pod")

Scenario = Callable[[Registry, LocalClient, Path, VolumeController], Awaitable[None]]


def storage_class(name: str, mode: str, reclaim: str = "Delete", default: bool = False) -> dict[str, Any]:
    sc = prov.local_path_class()
    sc["metadata"] = {"name": name}
    if default:
        sc["metadata"]["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    sc.update(volumeBindingMode=mode, reclaimPolicy=reclaim)
    return sc


def claim(name: str, cls: str | None, size: str = "1Gi") -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": size}}}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def pod_using(name: str, claim_name: str, node: str = "n1", **sc: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "securityContext": sc,
                     "containers": [{"name": "c", "image": "busybox"}],
                     "volumes": [{"name": "data",
                                  "persistentVolumeClaim": {"claimName": claim_name}}]}}


def run(tmp: Path, classes: list[dict[str, Any]], scenario: Scenario) -> None:
    async def body() -> None:
        async with cluster(tmp) as reg:
            client = LocalClient(reg, "test")
            assert SC is not None
            for sc in classes:
                await client.create(SC, sc)
            kcm = LocalClient(reg, "kube-controller-manager")
            ctrl = VolumeController(kcm, EventRecorder(kcm, "persistentvolume-controller"),
                                    str(tmp / "data"), node_name="n1")
            task = asyncio.create_task(ctrl.run())
            try:
                await scenario(reg, client, tmp / "data" / "volumes", ctrl)
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
    asyncio.run(body())


def get(client: LocalClient, res: Any, name: str, ns: str = "default") -> dict[str, Any] | None:
    return client.get(res, ns if res.namespaced else "", name)


def phase(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else (obj.get("status") or {}).get("phase")


def settled(ctrl: VolumeController, seen: Callable[[VolumeController], Any]) -> bool:
    """The controller has observed `seen` and has nothing queued, running or scheduled: every
    consequence of that observation has been acted on (no sleeping to prove a non-event)."""
    q = ctrl.queue
    return bool(seen(ctrl)) and len(q) == 0 and not q._processing and not q._timers


def reasons(reg: Registry, name: str) -> list[str]:
    return [e["reason"] for e in stored_events(reg) if e["involvedObject"].get("name") == name]


async def bound_pair(client: LocalClient, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    assert PVC is not None and PV is not None
    pvc = await until(lambda: (c := get(client, PVC, name)) and phase(c) == "Bound" and c)
    pv = await until(lambda: (v := get(client, PV, pvc["spec"]["volumeName"]))
                     and phase(v) == "Bound" and v)
    return pvc, pv


def test_immediate_claim_is_provisioned_and_bound(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, root: Path,
                       ctrl: VolumeController) -> None:
        assert PVC is not None
        created = await client.create(PVC, claim("data", "fast"))
        uid = created["metadata"]["uid"]
        pvc, pv = await bound_pair(client, "data")
        assert pvc["spec"]["volumeName"] == pv["metadata"]["name"] == f"pvc-{uid}"
        assert pvc["metadata"]["annotations"] == {
            "pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
            "volume.kubernetes.io/storage-provisioner": "kubeproc.io/local-path",
            "volume.beta.kubernetes.io/storage-provisioner": "kubeproc.io/local-path"}
        assert pvc["status"]["capacity"] == {"storage": "1Gi"}
        assert pvc["status"]["accessModes"] == ["ReadWriteOnce"]
        assert pv["metadata"]["annotations"] == {"pv.kubernetes.io/provisioned-by": "kubeproc.io/local-path"}
        assert pv["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
        path = str(root / "default" / f"data-{uid}")
        assert pv["spec"]["local"] == {"path": path}
        assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"] == [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]
        assert pv["spec"]["claimRef"]["uid"] == uid and pv["spec"]["claimRef"]["name"] == "data"
        assert (pv["spec"]["capacity"], pv["spec"]["storageClassName"],
                pv["spec"]["persistentVolumeReclaimPolicy"]) == ({"storage": "1Gi"}, "fast", "Delete")
        mode = os.stat(path).st_mode
        assert stat.S_ISDIR(mode) and not mode & stat.S_IWOTH
        assert {"ExternalProvisioning", "Provisioning", "ProvisioningSucceeded"} <= set(reasons(reg, "data"))
    run(tmp_path, [storage_class("fast", "Immediate")], scenario)


def test_wait_for_first_consumer_until_selected_node(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, root: Path,
                       ctrl: VolumeController) -> None:
        assert PVC is not None and PV is not None
        await client.create(PVC, claim("data", "local-path"))
        ev = await until(lambda: [e for e in stored_events(reg) if e["reason"] == "WaitForFirstConsumer"])
        assert (ev[0]["type"], ev[0]["message"]) == (
            "Normal", "waiting for first consumer to be created before binding")
        await until(lambda: settled(ctrl, lambda c: reasons(reg, "data")))
        assert phase(get(client, PVC, "data")) == "Pending"
        assert client.list(PV)[0] == []

        def select(obj: dict[str, Any]) -> dict[str, Any]:
            obj["metadata"].setdefault("annotations", {})["volume.kubernetes.io/selected-node"] = "n1"
            return obj
        await client.create(POD, pod_using("web", "data", fsGroup=2000, runAsUser=1000))
        await client.mutate(PVC, "default", "data", select)
        pvc, pv = await bound_pair(client, "data")
        path = pv["spec"]["local"]["path"]
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) & 0o777 == 0o770
        if os.geteuid() == 0:
            assert (st.st_uid, st.st_gid) == (1000, 2000)
    run(tmp_path, [storage_class("local-path", "WaitForFirstConsumer", default=True)], scenario)


@pytest.mark.parametrize("reclaim, pv_left, dir_left", [
    ("Delete", False, False), ("Retain", True, True)], ids=["delete-removes-pv-and-dir",
                                                            "retain-keeps-released-pv-and-dir"])
def test_reclaim_after_claim_deleted(tmp_path: Path, reclaim: str, pv_left: bool,
                                     dir_left: bool) -> None:
    async def scenario(reg: Registry, client: LocalClient, root: Path,
                       ctrl: VolumeController) -> None:
        assert PVC is not None and PV is not None
        await client.create(PVC, claim("data", "c"))
        pvc, pv = await bound_pair(client, "data")
        path = pv["spec"]["local"]["path"]
        assert os.path.isdir(path)
        await client.delete(PVC, "default", "data")
        await until(lambda: get(client, PVC, "data") is None)
        if pv_left:
            got = await until(lambda: (v := get(client, PV, pv["metadata"]["name"]))
                              and phase(v) == "Released" and v)
            assert got["spec"]["claimRef"]["uid"] == pvc["metadata"]["uid"]
            await until(lambda: settled(ctrl, lambda c: phase(c.pvs.get(pv["metadata"]["name"]))
                                        == "Released"))
            assert get(client, PV, pv["metadata"]["name"]) is not None
        else:
            await until(lambda: get(client, PV, pv["metadata"]["name"]) is None)
        assert os.path.isdir(path) == dir_left
    run(tmp_path, [storage_class("c", "Immediate", reclaim)], scenario)


def test_pvc_protection_waits_for_pod(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, root: Path,
                       ctrl: VolumeController) -> None:
        assert PVC is not None and POD is not None
        await client.create(PVC, claim("data", "c"))
        await bound_pair(client, "data")
        await client.create(POD, pod_using("web", "data"))
        await client.delete(PVC, "default", "data")
        terminating = await until(lambda: (c := get(client, PVC, "data"))
                                  and c["metadata"].get("deletionTimestamp") and c)
        assert terminating["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
        await until(lambda: settled(ctrl, lambda c: (c.pvcs.get(("default", "data")) or {})
                                    .get("metadata", {}).get("deletionTimestamp")))
        assert get(client, PVC, "data") is not None
        await client.delete(POD, "default", "web", grace_period_seconds=0)
        await until(lambda: get(client, PVC, "data") is None)
    run(tmp_path, [storage_class("c", "Immediate")], scenario)


def test_default_class_assigned_to_claim_without_one(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, root: Path,
                       ctrl: VolumeController) -> None:
        assert PVC is not None
        await client.create(PVC, claim("data", None))
        pvc, _ = await bound_pair(client, "data")
        assert pvc["spec"]["storageClassName"] == "std"
    run(tmp_path, [storage_class("std", "Immediate", default=True)], scenario)
