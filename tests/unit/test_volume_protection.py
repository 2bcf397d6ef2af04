"""pvc-protection and pv-protection decisions (kubeproc.controllers.volume.protection) against
pvc_protection_controller.go (processPVC, podUsesPVC, podIsShutDown) and
pv_protection_controller.go (processPV, isBeingUsed).
"""

from __future__ import annotations

from typing import Any

import pytest

from kubeproc.controllers.volume import protection as p

DELETED = "2026-01-01T00:00:00Z"


def claim(deleting: bool = True, finalizers: tuple[str, ...] = (p.PVC_FINALIZER,),
          name: str = "data", owner_uid: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "finalizers": list(finalizers)}
    if deleting:
        meta["deletionTimestamp"] = DELETED
    if owner_uid:
        meta["ownerReferences"] = [{"uid": owner_uid, "controller": True, "kind": "Pod", "name": "web"}]
    return {"metadata": meta}


def pod(node: str = "n1", ns: str = "ns", phase: str = "Running", ephemeral: bool = False,
        shut_down: bool = False) -> dict[str, Any]:
    vol: dict[str, Any] = ({"name": "scratch", "ephemeral": {"volumeClaimTemplate": {}}} if ephemeral
                           else {"name": "v", "persistentVolumeClaim": {"claimName": "data"}})
    meta: dict[str, Any] = {"name": "web", "namespace": ns, "uid": "pod-uid"}
    if shut_down:
        meta.update(deletionTimestamp=DELETED, deletionGracePeriodSeconds=0)
    return {"metadata": meta, "spec": {"nodeName": node, "volumes": [vol]}, "status": {"phase": phase}}


@pytest.mark.parametrize("c, pods, want", [
    (claim(), [], "remove"),
    (claim(), [pod()], None),
    (claim(), [pod(node="")], "remove"),
    (claim(), [pod(ns="other")], "remove"),
    (claim(), [pod(phase="Succeeded")], None),
    (claim(), [pod(shut_down=True)], None),
    (claim(name="web-scratch", owner_uid="pod-uid"), [pod(ephemeral=True)], None),
    (claim(name="web-scratch", owner_uid="pod-uid"), [pod(ephemeral=True, shut_down=True)], "remove"),
    (claim(name="web-scratch", owner_uid="someone"), [pod(ephemeral=True)], "remove"),
    (claim(deleting=False, finalizers=()), [], "add"),
    (claim(deleting=False), [], None),
    (claim(finalizers=()), [], None),
], ids=["unused-released", "scheduled-pod-holds", "unscheduled-pod-does-not-hold",
        "other-namespace", "completed-pod-still-holds-as-upstream", "shut-down-pod-still-holds-named-claim",
        "ephemeral-owner-holds", "ephemeral-released-when-pod-shut-down", "ephemeral-not-owned",
        "live-claim-gets-finalizer", "live-claim-has-finalizer", "deleted-without-finalizer"])
def test_claim_finalizer(c: dict[str, Any], pods: list[dict[str, Any]], want: p.Change) -> None:
    assert p.claim_finalizer(c, pods) == want


def _pv(phase: str, deleting: bool = True, finalizers: tuple[str, ...] = (p.PV_FINALIZER,)) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "v", "finalizers": list(finalizers)}
    if deleting:
        meta["deletionTimestamp"] = DELETED
    return {"metadata": meta, "status": {"phase": phase}}


@pytest.mark.parametrize("pv, want", [
    (_pv("Bound"), None), (_pv("Released"), "remove"), (_pv("Available"), "remove"),
    (_pv("Available", deleting=False, finalizers=()), "add"), (_pv("Bound", deleting=False), None)],
    ids=["bound-holds", "released-goes", "available-goes", "live-gets-finalizer", "live-kept"])
def test_volume_finalizer(pv: dict[str, Any], want: p.Change) -> None:
    assert p.volume_finalizer(pv) == want


@pytest.mark.parametrize("before, change, after", [
    (["a", p.PVC_FINALIZER], "remove", ["a"]),
    ([p.PVC_FINALIZER], "remove", None),
    (["a"], "add", ["a", p.PVC_FINALIZER]),
    ([p.PVC_FINALIZER], "add", [p.PVC_FINALIZER]),
], ids=["remove-keeps-others", "remove-last-drops-field", "add-appends", "add-idempotent"])
def test_with_finalizer(before: list[str], change: p.Change, after: list[str] | None) -> None:
    obj = {"metadata": {"finalizers": list(before)}}
    assert p.with_finalizer(obj, p.PVC_FINALIZER, change)["metadata"].get("finalizers") == after
