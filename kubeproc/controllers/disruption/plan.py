"""The PodDisruptionBudget controller's pure rules: expected pods, healthy pods, the new status.

Ports pkg/controller/disruption/disruption.go (getExpectedPodCount, getExpectedScale and the
controller finders, countHealthyPods, buildDisruptedPodMap, updatePdbStatus, failSafe) and
k8s.io/component-helpers/apps/poddisruptionbudget (the DisruptionAllowed condition). The
caller supplies the pods the PDB selects and a lookup of workload objects; nothing here does I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kubeproc.controllers import podcontrol

Obj = Mapping[str, Any]
# (group, kind, namespace, name) -> the stored object or None
Lookup = Callable[[str, str, str, str], Obj | None]
# (group, kind) -> ("plural.group", served with a scale subresource), None when not served
ScaleKinds = Callable[[str, str], tuple[str, bool] | None]

DELETION_TIMEOUT = timedelta(minutes=2)  # disruption.go DeletionTimeout
CONDITION = "DisruptionAllowed"


class SyncError(Exception):
    """A failure trySync reports through failSafe (its text becomes the condition message)."""


@dataclass
class Result:
    status: dict[str, Any]            # the status to write (compare with the stored one)
    changed: bool                     # whether the stored status differs (write only then)
    recheck_after: float | None = None  # seconds until a disruptedPods entry expires
    events: list[tuple[Obj, str, str, str]] = field(default_factory=list)  # obj, type, reason, msg


# ---- intstr ----------------------------------------------------------------------------
def scaled_value(value: Any, total: int, round_up: bool = True) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is, "N%" of total (rounded up/down)."""
    if isinstance(value, bool) or value is None:
        raise SyncError("nil value for IntOrString" if value is None else
                        "invalid value for IntOrString: invalid type: neither int nor percentage")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise SyncError("invalid value for IntOrString: invalid type: neither int nor percentage")
    if not value.endswith("%"):
        raise SyncError("invalid value for IntOrString: invalid type: string is not a percentage")
    digits = value[:-1]
    try:
        pct = int(digits, 10)
        if digits.strip() != digits or "_" in digits:
            raise ValueError
    except ValueError:
        raise SyncError(f'invalid value for IntOrString: invalid value "{value}": strconv.Atoi: '
                        f'parsing "{digits}": invalid syntax') from None
    num = pct * total
    return -(-num // 100) if round_up else num // 100  # exact ceil/floor of pct*total/100


# ---- controller finders (disruption.go finders()) ------------------------------------
def _group_of(api_version: str) -> str:
    """schema.ParseGroupVersion's group; more than one "/" is an error upstream."""
    if api_version.count("/") > 1:
        raise SyncError(f"unexpected GroupVersion string: {api_version}")
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def _verify(ref: Obj, kind: str, groups: tuple[str, ...]) -> bool:
    # verifyGroupKind
    return _group_of(ref.get("apiVersion", "")) in groups and ref.get("kind") == kind


def _replicas(obj: Obj) -> int:
    value = (obj.get("spec") or {}).get("replicas", 1)  # defaulted to 1 when stored
    return int(value) if isinstance(value, int) else 1


def _same(obj: Obj | None, ref: Obj) -> bool:
    return obj is not None and (obj.get("metadata") or {}).get("uid") == ref.get("uid")


def _find_scale(ref: Obj, ns: str, lookup: Lookup, kinds: ScaleKinds) -> tuple[str, int] | None:
    """The first finder that knows the pod's controller: (uid, replicas), or None."""
    name = ref.get("name", "")
    # getPodReplicationController
    if _verify(ref, "ReplicationController", ("",)):
        rc = lookup("", "ReplicationController", ns, name)
        if _same(rc, ref):
            return ref["uid"], _replicas(rc or {})
    rs_kind = _verify(ref, "ReplicaSet", ("apps", "extensions"))
    rs = lookup("apps", "ReplicaSet", ns, name) if rs_kind else None
    rs_owner = podcontrol.controller_of(rs) if rs is not None and _same(rs, ref) else None
    # getPodDeployment: a ReplicaSet counts as its Deployment's scale
    if rs_owner is not None and _verify(rs_owner, "Deployment", ("apps", "extensions")):
        dep = lookup("apps", "Deployment", ns, rs_owner.get("name", ""))
        if _same(dep, rs_owner):
            return rs_owner["uid"], _replicas(dep or {})
    # getPodReplicaSet: only a ReplicaSet no Deployment controls (by kind, as upstream)
    if rs is not None and _same(rs, ref) and (rs_owner or {}).get("kind") != "Deployment":
        return ref["uid"], _replicas(rs)
    # getPodStatefulSet
    if _verify(ref, "StatefulSet", ("apps",)):
        ss = lookup("apps", "StatefulSet", ns, name)
        if _same(ss, ref):
            return ref["uid"], _replicas(ss or {})
    return _scale_controller(ref, ns, lookup, kinds)


def _scale_controller(ref: Obj, ns: str, lookup: Lookup, kinds: ScaleKinds) -> tuple[str, int] | None:
    """getScaleController: any kind served with a scale subresource (spec.replicas)."""
    api_version, kind = ref.get("apiVersion", ""), ref.get("kind", "")
    group = _group_of(api_version)
    served = kinds(group, kind)
    if served is None:  # meta.NoKindMatchError from the RESTMapper
        raise SyncError(f'no matches for kind "{kind}" in version "{api_version}"')
    group_resource, has_scale = served
    if not has_scale:  # the scale GET is a 404 and implementsScale says false
        raise SyncError(f"{group_resource} does not implement the scale subresource")
    obj = lookup(group, kind, ns, ref.get("name", ""))
    if obj is None or not _same(obj, ref):
        return None
    return ref["uid"], _replicas(obj)


def expected_scale(pods: Sequence[Obj], lookup: Lookup, kinds: ScaleKinds) -> tuple[int, list[str]]:
    """getExpectedScale: the summed scale of the pods' controllers, and the unmanaged pods."""
    scales: dict[str, int] = {}
    unmanaged: list[str] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        ref = podcontrol.controller_of(pod)
        if ref is None:
            unmanaged.append(meta.get("name", ""))
            continue
        if ref.get("uid") in scales:
            continue
        found = _find_scale(ref, meta.get("namespace", ""), lookup, kinds)
        if found is None:
            raise SyncError(f'found no controllers for pod "{meta.get("name", "")}"')
        scales[found[0]] = found[1]
    return sum(scales.values()), unmanaged


def expected_pod_count(pdb: Obj, pods: Sequence[Obj], lookup: Lookup,
                       kinds: ScaleKinds) -> tuple[int, int, list[str]]:
    """getExpectedPodCount: (expectedCount, desiredHealthy, unmanaged pod names)."""
    spec = pdb.get("spec") or {}
    if spec.get("maxUnavailable") is not None:
        expected, unmanaged = expected_scale(pods, lookup, kinds)
        desired = max(0, expected - scaled_value(spec["maxUnavailable"], expected, True))
        return expected, desired, unmanaged
    min_available = spec.get("minAvailable")
    if isinstance(min_available, int) and not isinstance(min_available, bool):
        return len(pods), min_available, []  # an integer counts the pods that exist
    if isinstance(min_available, str):
        expected, unmanaged = expected_scale(pods, lookup, kinds)
        return expected, scaled_value(min_available, expected, True), unmanaged
    return 0, 0, []


# ---- health and disrupted pods -------------------------------------------------------
def disrupted_pod_map(pods: Sequence[Obj], pdb: Obj, now: datetime
                      ) -> tuple[dict[str, str], datetime | None, list[str]]:
    """buildDisruptedPodMap: the entries still awaiting deletion, the earliest expiry, and the
    pods whose entry expired without their deletion (a NotDeleted event each)."""
    old = (pdb.get("status") or {}).get("disruptedPods") or {}
    kept: dict[str, str] = {}
    recheck: datetime | None = None
    expired: list[str] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        name = meta.get("name", "")
        if meta.get("deletionTimestamp") or name not in old:
            continue
        when = podcontrol.parse_time(old[name])
        expected = (when or datetime.min.replace(tzinfo=now.tzinfo)) + DELETION_TIMEOUT
        if expected < now:
            expired.append(name)
            continue
        if recheck is None or expected < recheck:
            recheck = expected
        kept[name] = old[name]
    return kept, recheck, expired


def count_healthy(pods: Sequence[Obj], disrupted: Mapping[str, str], now: datetime) -> int:
    """countHealthyPods: Ready, not terminating, not recently evicted."""
    healthy = 0
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        when = podcontrol.parse_time(disrupted.get(meta.get("name", "")))
        if when is not None and when + DELETION_TIMEOUT > now:
            continue
        if podcontrol.is_pod_ready(pod):
            healthy += 1
    return healthy


# ---- conditions ----------------------------------------------------------------------
def set_condition(conditions: list[dict[str, Any]], cond: dict[str, Any], now: str) -> None:
    """apimeta.SetStatusCondition: the transition time moves only when the status changes."""
    for existing in conditions:
        if existing.get("type") != cond["type"]:
            continue
        if existing.get("status") != cond["status"]:
            existing["status"] = cond["status"]
            existing["lastTransitionTime"] = now
        existing["reason"] = cond["reason"]
        existing["message"] = cond["message"]
        if cond.get("observedGeneration"):
            existing["observedGeneration"] = cond["observedGeneration"]
        else:
            existing.pop("observedGeneration", None)
        return
    new = {"type": cond["type"], "status": cond["status"], "lastTransitionTime": now,
           "reason": cond["reason"], "message": cond["message"]}
    if cond.get("observedGeneration"):
        new["observedGeneration"] = cond["observedGeneration"]
    conditions.append(new)


def _allowed_condition(status: Mapping[str, Any]) -> dict[str, Any]:
    # poddisruptionbudget.UpdateDisruptionAllowedCondition
    ok = int(status.get("disruptionsAllowed") or 0) > 0
    return {"type": CONDITION, "status": "True" if ok else "False",
            "reason": "SufficientPods" if ok else "InsufficientPods", "message": "",
            "observedGeneration": status.get("observedGeneration") or 0}


def conditions_up_to_date(pdb: Obj) -> bool:
    """poddisruptionbudget.ConditionsAreUpToDate."""
    status = pdb.get("status") or {}
    cond = next((c for c in status.get("conditions") or () if c.get("type") == CONDITION), None)
    if cond is None or status.get("observedGeneration", 0) != (pdb.get("metadata") or {}).get("generation", 0):
        return False
    want = _allowed_condition(status)
    return cond.get("status") == want["status"] and cond.get("reason") == want["reason"]


# ---- the sync ------------------------------------------------------------------------
def _fmt(now: datetime) -> str:
    return podcontrol.format_time(now)


def go_label_selector(sel: Obj | None) -> str:
    """%v of a *metav1.LabelSelector (its generated String method), as event messages show it."""
    if sel is None:
        return "nil"
    labels = "".join(f"{k}: {v}," for k, v in sorted((sel.get("matchLabels") or {}).items()))
    exprs = "".join(f"LabelSelectorRequirement{{Key:{e.get('key', '')},Operator:{e.get('operator', '')},"
                    f"Values:[{' '.join(e.get('values') or ())}],}},"
                    for e in sel.get("matchExpressions") or ())
    return (f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
            f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}")


def sync(pdb: Obj, pods: Sequence[Obj], lookup: Lookup, kinds: ScaleKinds, now: datetime) -> Result:
    """trySync (+ failSafe on error): the PDB's new status, whether to write it, the events."""
    events: list[tuple[Obj, str, str, str]] = []
    spec = pdb.get("spec") or {}
    if not pods:
        events.append((pdb, "Normal", "NoPods", "No matching pods found"))
    try:
        expected, desired, unmanaged = expected_pod_count(pdb, pods, lookup, kinds)
    except SyncError as exc:
        events.append((pdb, "Warning", "CalculateExpectedPodCountFailed",
                       f"Failed to calculate the number of expected pods: {exc}"))
        return _fail_safe(pdb, str(exc), now, events)
    if unmanaged:
        events.append((pdb, "Warning", "UnmanagedPods",
                       f"Pods selected by this PodDisruptionBudget (selector: "
                       f"{go_label_selector(spec.get('selector'))}) were found to be unmanaged. "
                       "As a result, the status of the PDB cannot be calculated correctly, which "
                       "may result in undefined behavior. To account for these pods please set "
                       "\".spec.minAvailable\" field of the PDB to an integer value."))
    disrupted, recheck, expired = disrupted_pod_map(pods, pdb, now)
    meta = pdb.get("metadata") or {}
    by_name = {(p.get("metadata") or {}).get("name"): p for p in pods}
    for name in expired:
        # upstream formats the PDB as namespace/namespace (sic)
        events.append((by_name[name], "Warning", "NotDeleted",
                       f"Pod was expected by PDB {meta.get('namespace', '')}/"
                       f"{meta.get('namespace', '')} to be deleted but it wasn't"))
    healthy = count_healthy(pods, disrupted, now)
    result = _status(pdb, healthy, desired, expected, disrupted, now)
    result.events = events
    if recheck is not None:
        result.recheck_after = max(0.0, (recheck - now).total_seconds())
    return result


def _status(pdb: Obj, healthy: int, desired: int, expected: int, disrupted: dict[str, str],
            now: datetime) -> Result:
    """updatePdbStatus: disruptionsAllowed needs expected pods (a PDB matching nothing is safe)."""
    old = pdb.get("status") or {}
    generation = (pdb.get("metadata") or {}).get("generation", 0)
    allowed = healthy - desired
    if expected <= 0 or allowed <= 0:
        allowed = 0
    if (old.get("currentHealthy", 0) == healthy and old.get("desiredHealthy", 0) == desired
            and old.get("expectedPods", 0) == expected
            and old.get("disruptionsAllowed", 0) == allowed
            and (old.get("disruptedPods") or {}) == disrupted
            and old.get("observedGeneration", 0) == generation and conditions_up_to_date(pdb)):
        return Result(copy.deepcopy(dict(old)), False)
    status: dict[str, Any] = {"currentHealthy": healthy, "desiredHealthy": desired,
                              "expectedPods": expected, "disruptionsAllowed": allowed,
                              "observedGeneration": generation,
                              "conditions": copy.deepcopy(old.get("conditions") or [])}
    if disrupted:
        status["disruptedPods"] = dict(disrupted)
    set_condition(status["conditions"], _allowed_condition(status), _fmt(now))
    return Result(status, True)


def _fail_safe(pdb: Obj, message: str, now: datetime,
               events: list[tuple[Obj, str, str, str]]) -> Result:
    """failSafe: no disruptions allowed, DisruptionAllowed=False/SyncFailed with the error."""
    old = pdb.get("status") or {}
    status = copy.deepcopy(dict(old))
    status["disruptionsAllowed"] = 0
    conditions = status.setdefault("conditions", [])
    set_condition(conditions, {"type": CONDITION, "status": "False", "reason": "SyncFailed",
                               "message": message,
                               "observedGeneration": old.get("observedGeneration") or 0}, _fmt(now))
    return Result(status, status != old, None, events)
