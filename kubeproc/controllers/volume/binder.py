"""The PV controller's decisions: bind claims to volumes, track phases, release and reclaim.

Ports pkg/controller/volume/persistentvolume/pv_controller.go (syncClaim, syncUnboundClaim,
syncBoundClaim, syncVolume, bind, unbindVolume, reclaimVolume) and index.go / the
component-helpers FindMatchingVolume. Every function is pure: it returns the writes (whole
objects, copies) and events to make, in order; the reconciler applies them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeproc.api import quantity, selectors

ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
ANN_BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
ANN_DYNAMICALLY_PROVISIONED = "pv.kubernetes.io/provisioned-by"
HOSTNAME_LABEL = "kubernetes.io/hostname"

Obj = dict[str, Any]


@dataclass(frozen=True)
class Write:
    """Update `obj` (a PersistentVolume or PersistentVolumeClaim) as given, optionally only
    its status subresource."""
    obj: Obj
    subresource: str = ""


@dataclass(frozen=True)
class Emit:
    obj: Obj
    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class EnqueueClaim:
    namespace: str
    name: str


@dataclass(frozen=True)
class DeleteProvisioned:
    """The volume's provisioner must delete its storage, then the PV (the external
    provisioner's deleteVolumeOperation)."""
    volume: Obj


Action = Write | Emit | EnqueueClaim | DeleteProvisioned


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _ann(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return _meta(obj).get("annotations") or {}


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def claim_class(claim: Mapping[str, Any]) -> str:
    # storagehelpers.GetPersistentVolumeClaimClass (the beta annotation still wins)
    ann = _ann(claim).get("volume.beta.kubernetes.io/storage-class")
    return ann if ann is not None else (_spec(claim).get("storageClassName") or "")


def volume_class(volume: Mapping[str, Any]) -> str:
    # storagehelpers.GetPersistentVolumeClass
    ann = _ann(volume).get("volume.beta.kubernetes.io/storage-class")
    return ann if ann is not None else (_spec(volume).get("storageClassName") or "")


def is_delay_binding(claim: Mapping[str, Any], classes: Mapping[str, Mapping[str, Any]]) -> bool:
    # storagehelpers.IsDelayBindingMode: an unknown class is not delayed
    sc = classes.get(claim_class(claim))
    return bool(sc) and sc.get("volumeBindingMode") == "WaitForFirstConsumer"


def claim_ref(claim: Mapping[str, Any]) -> Obj:
    # reference.GetReference of the claim, as bindVolumeToClaim stores it
    meta = _meta(claim)
    ref = {"kind": "PersistentVolumeClaim", "namespace": meta.get("namespace", ""),
           "name": meta.get("name", ""), "uid": meta.get("uid", ""), "apiVersion": "v1",
           "resourceVersion": meta.get("resourceVersion", "")}
    return {k: v for k, v in ref.items() if v}


def bound_to_claim(volume: Mapping[str, Any], claim: Mapping[str, Any]) -> bool:
    # storagehelpers.IsVolumeBoundToClaim: a claimRef without uid pre-binds by name
    ref = _spec(volume).get("claimRef")
    if not ref:
        return False
    meta = _meta(claim)
    if ref.get("name") != meta.get("name") or ref.get("namespace") != meta.get("namespace"):
        return False
    return not ref.get("uid") or ref.get("uid") == meta.get("uid")


def storage_of(res: Mapping[str, Any] | None) -> Any:
    value = (res or {}).get("storage")
    return quantity.parse_quantity(value) if quantity.is_quantity(value) else None


def node_affinity_matches(volume: Mapping[str, Any], node_labels: Mapping[str, str]) -> bool:
    # volume/util.CheckNodeAffinity: ORed terms of ANDed expressions
    terms = (((_spec(volume).get("nodeAffinity") or {}).get("required") or {})
             .get("nodeSelectorTerms") or [])
    if not terms:
        return True
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!",
           "Gt": "gt", "Lt": "lt"}
    for term in terms:
        reqs = [selectors.Requirement(e.get("key", ""), ops.get(e.get("operator", ""), "in"),
                                      tuple(e.get("values") or ()))
                for e in term.get("matchExpressions") or []]
        if reqs and all(r.matches(node_labels) for r in reqs):
            return True
    return False


