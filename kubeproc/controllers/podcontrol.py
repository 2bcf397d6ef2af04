"""Pure helpers shared by the controllers that own pods (ReplicaSet, RC, Deployment, StatefulSet).

Owns the pod predicates (active, ready, available), the deletion ranking of
pkg/controller/controller_utils.go (ActivePodsWithRanks, pod-deletion-cost), the pod built from
a template (GetPodFromTemplate), controllerRef adoption/release decisions
(controller_ref_manager.go ClaimObject) and the creation/deletion expectations
(ControllerExpectations). Nothing here does I/O; `now` is always passed in.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from kubeproc.api.defaults import json_deepcopy

Pod = dict[str, Any]
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
SLOW_START_INITIAL_BATCH_SIZE = 1  # controller_utils.go SlowStartInitialBatchSize
EXPECTATIONS_TIMEOUT = 300.0  # controller_utils.go ExpectationsTimeout (5 minutes)
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}  # podPhaseToOrdinal
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


# ---- time ---------------------------------------------------------------------------
def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (metav1.Time); None when absent or unparsable (the zero time)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def format_time(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- predicates ---------------------------------------------------------------------
def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("status") or {}


def is_pod_active(pod: Mapping[str, Any]) -> bool:
    """controller_utils.go IsPodActive: not Succeeded, not Failed, not being deleted."""
    return (_status(pod).get("phase") not in ("Succeeded", "Failed")
            and not _meta(pod).get("deletionTimestamp"))


def filter_active_pods(pods: Iterable[Pod]) -> list[Pod]:
    """controller_utils.go FilterActivePods."""
    return [p for p in pods if is_pod_active(p)]


def filter_terminating_pods(pods: Iterable[Pod]) -> list[Pod]:
    """controller_utils.go FilterTerminatingPods: being deleted, not yet Succeeded or Failed."""
    return [p for p in pods if _meta(p).get("deletionTimestamp")
            and _status(p).get("phase") not in ("Succeeded", "Failed")]


def ready_condition(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for cond in _status(pod).get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond
    return None


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    """pkg/api/v1/pod IsPodReady: the Ready condition is True."""
    cond = ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def pod_ready_time(pod: Mapping[str, Any]) -> datetime | None:
    """controller_utils.go podReadyTime: when a ready pod became ready (None: zero time)."""
    if not is_pod_ready(pod):
        return None
    return parse_time((ready_condition(pod) or {}).get("lastTransitionTime"))


def is_pod_available(pod: Mapping[str, Any], min_ready_seconds: int, now: datetime) -> bool:
    """pkg/api/v1/pod IsPodAvailable: ready, and for longer than minReadySeconds."""
    cond = ready_condition(pod)
    if cond is None or cond.get("status") != "True":
        return False
    return ready_long_enough(cond, min_ready_seconds, now)


def ready_long_enough(ready: Mapping[str, Any], min_ready_seconds: int, now: datetime) -> bool:
    """IsPodAvailable's second half, given the pod's Ready=True condition: ready for longer
    than minReadySeconds (always, when that is 0)."""
    if not min_ready_seconds:
        return True
    since = parse_time(ready.get("lastTransitionTime"))
    return since is not None and since + timedelta(seconds=min_ready_seconds) < now


def deletion_cost(pod: Mapping[str, Any]) -> int:
    """core/helper GetDeletionCostFromPodAnnotations: an int32; invalid or absent is 0."""
    value = (_meta(pod).get("annotations") or {}).get(POD_DELETION_COST)
    if not isinstance(value, str) or not value:
        return 0
    # validFirstDigit: no "+", no leading zeros
    if not (value[0] == "-" or value == "0" or value[0] in "123456789"):
        return 0
    if not re.fullmatch(r"-?[0-9]+", value):
        return 0
    n = int(value)
    return n if -2 ** 31 <= n < 2 ** 31 else 0


def max_container_restarts(pod: Mapping[str, Any]) -> int:
    """controller_utils.go maxContainerRestarts (regular containers only, as upstream)."""
    return max((int(c.get("restartCount") or 0) for c in _status(pod).get("containerStatuses") or ()
                if isinstance(c, dict)), default=0)


# ---- deletion ranking -----------------------------------------------------------------
def _after_or_zero(t1: datetime | None, t2: datetime | None) -> bool:
    # controller_utils.go afterOrZero: a zero time sorts first, else the later one
    if t1 is None or t2 is None:
        return t1 is None
    return t1 > t2


def _log_rank(t: datetime, now: datetime) -> int:
    d = (now - t) // timedelta(microseconds=1) * 1000  # a Go Duration: nanoseconds
    return int(math.log2(d)) if d > 0 else -1


def _log_less(a: Pod, b: Pod, ta: datetime | None, tb: datetime | None,
              now: datetime | None) -> bool:
    # LogarithmicScaleDown (GA): compare log2 of the ages; ties broken by UID
    if now is None or ta is None or tb is None:
        return _after_or_zero(ta, tb)
    diff = _log_rank(ta, now) - _log_rank(tb, now)
    if diff == 0:
        return str(_meta(a).get("uid", "")) < str(_meta(b).get("uid", ""))
    return diff < 0


def deletion_less(a: Pod, rank_a: int, b: Pod, rank_b: int, now: datetime | None) -> bool:
    """controller_utils.go ActivePodsWithRanks.Less: whether `a` is deleted before `b`."""
    node_a, node_b = (a.get("spec") or {}).get("nodeName") or "", (b.get("spec") or {}).get("nodeName") or ""
    if node_a != node_b and (not node_a or not node_b):  # 1. unassigned < assigned
        return not node_a
    pa = _PHASE_ORDINAL.get(_status(a).get("phase") or "", 0)
    pb = _PHASE_ORDINAL.get(_status(b).get("phase") or "", 0)
    if pa != pb:  # 2. Pending < Unknown < Running
        return pa < pb
    ra, rb = is_pod_ready(a), is_pod_ready(b)
    if ra != rb:  # 3. not ready < ready
        return not ra
    ca, cb = deletion_cost(a), deletion_cost(b)
    if ca != cb:  # 4. lower pod-deletion-cost < higher
        return ca < cb
    if rank_a != rank_b:  # 5. doubled up (more related pods on the node) < not doubled up
        return rank_a > rank_b
    if ra and rb:  # 6. ready for a shorter time < longer
        ta, tb = pod_ready_time(a), pod_ready_time(b)
        if ta != tb:
            return _log_less(a, b, ta, tb, now)
    ma, mb = max_container_restarts(a), max_container_restarts(b)
    if ma != mb:  # 7. more restarts < fewer
        return ma > mb
    ta, tb = parse_time(_meta(a).get("creationTimestamp")), parse_time(_meta(b).get("creationTimestamp"))
    if ta != tb:  # 8. newer < older (zero time first)
        return _log_less(a, b, ta, tb, now)
    return False


def ranks_by_related_pods_on_same_node(pods: Sequence[Pod], related: Iterable[Pod]) -> list[int]:
    """replica_set.go getPodsRankedByRelatedPodsOnSameNode: active related pods per node."""
    on_node: dict[str, int] = {}
    for p in related:
        if is_pod_active(p):
            node = (p.get("spec") or {}).get("nodeName") or ""
            on_node[node] = on_node.get(node, 0) + 1
    return [on_node.get((p.get("spec") or {}).get("nodeName") or "", 0) for p in pods]


def sort_for_deletion(pods: Sequence[Pod], ranks: Sequence[int], now: datetime | None) -> list[Pod]:
    """`pods` in the order they should be deleted (sort.Sort(ActivePodsWithRanks))."""
    pairs = list(zip(pods, ranks))

    def cmp(x: tuple[Pod, int], y: tuple[Pod, int]) -> int:
        if deletion_less(x[0], x[1], y[0], y[1], now):
            return -1
        return 1 if deletion_less(y[0], y[1], x[0], x[1], now) else 0
    return [p for p, _ in sorted(pairs, key=functools.cmp_to_key(cmp))]


def pods_to_delete(pods: Sequence[Pod], related: Iterable[Pod], diff: int,
                   now: datetime | None) -> list[Pod]:
    """replica_set.go getPodsToDelete: the `diff` pods preferred for deletion."""
    if diff < len(pods):
        pods = sort_for_deletion(pods, ranks_by_related_pods_on_same_node(pods, related), now)
    return list(pods[:diff])


def slow_start_batches(count: int, initial: int = SLOW_START_INITIAL_BATCH_SIZE) -> list[int]:
    """replica_set.go slowStartBatch: batch sizes 1, 2, 4, ... summing to `count`."""
    sizes, remaining, size = [], count, min(count, initial)
    while size > 0:
        sizes.append(size)
        remaining -= size
        size = min(2 * size, remaining)
    return sizes


# ---- owner references and templates ----------------------------------------------------
def controller_ref(owner: Mapping[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    """metav1.NewControllerRef: controller and blockOwnerDeletion set."""
    meta = _meta(owner)
    return {"apiVersion": api_version, "kind": kind, "name": meta.get("name", ""),
            "uid": meta.get("uid", ""), "controller": True, "blockOwnerDeletion": True}


def controller_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """metav1.GetControllerOf: the ownerReference with controller: true."""
    for ref in _meta(obj).get("ownerReferences") or ():
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def pod_name_prefix(controller_name: str) -> str:
    """controller_utils.go getPodsPrefix: `<name>-` unless that is no valid pod name prefix."""
    prefix = f"{controller_name}-"
    # ValidatePodName(prefix, true): a DNS subdomain once the suffix is added, ≤ 253 chars
    if len(prefix) + 5 > 253 or not _DNS1123_SUBDOMAIN.fullmatch(prefix + "x"):
        return controller_name
    return prefix


def pod_from_template(template: Mapping[str, Any], owner: Mapping[str, Any],
                      ref: Mapping[str, Any] | None) -> Pod:
    """controller_utils.go GetPodFromTemplate: generateName `<owner>-`, the template's labels,
    annotations, finalizers and spec (deep copies), and the controllerRef."""
    tmeta = template.get("metadata") or {}
    meta: dict[str, Any] = {"generateName": pod_name_prefix(_meta(owner).get("name", "")),
                            "namespace": _meta(owner).get("namespace", "")}
    for key in ("labels", "annotations"):
        if tmeta.get(key):
            meta[key] = dict(tmeta[key])
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    if ref is not None:
        meta["ownerReferences"] = [dict(ref)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": json_deepcopy(template.get("spec") or {})}


@dataclass(frozen=True)
class Claim:
    """controller_ref_manager.go ClaimPods, decided: pods already ours that still match,
    orphans to adopt, and ours to release (they no longer match)."""
    owned: tuple[Pod, ...] = ()
    adopt: tuple[Pod, ...] = ()
    release: tuple[Pod, ...] = ()


def claim_pods(owner: Mapping[str, Any], pods: Iterable[Pod],
               matches: Callable[[Mapping[str, str]], bool]) -> Claim:
    """controller_ref_manager.go ClaimObject for each pod: keep ours that match, release ours
    that do not (never while the owner is being deleted), adopt matching orphans that are not
    being deleted (never while the owner is being deleted); others' pods are ignored."""
    uid = _meta(owner).get("uid")
    owner_deleting = bool(_meta(owner).get("deletionTimestamp"))
    owned, adopt, release = [], [], []
    for pod in pods:
        match = matches(_meta(pod).get("labels") or {})
        ref = controller_of(pod)
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if match:
                owned.append(pod)
            elif not owner_deleting:
                release.append(pod)
            continue
        if owner_deleting or not match or _meta(pod).get("deletionTimestamp"):
            continue
        if _meta(owner).get("namespace") and _meta(owner).get("namespace") != _meta(pod).get("namespace"):
            continue
        adopt.append(pod)
    return Claim(tuple(owned), tuple(adopt), tuple(release))


