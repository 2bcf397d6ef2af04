"""The local-path provisioner's decisions: which claims to provision, the PV to create, whose
directory it is, which released volumes to delete; and the default StorageClass object.

Ports sigs.k8s.io/sig-storage-lib-external-provisioner controller.go (shouldProvision,
provisionClaimOperation, shouldDelete) for the provisioner `kubeproc.io/local-path`. Pure.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubeproc.controllers.volume import binder as b

PROVISIONER = "kubeproc.io/local-path"
CLASS_NAME = "local-path"


def local_path_class() -> dict[str, Any]:
    """The StorageClass bootstrap creates: the default class, WaitForFirstConsumer."""
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": CLASS_NAME,
                         "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": PROVISIONER, "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer"}


def volume_name(claim: Mapping[str, Any]) -> str:
    # controller.go getProvisionedVolumeNameForClaim: "pvc-" + claim UID
    return "pvc-" + ((claim.get("metadata") or {}).get("uid") or "")


def volume_path(root: str, claim: Mapping[str, Any]) -> str:
    """DATA/volumes/<namespace>/<claim name>-<claim uid>."""
    meta = claim.get("metadata") or {}
    return os.path.join(root, meta.get("namespace", ""),
                        f"{meta.get('name', '')}-{meta.get('uid', '')}")


def should_provision(claim: Mapping[str, Any], classes: Mapping[str, Mapping[str, Any]],
                     existing_volumes: Mapping[str, Any], provisioner: str = PROVISIONER) -> bool:
    """controller.go shouldProvision (+ the "volume already exists" check of
    provisionClaimOperation): unbound, handed to us, and for WaitForFirstConsumer with a node."""
    spec = claim.get("spec") or {}
    meta = claim.get("metadata") or {}
    if spec.get("volumeName") or meta.get("deletionTimestamp") or not meta.get("uid"):
        return False
    anns = meta.get("annotations") or {}
    asked = anns.get(b.ANN_STORAGE_PROVISIONER) or anns.get(b.ANN_BETA_STORAGE_PROVISIONER)
    if asked != provisioner:
        return False
    sc = classes.get(b.claim_class(claim))
    if sc is None or sc.get("provisioner") != provisioner:
        return False
    if sc.get("volumeBindingMode") == "WaitForFirstConsumer" and not anns.get(b.ANN_SELECTED_NODE):
        return False
    return volume_name(claim) not in existing_volumes


def target_node(claim: Mapping[str, Any], default_node: str) -> str:
    """The node the volume lives on: the scheduler's choice, else this machine's node."""
    anns = (claim.get("metadata") or {}).get("annotations") or {}
    return anns.get(b.ANN_SELECTED_NODE) or default_node


def provisioned_volume(claim: Mapping[str, Any], sc: Mapping[str, Any], path: str, node: str,
                       provisioner: str = PROVISIONER) -> dict[str, Any]:
    """The PV provisionClaimOperation creates for `claim`: `local` with node affinity when the
    node is known (the agent then applies fsGroup ownership), else a hostPath directory."""
    spec = claim.get("spec") or {}
    pv_spec: dict[str, Any] = {
        "capacity": {"storage": ((spec.get("resources") or {}).get("requests") or {}).get("storage")},
        "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
        "claimRef": b.claim_ref(claim),
        "storageClassName": b.claim_class(claim),
        "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
        "volumeMode": spec.get("volumeMode") or "Filesystem",
    }
    if sc.get("mountOptions"):
        pv_spec["mountOptions"] = list(sc["mountOptions"])
    if node:
        pv_spec["local"] = {"path": path}
        pv_spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": b.HOSTNAME_LABEL, "operator": "In", "values": [node]}]}]}}
    else:
        pv_spec["hostPath"] = {"path": path, "type": "DirectoryOrCreate"}
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": volume_name(claim),
                         "annotations": {b.ANN_DYNAMICALLY_PROVISIONED: provisioner}},
            "spec": pv_spec}


def should_delete(volume: Mapping[str, Any], provisioner: str = PROVISIONER) -> bool:
    # controller.go shouldDelete (no provisioner finalizer: a PV being deleted is left alone)
    meta = volume.get("metadata") or {}
    spec = volume.get("spec") or {}
    return ((volume.get("status") or {}).get("phase") == "Released"
            and spec.get("persistentVolumeReclaimPolicy") == "Delete"
            and (meta.get("annotations") or {}).get(b.ANN_DYNAMICALLY_PROVISIONED) == provisioner
            and not meta.get("deletionTimestamp"))


def volume_dir(volume: Mapping[str, Any]) -> str:
    spec = volume.get("spec") or {}
    return (spec.get("local") or {}).get("path") or (spec.get("hostPath") or {}).get("path") or ""


# ---- the directory's owner -----------------------------------------------------------------

@dataclass(frozen=True)
class Ownership:
    uid: int | None  # None: leave the owner as created (kubeproc's own user)
    gid: int | None
    mode: int


def first_consumer(claim: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]
                   ) -> Mapping[str, Any] | None:
    """The oldest live pod using the claim (the one whose scheduling selected the node)."""
    live = [p for p in b.pods_using(claim, pods)
            if not (p.get("metadata") or {}).get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    live.sort(key=lambda p: ((p.get("metadata") or {}).get("creationTimestamp") or "",
                             (p.get("metadata") or {}).get("name") or ""))
    return live[0] if live else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def ownership(pod: Mapping[str, Any] | None) -> Ownership:
    """Owner runAsUser, group fsGroup (pod level; a container's runAsUser if the pod sets
    none). Group-writable and setgid with an fsGroup, else owner-only: never world-writable."""
    spec = (pod or {}).get("spec") or {}
    psc = spec.get("securityContext") or {}
    uid = _int(psc.get("runAsUser"))
    if uid is None:
        for c in spec.get("containers") or ():
            uid = _int((c.get("securityContext") or {}).get("runAsUser"))
            if uid is not None:
                break
    gid = _int(psc.get("fsGroup"))
    return Ownership(uid, gid, 0o2770 if gid is not None else 0o750)