def modes_ok(claim: Mapping[str, Any], volume: Mapping[str, Any]) -> bool:
    # index.go allPossibleMatchingAccessModes: the volume offers every mode the claim asks
    return set(_spec(claim).get("accessModes") or ()) <= set(_spec(volume).get("accessModes") or ())


def find_best_match(claim: Mapping[str, Any], volumes: Iterable[Mapping[str, Any]],
                    delay_binding: bool, node_labels: Mapping[str, str] | None = None
                    ) -> Mapping[str, Any] | None:
    """index.go findByClaim + FindMatchingVolume: a volume pre-bound to the claim wins,
    else the smallest Available volume of the claim's class, modes, selector and size.
    With delayed binding and no node, only pre-bound volumes match (the scheduler decides)."""
    spec = _spec(claim)
    requested = storage_of((spec.get("resources") or {}).get("requests")) or 0
    sel = spec.get("selector")
    selector = selectors.from_label_selector(sel) if sel is not None else None
    best, best_size = None, None
    for volume in volumes:
        if not modes_ok(claim, volume):
            continue
        if _spec(volume).get("claimRef") and not bound_to_claim(volume, claim):
            continue
        size = storage_of(_spec(volume).get("capacity"))
        if size is None or size < requested:
            continue
        if (_spec(volume).get("volumeMode") or "Filesystem") != (spec.get("volumeMode") or "Filesystem"):
            continue
        if _meta(volume).get("deletionTimestamp"):
            continue
        affinity_ok = node_labels is None or node_affinity_matches(volume, node_labels)
        if bound_to_claim(volume, claim):
            return volume if affinity_ok else None
        if node_labels is None and delay_binding:
            continue
        if (volume.get("status") or {}).get("phase") != "Available":
            continue
        if selector is not None and not selector.matches(_meta(volume).get("labels") or {}):
            continue
        if volume_class(volume) != claim_class(claim) or not affinity_ok:
            continue
        if best_size is None or size < best_size:
            best, best_size = volume, size
    return best


def default_class_name(classes: Iterable[Mapping[str, Any]]) -> str | None:
    """storage/util GetDefaultClass: of the classes annotated default, the newest (then the
    first by name)."""
    defaults = [c for c in classes if "true" in (
        _ann(c).get("storageclass.kubernetes.io/is-default-class"),
        _ann(c).get("storageclass.beta.kubernetes.io/is-default-class"))]
    if not defaults:
        return None
    defaults.sort(key=lambda c: _meta(c).get("name", ""))
    defaults.sort(key=lambda c: _meta(c).get("creationTimestamp") or "", reverse=True)
    return _meta(defaults[0]).get("name")


def claim_names(pod: Mapping[str, Any]) -> set[str]:
    """The claims a pod's volumes name (generic ephemeral ones as `<pod>-<volume>`)."""
    name = (pod.get("metadata") or {}).get("name", "")
    out = set()
    for vol in (pod.get("spec") or {}).get("volumes") or ():
        if vol.get("persistentVolumeClaim") is not None:
            out.add(vol["persistentVolumeClaim"].get("claimName") or "")
        elif vol.get("ephemeral") is not None:
            out.add(f"{name}-{vol.get('name', '')}")
    return out