def adopted(pod: Pod, ref: Mapping[str, Any]) -> Pod:
    """Apply AdoptPod's strategic patch (ownerReferences merged by uid) to a copy of `pod`;
    raises ValueError when the pod has another controller meanwhile (upstream: Invalid)."""
    out = json_deepcopy(pod)
    refs = [r for r in out["metadata"].get("ownerReferences") or () if r.get("uid") != ref["uid"]]
    if any(isinstance(r, dict) and r.get("controller") for r in refs):
        raise ValueError("Only one reference can have Controller set to true")
    out["metadata"]["ownerReferences"] = refs + [dict(ref)]
    return out


def released(pod: Pod, owner_uid: str) -> Pod:
    """Apply ReleasePod's `$patch: delete` of the owner's reference to a copy of `pod`."""
    out = json_deepcopy(pod)
    refs = [r for r in out["metadata"].get("ownerReferences") or () if r.get("uid") != owner_uid]
    if refs:
        out["metadata"]["ownerReferences"] = refs
    else:
        out["metadata"].pop("ownerReferences", None)
    return out


# ---- expectations ---------------------------------------------------------------------
@dataclass
class _Expectation:
    adds: int
    deletes: set[str]
    at: float


@dataclass
class ControllerExpectations:
    """controller_utils.go UIDTrackingControllerExpectations: creations counted, deletions
    tracked by pod key, so a controller does not act again before seeing its own writes.
    `now` is a monotonic clock in seconds."""
    timeout: float = EXPECTATIONS_TIMEOUT
    _by_key: dict[str, _Expectation] = field(default_factory=dict)

    def satisfied(self, key: str, now: float) -> bool:
        """SatisfiedExpectations: nothing pending, never recorded, or expired."""
        exp = self._by_key.get(key)
        if exp is None:
            return True
        return (exp.adds <= 0 and not exp.deletes) or now - exp.at > self.timeout

    def expect_creations(self, key: str, n: int, now: float) -> None:
        self._by_key[key] = _Expectation(n, set(), now)

    def expect_deletions(self, key: str, pod_keys: Iterable[str], now: float) -> None:
        self._by_key[key] = _Expectation(0, set(pod_keys), now)

    def creation_observed(self, key: str) -> None:
        exp = self._by_key.get(key)
        if exp is not None:
            exp.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        exp = self._by_key.get(key)
        if exp is not None:
            exp.deletes.discard(pod_key)

    def delete(self, key: str) -> None:
        self._by_key.pop(key, None)
