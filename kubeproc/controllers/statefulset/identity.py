"""StatefulSet pod identity, storage and health predicates: pure.

Owns the ordinal arithmetic (`<set>-<ordinal>`, spec.ordinals.start), the identity a pod must
carry (hostname/subdomain, the pod-name / pod-index / revision labels), the per-ordinal claims
built from volumeClaimTemplates and the pod built from a template. Ports
pkg/controller/statefulset/stateful_set_utils.go (Kubernetes 1.36).
"""

from __future__ import annotations

import copy
import re
from datetime import datetime, timedelta
from typing import Any, Mapping

from kubeproc.controllers.podcontrol import (is_pod_available, is_pod_ready, parse_time,
                                           ready_condition)

Obj = dict[str, Any]

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"  # apps.StatefulSetPodNameLabel
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"  # apps.PodIndexLabel (PodIndexLabel GA)
REVISION_LABEL = "controller-revision-hash"  # apps.StatefulSetRevisionLabel

_ORDINAL_RE = re.compile(r"^(.*)-([0-9]+)$")  # statefulPodRegex
_INT32_MAX = 2**31 - 1


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("status") or {}


# ---- ordinals (stateful_set_utils.go getParentNameAndOrdinal .. podInOrdinalRange) ----
def parent_and_ordinal(pod: Mapping[str, Any]) -> tuple[str, int]:
    """(parent set name, ordinal); ("", -1) when the name carries no ordinal."""
    m = _ORDINAL_RE.match(str(meta(pod).get("name") or ""))
    if not m:
        return "", -1
    ordinal = int(m.group(2))
    # ParseInt(..., 10, 32) fails past int32: the parent is kept, the ordinal is -1
    return m.group(1), (ordinal if ordinal <= _INT32_MAX else -1)


def ordinal_of(pod: Mapping[str, Any]) -> int:
    return parent_and_ordinal(pod)[1]


