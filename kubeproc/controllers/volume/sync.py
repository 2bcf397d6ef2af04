"""syncClaim and syncVolume: the PV controller's per-object decisions, as pure plans.

Ports pkg/controller/volume/persistentvolume/pv_controller.go (syncClaim, syncUnboundClaim,
syncBoundClaim, syncVolume, reclaimVolume, provisionClaim's external branch,
emitEventForUnboundDelayBindingClaim, assignDefaultStorageClass). `now` is RFC 3339.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from kubeproc.controllers.volume import binder as b
from kubeproc.controllers.volume.binder import Action, Emit, EnqueueClaim, Write

NORMAL, WARNING = "Normal", "Warning"


def _wait_event(claim: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> Emit:
    # emitEventForUnboundDelayBindingClaim: name the unscheduled pods waiting for it, if any
    waiting = sorted((p.get("metadata") or {}).get("name", "") for p in b.pods_using(claim, pods)
                     if not (p.get("spec") or {}).get("nodeName")
                     and not (p.get("metadata") or {}).get("deletionTimestamp"))
    if not waiting:
        return Emit(dict(claim), NORMAL, "WaitForFirstConsumer",
                    "waiting for first consumer to be created before binding")
    if len(waiting) == 1:
        return Emit(dict(claim), NORMAL, "WaitForPodScheduled",
                    f"waiting for pod {waiting[0]} to be scheduled")
    return Emit(dict(claim), NORMAL, "WaitForPodScheduled",
                f"waiting for pods {','.join(waiting)} to be scheduled")


def _provision(claim: Mapping[str, Any], classes: Mapping[str, Mapping[str, Any]]) -> list[Action]:
    # provisionClaim -> provisionClaimOperationExternal: hand over to the class's provisioner
    name = b.claim_class(claim)
    sc = classes.get(name)
    if sc is None:
        return [Emit(dict(claim), WARNING, "ProvisioningFailed",
                     f'storageclass.storage.k8s.io "{name}" not found')]
    provisioner = sc.get("provisioner", "")
    out: list[Action] = []
    anns = (claim.get("metadata") or {}).get("annotations") or {}
    if (anns.get(b.ANN_STORAGE_PROVISIONER) != provisioner
            or anns.get(b.ANN_BETA_STORAGE_PROVISIONER) != provisioner):
        new = copy.deepcopy(dict(claim))  # setClaimProvisioner: both annotations
        new_anns = new.setdefault("metadata", {}).setdefault("annotations", {})
        new_anns[b.ANN_STORAGE_PROVISIONER] = provisioner
        new_anns[b.ANN_BETA_STORAGE_PROVISIONER] = provisioner
        out.append(Write(new))
    out.append(Emit(dict(claim), NORMAL, "ExternalProvisioning",
                    f"Waiting for a volume to be created either by the external provisioner "
                    f"'{provisioner}' or manually by the system administrator. If volume creation"
                    f" is delayed, please verify that the provisioner is running and correctly "
                    f"registered."))
    return out


def sync_claim(claim: Mapping[str, Any], volumes: Mapping[str, Mapping[str, Any]],
               classes: Mapping[str, Mapping[str, Any]], pods: Iterable[Mapping[str, Any]],
               now: str, node_labels: Mapping[str, Mapping[str, str]] | None = None
               ) -> list[Action]:
    """syncClaim. `volumes` by name, `classes` by name, `pods` of any namespace; `node_labels`
    by node name (a node not listed has just its hostname label)."""
    if b.ANN_BIND_COMPLETED not in ((claim.get("metadata") or {}).get("annotations") or {}):
        return _sync_unbound(claim, volumes, classes, pods, now, node_labels or {})
    return _sync_bound(claim, volumes, now)


def _sync_unbound(claim: Mapping[str, Any], volumes: Mapping[str, Mapping[str, Any]],
                  classes: Mapping[str, Mapping[str, Any]], pods: Iterable[Mapping[str, Any]],
                  now: str, node_labels: Mapping[str, Mapping[str, str]]) -> list[Action]:
    spec = claim.get("spec") or {}
    anns = (claim.get("metadata") or {}).get("annotations") or {}
    if spec.get("storageClassName") is None and "volume.beta.kubernetes.io/storage-class" not in anns:
        # assignDefaultStorageClass (RetroactiveDefaultStorageClass, GA 1.28)
        default = b.default_class_name(classes.values())
        if default is not None:
            new = copy.deepcopy(dict(claim))
            new.setdefault("spec", {})["storageClassName"] = default
            return [Write(new)]
    vname = spec.get("volumeName") or ""
    if not vname:
        delay = b.is_delay_binding(claim, classes)
        node = anns.get(b.ANN_SELECTED_NODE) or ""
        # Upstream the scheduler's volume binder matches static volumes for a delayed claim;
        # here the selected node lets this controller do it (the binder runs no PreBind).
        labels = ({b.HOSTNAME_LABEL: node, **node_labels.get(node, {})}
                  if delay and node else None)
        volume = b.find_best_match(claim, volumes.values(), delay, labels)
        if volume is not None:
            return b.bind(volume, claim, now)
        out: list[Action]
        if delay and not node:
            out = [_wait_event(claim, pods)]
        elif b.claim_class(claim):
            return _provision(claim, classes)
        else:
            out = [Emit(dict(claim), NORMAL, "FailedBinding",
                        "no persistent volumes available for this claim and no storage class is set")]
        return b.claim_status(claim, "Pending", None) + out
    # the user asked for a particular volume
    volume = volumes.get(vname)
    if volume is None:
        return b.claim_status(claim, "Pending", None)
    if not (volume.get("spec") or {}).get("claimRef") or b.bound_to_claim(volume, claim):
        problem = _satisfies(volume, claim)
        if problem:  # checkVolumeSatisfyClaim failed
            return b.claim_status(claim, "Pending", None) + [Emit(
                dict(claim), WARNING, "VolumeMismatch",
                f'Cannot bind to requested volume "{vname}": {problem}')]
        return b.bind(volume, claim, now)
    if b.ANN_BOUND_BY_CONTROLLER not in anns:
        return b.claim_status(claim, "Pending", None)  # bound elsewhere by the user: wait
    return []  # "THIS SHOULD NEVER HAPPEN" upstream: an error, retried on the next sync


def _satisfies(volume: Mapping[str, Any], claim: Mapping[str, Any]) -> str:
    # pv_controller.go checkVolumeSatisfyClaim
    req = b.storage_of(((claim.get("spec") or {}).get("resources") or {}).get("requests")) or 0
    cap = b.storage_of((volume.get("spec") or {}).get("capacity")) or 0
    if cap < req:
        return "requested PV is too small"
    if b.volume_class(volume) != b.claim_class(claim):
        return "storageClassName does not match"
    vmode = (volume.get("spec") or {}).get("volumeMode") or "Filesystem"
    if vmode != ((claim.get("spec") or {}).get("volumeMode") or "Filesystem"):
        return "incompatible volumeMode"
    if not b.modes_ok(claim, volume):
        return "incompatible accessMode"
    return ""


def _sync_bound(claim: Mapping[str, Any], volumes: Mapping[str, Mapping[str, Any]],
                now: str) -> list[Action]:
    # syncBoundClaim
    vname = (claim.get("spec") or {}).get("volumeName") or ""
    if not vname:
        return b.claim_status_event(claim, "Lost", WARNING, "ClaimLost",
                                     "Bound claim has lost reference to PersistentVolume. "
                                     "Data on the volume is lost!")
    volume = volumes.get(vname)
    if volume is None:
        return b.claim_status_event(claim, "Lost", WARNING, "ClaimLost",
                                     "Bound claim has lost its PersistentVolume. "
                                     "Data on the volume is lost!")
    ref = (volume.get("spec") or {}).get("claimRef")
    if not ref or ref.get("uid") == (claim.get("metadata") or {}).get("uid"):
        return b.bind(volume, claim, now)
    return b.claim_status_event(claim, "Lost", WARNING, "ClaimMisbound",
                                 "Two claims are bound to the same volume, this one is bound "
                                 "incorrectly")


def sync_volume(volume: Mapping[str, Any], claim: Mapping[str, Any] | None, now: str,
                provisioner: str) -> list[Action]:
    """syncVolume. `claim` is the claim the volume's claimRef names (by namespace/name), if
    it exists; `provisioner` is the name of the provisioner running in this process."""
    ref = (volume.get("spec") or {}).get("claimRef")
    if not ref or not ref.get("uid"):
        return b.volume_phase(volume, "Available", now)  # unused, or only pre-bound
    if claim is not None and (claim.get("metadata") or {}).get("uid") != ref.get("uid"):
        claim = None  # the claim was deleted and another made with the same name
    if claim is None:
        out: list[Action] = []
        phase = (volume.get("status") or {}).get("phase")
        if phase not in ("Released", "Failed"):
            out = b.volume_phase(volume, "Released", now)
            volume = out[0].obj if out else volume  # type: ignore[union-attr]
        return out + reclaim(volume, now, provisioner)
    cvname = (claim.get("spec") or {}).get("volumeName") or ""
    if not cvname:
        # the binding is not complete (or was undone): syncClaim finishes it
        meta = claim.get("metadata") or {}
        return [EnqueueClaim(meta.get("namespace", ""), meta.get("name", ""))]
    if cvname == (volume.get("metadata") or {}).get("name"):
        return b.volume_phase(volume, "Bound", now)
    anns = (volume.get("metadata") or {}).get("annotations") or {}
    if (b.ANN_DYNAMICALLY_PROVISIONED in anns
            and (volume.get("spec") or {}).get("persistentVolumeReclaimPolicy") == "Delete"):
        # provisioned for this claim, which got bound elsewhere: not needed any more
        out = []
        if (volume.get("status") or {}).get("phase") not in ("Released", "Failed"):
            out = b.volume_phase(volume, "Released", now)
            volume = out[0].obj if out else volume  # type: ignore[union-attr]
        return out + reclaim(volume, now, provisioner)
    return b.unbind_volume(volume, now)


def reclaim(volume: Mapping[str, Any], now: str, provisioner: str) -> list[Action]:
    """reclaimVolume: Retain keeps the Released volume; Delete goes to the volume's
    provisioner (ours: delete it; another external one: wait); Recycle is gone upstream."""
    policy = (volume.get("spec") or {}).get("persistentVolumeReclaimPolicy") or "Retain"
    name = (volume.get("metadata") or {}).get("name", "")
    if policy == "Retain":
        return []
    if policy == "Recycle":
        return b.volume_phase_event(volume, "Failed", now, WARNING, "VolumeFailedRecycle",
                                     "No recycler plugin found for the volume!")
    if policy != "Delete":
        return b.volume_phase_event(volume, "Failed", now, WARNING, "VolumeUnknownReclaimPolicy",
                                     "Volume has unrecognized PersistentVolumeReclaimPolicy")
    by = ((volume.get("metadata") or {}).get("annotations") or {}).get(b.ANN_DYNAMICALLY_PROVISIONED)
    if by == provisioner:
        return [b.DeleteProvisioned(dict(volume))]
    if by:
        return []  # an external provisioner that is not ours deletes it (or not)
    return b.volume_phase_event(
        volume, "Failed", now, WARNING, "VolumeFailedDelete",
        f'error getting deleter volume plugin for volume "{name}": no deletable volume plugin matched')