def pods_using(claim: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    meta = claim.get("metadata") or {}
    return [p for p in pods if (p.get("metadata") or {}).get("namespace") == meta.get("namespace")
            and meta.get("name") in claim_names(p)]


# ---- status writes -------------------------------------------------------------------------

def volume_phase(volume: Mapping[str, Any], phase: str, now: str, message: str = "") -> list[Action]:
    # updateVolumePhase: phase (+ lastPhaseTransitionTime when it changes) and message
    status = volume.get("status") or {}
    if status.get("phase") == phase and (status.get("message") or "") == message:
        return []
    new = copy.deepcopy(dict(volume))
    st = new.setdefault("status", {})
    if st.get("phase") != phase:
        st["lastPhaseTransitionTime"] = now
    st["phase"] = phase
    if message:
        st["message"] = message
    else:
        st.pop("message", None)
    return [Write(new, "status")]


def volume_phase_event(volume: Mapping[str, Any], phase: str, now: str, etype: str,
                        reason: str, message: str) -> list[Action]:
    # updateVolumePhaseWithEvent: the event only when the phase changes
    if (volume.get("status") or {}).get("phase") == phase:
        return []
    return volume_phase(volume, phase, now, message) + [Emit(dict(volume), etype, reason, message)]


def claim_status(claim: Mapping[str, Any], phase: str,
                 volume: Mapping[str, Any] | None) -> list[Action]:
    # updateClaimStatus: phase; access modes and capacity follow the bound volume (or go)
    status = claim.get("status") or {}
    want = {k: v for k, v in status.items() if k not in ("phase", "accessModes", "capacity")}
    want["phase"] = phase
    if volume is not None:
        want["accessModes"] = list(_spec(volume).get("accessModes") or [])
        want["capacity"] = dict(_spec(volume).get("capacity") or {})
    if want == status:
        return []
    new = copy.deepcopy(dict(claim))
    new["status"] = want
    return [Write(new, "status")]


def claim_status_event(claim: Mapping[str, Any], phase: str, etype: str, reason: str,
                        message: str) -> list[Action]:
    # updateClaimStatusWithEvent: nothing (no event) when the phase is already set
    if (claim.get("status") or {}).get("phase") == phase:
        return []
    return claim_status(claim, phase, None) + [Emit(dict(claim), etype, reason, message)]


# ---- bind / unbind -------------------------------------------------------------------------

def bind(volume: Mapping[str, Any], claim: Mapping[str, Any], now: str) -> list[Action]:
    """pv_controller.go bind: volume.claimRef, volume Bound, claim.volumeName + annotations,
    claim Bound with the volume's modes and capacity."""
    out: list[Action] = []
    # getBindVolumeToClaim
    new_vol = copy.deepcopy(dict(volume))
    dirty = False
    ref = _spec(volume).get("claimRef") or {}
    meta = _meta(claim)
    if (ref.get("name"), ref.get("namespace"), ref.get("uid")) != (
            meta.get("name"), meta.get("namespace"), meta.get("uid")):
        new_vol.setdefault("spec", {})["claimRef"] = claim_ref(claim)
        dirty = True
    if not bound_to_claim(volume, claim) and ANN_BOUND_BY_CONTROLLER not in _ann(volume):
        new_vol.setdefault("metadata", {}).setdefault("annotations", {})[ANN_BOUND_BY_CONTROLLER] = "yes"
        dirty = True
    if dirty:
        out.append(Write(new_vol))
    out += volume_phase(new_vol, "Bound", now)
    # getBindClaimToVolume
    new_claim = copy.deepcopy(dict(claim))
    dirty = False
    vname = _meta(volume).get("name", "")
    anns = new_claim.setdefault("metadata", {}).setdefault("annotations", {})
    if _spec(claim).get("volumeName") != vname:
        new_claim.setdefault("spec", {})["volumeName"] = vname
        if ANN_BOUND_BY_CONTROLLER not in anns:
            anns[ANN_BOUND_BY_CONTROLLER] = "yes"
        dirty = True
    if ANN_BIND_COMPLETED not in anns:
        anns[ANN_BIND_COMPLETED] = "yes"
        dirty = True
    if dirty:
        out.append(Write(new_claim))
    out += claim_status(new_claim, "Bound", volume)
    return out


def unbind_volume(volume: Mapping[str, Any], now: str) -> list[Action]:
    # pv_controller.go unbindVolume: controller bindings go; a user's pre-binding keeps its name
    new = copy.deepcopy(dict(volume))
    anns = new.get("metadata", {}).get("annotations") or {}
    if ANN_BOUND_BY_CONTROLLER in anns:
        new["spec"].pop("claimRef", None)
        anns.pop(ANN_BOUND_BY_CONTROLLER)
        if not anns:
            new["metadata"].pop("annotations", None)
    else:
        new["spec"]["claimRef"].pop("uid", None)
    return [Write(new)] + volume_phase(new, "Available", now)