def is_member_of(sts: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    return parent_and_ordinal(pod)[0] == meta(sts).get("name")


def replicas_of(sts: Mapping[str, Any]) -> int:
    value = spec(sts).get("replicas")
    return 1 if value is None else int(value)


def start_ordinal(sts: Mapping[str, Any]) -> int:
    ordinals = spec(sts).get("ordinals")
    return int((ordinals or {}).get("start") or 0) if isinstance(ordinals, dict) else 0


def end_ordinal(sts: Mapping[str, Any]) -> int:
    return start_ordinal(sts) + replicas_of(sts) - 1


def in_ordinal_range(pod: Mapping[str, Any], sts: Mapping[str, Any]) -> bool:
    o = ordinal_of(pod)
    return start_ordinal(sts) <= o <= end_ordinal(sts)


def pod_name(sts: Mapping[str, Any], ordinal: int) -> str:
    return f"{meta(sts).get('name')}-{ordinal}"


def claim_name(sts: Mapping[str, Any], template: Mapping[str, Any], ordinal: int) -> str:
    """getPersistentVolumeClaimName: `<claim>-<set>-<ordinal>`."""
    return f"{meta(template).get('name')}-{meta(sts).get('name')}-{ordinal}"


# ---- pod state (stateful_set_utils.go isRunningAndReady .. isHealthy) ----
def phase(pod: Mapping[str, Any]) -> str:
    return str(status(pod).get("phase") or "")


def is_created(pod: Mapping[str, Any]) -> bool:
    return phase(pod) != ""


def is_pending(pod: Mapping[str, Any]) -> bool:
    return phase(pod) == "Pending"


def is_failed(pod: Mapping[str, Any]) -> bool:
    return phase(pod) == "Failed"


def is_succeeded(pod: Mapping[str, Any]) -> bool:
    return phase(pod) == "Succeeded"


def is_terminating(pod: Mapping[str, Any]) -> bool:
    return bool(meta(pod).get("deletionTimestamp"))


def is_running_and_ready(pod: Mapping[str, Any]) -> bool:
    return phase(pod) == "Running" and is_pod_ready(pod)


def is_running_and_available(pod: Mapping[str, Any], min_ready_seconds: int, now: datetime) -> bool:
    """podutil.IsPodAvailable: Ready for at least minReadySeconds (phase is not checked)."""
    return is_pod_available(pod, min_ready_seconds, now)


def available_at(pod: Mapping[str, Any], min_ready_seconds: int) -> datetime | None:
    """When a Ready pod becomes available (None when not Ready or no transition time)."""
    if not is_pod_ready(pod):
        return None
    since = parse_time((ready_condition(pod) or {}).get("lastTransitionTime"))
    return None if since is None else since + timedelta(seconds=min_ready_seconds)


def is_healthy(pod: Mapping[str, Any]) -> bool:
    return is_running_and_ready(pod) and not is_terminating(pod)


def is_unavailable(pod: Mapping[str, Any], min_ready_seconds: int, now: datetime) -> bool:
    """isUnavailable: not healthy, or not yet available for minReadySeconds."""
    return not is_healthy(pod) or not is_running_and_available(pod, min_ready_seconds, now)


def pod_revision(pod: Mapping[str, Any]) -> str:
    return str((meta(pod).get("labels") or {}).get(REVISION_LABEL) or "")


# ---- identity and storage (identityMatches, storageMatches, updateIdentity, updateStorage) ----
def identity_matches(sts: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    parent, ordinal = parent_and_ordinal(pod)
    name = meta(pod).get("name")
    return (ordinal >= 0 and parent == meta(sts).get("name") and name == pod_name(sts, ordinal)
            and meta(pod).get("namespace") == meta(sts).get("namespace")
            and (meta(pod).get("labels") or {}).get(POD_NAME_LABEL) == name)


def claim_templates(sts: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [t for t in spec(sts).get("volumeClaimTemplates") or [] if isinstance(t, dict)]


def storage_matches(sts: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    ordinal = ordinal_of(pod)
    if ordinal < 0:
        return False
    volumes = {v.get("name"): v for v in spec(pod).get("volumes") or [] if isinstance(v, dict)}
    for t in claim_templates(sts):
        v = volumes.get(meta(t).get("name"))
        pvc = (v or {}).get("persistentVolumeClaim")
        if not isinstance(pvc, dict) or pvc.get("claimName") != claim_name(sts, t, ordinal):
            return False
    return True


def claims_for(sts: Mapping[str, Any], ordinal: int) -> list[tuple[str, Obj]]:
    """getPersistentVolumeClaims: (template name, claim object to create) per template."""
    out: list[tuple[str, Obj]] = []
    match_labels = dict(((spec(sts).get("selector") or {}).get("matchLabels")) or {})
    for t in claim_templates(sts):
        tmeta = dict(copy.deepcopy(meta(t)))
        tmeta["name"] = claim_name(sts, t, ordinal)
        tmeta["namespace"] = meta(sts).get("namespace")
        tmeta["labels"] = {**(tmeta.get("labels") or {}), **match_labels}
        claim: Obj = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": tmeta,
                      "spec": copy.deepcopy(spec(t))}
        out.append((str(meta(t).get("name")), claim))
    return out


def update_storage(sts: Mapping[str, Any], pod: Obj) -> None:
    """updateStorage (mutates pod): claim volumes first, then the pod's other volumes."""
    ordinal = ordinal_of(pod)
    claims = claims_for(sts, ordinal)
    names = {n for n, _ in claims}
    volumes: list[Obj] = [{"name": n, "persistentVolumeClaim": {"claimName": c["metadata"]["name"]}}
                          for n, c in claims]
    pod_spec = pod.setdefault("spec", {})
    volumes += [v for v in pod_spec.get("volumes") or [] if v.get("name") not in names]
    pod_spec["volumes"] = volumes


def update_identity(sts: Mapping[str, Any], pod: Obj) -> None:
    """updateIdentity (mutates pod): name, namespace, pod-name and pod-index labels."""
    ordinal = ordinal_of(pod)
    md = pod.setdefault("metadata", {})
    md["name"] = pod_name(sts, ordinal)
    md["namespace"] = meta(sts).get("namespace")
    labels = md.get("labels")
    if not isinstance(labels, dict):
        labels = md["labels"] = {}
    labels[POD_NAME_LABEL] = md["name"]
    labels[POD_INDEX_LABEL] = str(ordinal)


def controller_ref(sts: Mapping[str, Any]) -> Obj:
    """metav1.NewControllerRef(set, apps/v1 StatefulSet)."""
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": meta(sts).get("name"),
            "uid": meta(sts).get("uid"), "controller": True, "blockOwnerDeletion": True}


def new_pod(sts: Mapping[str, Any], ordinal: int, revision: str) -> Obj:
    """newStatefulSetPod + setPodRevision: controller.GetPodFromTemplate, then initIdentity
    (hostname/subdomain are set only at creation: they are immutable) and updateStorage."""
    template = spec(sts).get("template") or {}
    tmeta = meta(template)
    name = pod_name(sts, ordinal)
    md: Obj = {"name": name, "generateName": f"{meta(sts).get('name')}-",
               "namespace": meta(sts).get("namespace"),
               "labels": dict(tmeta.get("labels") or {}),
               "ownerReferences": [controller_ref(sts)]}
    if tmeta.get("annotations"):
        md["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        md["finalizers"] = list(tmeta["finalizers"])
    pod: Obj = {"apiVersion": "v1", "kind": "Pod", "metadata": md,
                "spec": copy.deepcopy(dict(spec(template)))}
    update_identity(sts, pod)
    pod["spec"]["hostname"] = name
    pod["spec"]["subdomain"] = spec(sts).get("serviceName") or ""
    if not pod["spec"]["subdomain"]:
        del pod["spec"]["subdomain"]
    update_storage(sts, pod)
    md["labels"][REVISION_LABEL] = revision
    return pod
