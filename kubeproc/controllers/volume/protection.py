"""The storage-object-in-use protection finalizers: when a PVC or PV may go.

Ports pkg/controller/volume/pvcprotection (processPVC, podUsesPVC, podIsShutDown) and
pkg/controller/volume/pvprotection (processPV, isBeingUsed). Admission adds the finalizers on
create; these controllers add them to objects that lack them and remove them once unused. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from kubeproc.controllers.volume.binder import claim_names

PVC_FINALIZER = "kubernetes.io/pvc-protection"
PV_FINALIZER = "kubernetes.io/pv-protection"

Change = Literal["add", "remove", None]


def _pod_shut_down(pod: Mapping[str, Any]) -> bool:
    # pvc_protection_controller.go podIsShutDown: deleted with a zero grace period
    meta = pod.get("metadata") or {}
    return bool(meta.get("deletionTimestamp")) and meta.get("deletionGracePeriodSeconds") == 0


def pod_uses_claim(pod: Mapping[str, Any], claim: Mapping[str, Any]) -> bool:
    """podUsesPVC: only scheduled pods count (the kubelet refuses to start a pod whose claim is
    being deleted). A generic ephemeral claim stops counting once its pod is shut down, and
    only if the pod owns it."""
    pmeta, cmeta = pod.get("metadata") or {}, claim.get("metadata") or {}
    if pmeta.get("namespace") != cmeta.get("namespace") or not (pod.get("spec") or {}).get("nodeName"):
        return False
    name = cmeta.get("name")
    for vol in (pod.get("spec") or {}).get("volumes") or ():
        pvc = vol.get("persistentVolumeClaim")
        if pvc is not None and pvc.get("claimName") == name:
            return True
        if vol.get("ephemeral") is not None and not _pod_shut_down(pod) \
                and f"{pmeta.get('name')}-{vol.get('name')}" == name \
                and any(r.get("uid") == pmeta.get("uid") and r.get("controller")
                        for r in cmeta.get("ownerReferences") or ()):
            return True
    return False


def claim_in_use(claim: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> bool:
    return any(pod_uses_claim(p, claim) for p in pods
               if (claim.get("metadata") or {}).get("name") in claim_names(p))


def _finalizer_change(obj: Mapping[str, Any], finalizer: str, in_use: bool) -> Change:
    # protectionutil.NeedToAddFinalizer / IsDeletionCandidate
    meta = obj.get("metadata") or {}
    has = finalizer in (meta.get("finalizers") or ())
    if not meta.get("deletionTimestamp"):
        return None if has else "add"
    return "remove" if has and not in_use else None


def claim_finalizer(claim: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> Change:
    """processPVC: add the finalizer to a live claim lacking it; remove it from a deleted claim
    no scheduled pod uses."""
    meta = claim.get("metadata") or {}
    in_use = bool(meta.get("deletionTimestamp")) and claim_in_use(claim, pods)
    return _finalizer_change(claim, PVC_FINALIZER, in_use)


def volume_finalizer(volume: Mapping[str, Any]) -> Change:
    """processPV: a volume is in use while Bound."""
    in_use = (volume.get("status") or {}).get("phase") == "Bound"
    return _finalizer_change(volume, PV_FINALIZER, in_use)


def with_finalizer(obj: dict[str, Any], finalizer: str, change: Change) -> dict[str, Any]:
    """Apply `change` to obj's finalizers in place (for a read-modify-write); returns obj."""
    meta = obj.setdefault("metadata", {})
    current = list(meta.get("finalizers") or [])
    if change == "add" and finalizer not in current:
        current.append(finalizer)
    elif change == "remove":
        current = [f for f in current if f != finalizer]
    if current:
        meta["finalizers"] = current
    else:
        meta.pop("finalizers", None)
    return obj
