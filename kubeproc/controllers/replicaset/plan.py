"""ReplicaSet / ReplicationController decisions: pure.

Given the owner, its claimed active pods and `now`: how many pods to create or which to delete
(replica_set.go manageReplicas, capped at burstReplicas), and the status to write
(replica_set_utils.go calculateStatus, updateReplicaSetStatus's no-op check). `Kind` adapts the
ReplicationController, which upstream runs through the same code after converting it to a
ReplicaSet (pkg/controller/replication/conversion.go): only its selector shape and GVK differ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubeproc.api import selectors
from kubeproc.controllers import podcontrol

BURST_REPLICAS = 500  # replicaset.BurstReplicas
FAILURE = "ReplicaFailure"


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    component: str  # the event source / field manager upstream uses
    map_selector: bool  # RC: spec.selector is a plain label map

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def selector(self, obj: Mapping[str, Any]) -> selectors.LabelSelector:
        """metav1.LabelSelectorAsSelector of the spec's selector (an RC's map as matchLabels);
        an invalid selector selects nothing (syncReplicaSet gives up on it)."""
        sel = (obj.get("spec") or {}).get("selector")
        if self.map_selector:
            if not isinstance(sel, dict):
                return selectors.NOTHING
            # conversion.go: an RC's selector map becomes matchLabels
            sel = {"matchLabels": sel}
        if not isinstance(sel, dict):
            return selectors.NOTHING
        try:
            return selectors.from_label_selector(sel)
        except Exception:  # an unknown operator: the object cannot select pods
            return selectors.NOTHING


REPLICA_SET = Kind("apps", "v1", "ReplicaSet", "replicaset-controller", False)
REPLICATION_CONTROLLER = Kind("", "v1", "ReplicationController", "replication-controller", True)


def desired_replicas(obj: Mapping[str, Any]) -> int:
    """spec.replicas (defaulted to 1 by the API server; a missing value counts as 1)."""
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


@dataclass(frozen=True)
class Manage:
    """What manageReplicas does this pass: create `create` pods, or delete `delete`."""
    create: int = 0
    delete: tuple[dict[str, Any], ...] = ()


def manage(obj: Mapping[str, Any], pods: Sequence[dict[str, Any]],
           related: Sequence[dict[str, Any]], now: datetime,
           burst: int = BURST_REPLICAS) -> Manage:
    """replica_set.go manageReplicas: the difference to spec.replicas, at most `burst` at once;
    surplus pods chosen by getPodsToDelete (ranked against `related`: the pods of every
    ReplicaSet with the same controller, for the doubled-up rule)."""
    diff = len(pods) - desired_replicas(obj)
    if diff < 0:
        return Manage(create=min(-diff, burst))
    if diff > 0:
        return Manage(delete=tuple(podcontrol.pods_to_delete(pods, related, min(diff, burst), now)))
    return Manage()


def _condition(reason: str, message: str, now: datetime) -> dict[str, Any]:
    # replica_set_utils.go NewReplicaSetCondition
    return {"type": FAILURE, "status": "True", "lastTransitionTime": podcontrol.format_time(now),
            "reason": reason, "message": message}


def _true_ready_condition(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    cond = podcontrol.ready_condition(pod)
    return cond if cond is not None and cond.get("status") == "True" else None


def calculate_status(obj: Mapping[str, Any], pods: Sequence[dict[str, Any]],
                     manage_error: str | None, now: datetime,
                     terminating: int | None = None,
                     ready_conditions: Sequence[Mapping[str, Any] | None] | None = None
                     ) -> dict[str, Any]:
    """replica_set_utils.go calculateStatus: counts over the claimed active pods, and the
    ReplicaFailure condition set on a create/delete error and removed after a clean pass.
    `terminating` (ReplicaSets; None for ReplicationControllers, which have no such field) is
    the count of its pods being deleted (DeploymentReplicaSetTerminatingReplicas, beta and on
    since 1.35: written even when 0). observedGeneration is left as it was (`status_update`).
    `ready_conditions`, if given, holds each pod's Ready condition when it is True, else None (a caller's
    memo of what is otherwise read from the pods)."""
    spec = obj.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    fully = ready = available = 0
    wanted = tuple(template_labels.items())
    conds = ready_conditions if ready_conditions is not None else \
        [_true_ready_condition(p) for p in pods]
    for pod, cond in zip(pods, conds):
        labels = (pod.get("metadata") or {}).get("labels") or {}
        for k, v in wanted:
            if labels.get(k) != v:
                break
        else:
            fully += 1
        if cond is not None:  # IsPodReady, then IsPodAvailable on the same condition
            ready += 1
            if podcontrol.ready_long_enough(cond, min_ready, now):
                available += 1
    status = dict(obj.get("status") or {})
    conditions = [c for c in status.get("conditions") or () if isinstance(c, dict)]
    has_failure = any(c.get("type") == FAILURE for c in conditions)
    if manage_error is not None and not has_failure:
        diff = len(pods) - desired_replicas(obj)
        reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
        conditions.append(_condition(reason, manage_error, now))
    elif manage_error is None and has_failure:
        conditions = [c for c in conditions if c.get("type") != FAILURE]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
    status["replicas"] = len(pods)
    if terminating is not None:
        status["terminatingReplicas"] = terminating
    # omitempty int32 fields: a zero count is absent on the wire, as upstream writes it
    for key, value in (("fullyLabeledReplicas", fully), ("readyReplicas", ready),
                       ("availableReplicas", available)):
        if value:
            status[key] = value
        else:
            status.pop(key, None)
    return status


def _count(status: Mapping[str, Any], key: str) -> int:
    return int(status.get(key) or 0)


def status_update(obj: Mapping[str, Any], new_status: Mapping[str, Any]) -> dict[str, Any] | None:
    """replica_set_utils.go updateReplicaSetStatus: None in the steady state (same counts and
    conditions, generation observed), else the status to write with observedGeneration."""
    old = obj.get("status") or {}
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    if (all(_count(old, k) == _count(new_status, k) for k in
            ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas"))
            and old.get("terminatingReplicas") == new_status.get("terminatingReplicas")
            and generation == _count(old, "observedGeneration")
            and (old.get("conditions") or None) == (new_status.get("conditions") or None)):
        return None
    out = dict(new_status)
    if generation:
        out["observedGeneration"] = generation
    return out


def min_ready_requeue(obj: Mapping[str, Any]) -> float | None:
    """syncReplicaSet: all ready but not all available yet: look again after minReadySeconds."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    want = desired_replicas(obj)
    if min_ready > 0 and _count(status, "readyReplicas") == want \
            and _count(status, "availableReplicas") != want:
        return float(min_ready)
    return None
