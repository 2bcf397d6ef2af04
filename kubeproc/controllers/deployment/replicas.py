"""Deployment arithmetic and bookkeeping: pure helpers of pkg/controller/deployment/util.

Owns the annotation names and rules (revision, revision-history, desired/max replicas), the
maxSurge/maxUnavailable resolution (ResolveFenceposts with intstr rounding), replica counts over
ReplicaSets, the sort orders (by creation, by size, by revision), finding the new and old
ReplicaSets (EqualIgnoreHash), proportional-scaling fractions and the deployment conditions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from kubeproc.api.defaults import json_deepcopy
from kubeproc.controllers import podcontrol

Obj = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
HASH_LABEL = "pod-template-hash"  # apps.DefaultDeploymentUniqueLabelKey
MAX_REV_HISTORY_CHARS = 2000  # deployment_controller.go maxRevHistoryLengthInChars
MAX_INT32 = 2 ** 31 - 1
# deployment_util.go annotationsToSkip: never copied between a Deployment and its ReplicaSets
SKIP_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration", REVISION,
                              REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO})


# ---- accessors ----------------------------------------------------------------------------
def spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def status_int(obj: Mapping[str, Any] | None, key: str) -> int:
    return int(((obj or {}).get("status") or {}).get(key) or 0)


def replicas(obj: Mapping[str, Any] | None) -> int:
    """spec.replicas (the API server defaults it to 1)."""
    if obj is None:
        return 0
    value = spec(obj).get("replicas")
    return 1 if value is None else int(value)


def annotations(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def uid(obj: Mapping[str, Any] | None) -> str:
    return ((obj or {}).get("metadata") or {}).get("uid", "")


def name(obj: Mapping[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def is_rolling(d: Mapping[str, Any]) -> bool:
    return ((spec(d).get("strategy") or {}).get("type") or "RollingUpdate") == "RollingUpdate"


def has_progress_deadline(d: Mapping[str, Any]) -> bool:
    """deployment_util.go HasProgressDeadline."""
    value = spec(d).get("progressDeadlineSeconds")
    return value is not None and int(value) != MAX_INT32


def has_revision_history_limit(d: Mapping[str, Any]) -> bool:
    value = spec(d).get("revisionHistoryLimit")
    return value is not None and int(value) != MAX_INT32


# ---- maxSurge / maxUnavailable ----------------------------------------------------------------
def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is, "N%" of total rounded up or down."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%") or not text[:-1].lstrip("-").isdigit():
        raise ValueError("invalid value for IntOrString: invalid type: string is not a percentage")
    scaled = int(text[:-1]) * total / 100  # float64 arithmetic, as upstream
    return int(math.ceil(scaled) if round_up else math.floor(scaled))


def _rolling_params(d: Mapping[str, Any]) -> tuple[Any, Any]:
    ru = (spec(d).get("strategy") or {}).get("rollingUpdate") or {}
    return ru.get("maxSurge"), ru.get("maxUnavailable")


def resolve_fenceposts(max_surge: Any, max_unavailable: Any, desired: int) -> tuple[int, int]:
    """deployment_util.go ResolveFenceposts: surge rounds up, unavailable down; both 0 → 1."""
    surge = scaled_value(max_surge if max_surge is not None else 0, desired, True)
    unavailable = scaled_value(max_unavailable if max_unavailable is not None else 0, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Mapping[str, Any]) -> int:
    """deployment_util.go MaxSurge (0 unless RollingUpdate)."""
    if not is_rolling(d):
        return 0
    return resolve_fenceposts(*_rolling_params(d), replicas(d))[0]


def max_unavailable(d: Mapping[str, Any]) -> int:
    """deployment_util.go MaxUnavailable: at most spec.replicas (0 unless RollingUpdate)."""
    if not is_rolling(d) or replicas(d) == 0:
        return 0
    return min(resolve_fenceposts(*_rolling_params(d), replicas(d))[1], replicas(d))


# ---- counts -------------------------------------------------------------------------------------
def _present(rss: Iterable[Obj | None]) -> list[Obj]:
    return [rs for rs in rss if rs is not None]


def spec_count(rss: Iterable[Obj | None]) -> int:
    """GetReplicaCountForReplicaSets."""
    return sum(replicas(rs) for rs in _present(rss))


def actual_count(rss: Iterable[Obj | None]) -> int:
    """GetActualReplicaCountForReplicaSets."""
    return sum(status_int(rs, "replicas") for rs in _present(rss))


def ready_count(rss: Iterable[Obj | None]) -> int:
    return sum(status_int(rs, "readyReplicas") for rs in _present(rss))


def available_count(rss: Iterable[Obj | None]) -> int:
    return sum(status_int(rs, "availableReplicas") for rs in _present(rss))


def active(rss: Iterable[Obj | None]) -> list[Obj]:
    """controller.FilterActiveReplicaSets: present and spec.replicas > 0."""
    return [rs for rs in _present(rss) if replicas(rs) > 0]


def new_rs_new_replicas(d: Mapping[str, Any], all_rss: Sequence[Obj | None], new_rs: Obj) -> int:
    """deployment_util.go NewRSNewReplicas: how far the new RS may scale up now."""
    if not is_rolling(d):
        return replicas(d)
    surge = scaled_value(_rolling_params(d)[0], replicas(d), True)
    current, max_total = spec_count(all_rss), replicas(d) + surge
    if current >= max_total:
        return replicas(new_rs)
    return replicas(new_rs) + min(max_total - current, replicas(d) - replicas(new_rs))


def _int_annotation(rs: Mapping[str, Any], key: str) -> int | None:
    try:
        return int(annotations(rs)[key])
    except (KeyError, ValueError):
        return None


def is_saturated(d: Mapping[str, Any], rs: Obj | None) -> bool:
    """deployment_util.go IsSaturated."""
    if rs is None:
        return False
    want = replicas(d)
    return (_int_annotation(rs, DESIRED_REPLICAS) == want and replicas(rs) == want
            and status_int(rs, "availableReplicas") == want)


def round_to_int32(a: float) -> int:
    """k8s.io/utils/integer RoundToInt32: half away from zero."""
    return int(a - 0.5) if a < 0 else int(a + 0.5)


def _fraction(rs: Obj, d: Mapping[str, Any]) -> int:
    # deployment_util.go getReplicaSetFraction
    if replicas(d) == 0:
        return -replicas(rs)
    d_max = replicas(d) + max_surge(d)
    before = _int_annotation(rs, MAX_REPLICAS)
    if not before:
        before = status_int(d, "replicas")  # annotation lost: fall back to the current size
        if before == 0:
            return 0
    return round_to_int32(replicas(rs) * d_max / before) - replicas(rs)


def proportion(rs: Obj | None, d: Mapping[str, Any], to_add: int, added: int) -> int:
    """deployment_util.go GetProportion."""
    if rs is None or replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction, allowed = _fraction(rs, d), to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


# ---- sort orders --------------------------------------------------------------------------------
def _created(rs: Mapping[str, Any]) -> tuple[datetime | None, str]:
    return podcontrol.parse_time((rs.get("metadata") or {}).get("creationTimestamp")), name(rs)


def _by_creation_less(a: Obj, b: Obj) -> bool:
    # controller.ReplicaSetsByCreationTimestamp: older first, then by name
    (ta, na), (tb, nb) = _created(a), _created(b)
    if ta == tb:
        return na < nb
    if ta is None or tb is None:
        return ta is None
    return ta < tb


def _sorted(rss: Iterable[Obj], less: Any) -> list[Obj]:
    def cmp(a: Obj, b: Obj) -> int:
        return -1 if less(a, b) else 1 if less(b, a) else 0
    return sorted(rss, key=functools.cmp_to_key(cmp))


def by_creation(rss: Iterable[Obj]) -> list[Obj]:
    return _sorted(rss, _by_creation_less)


def by_size_newer(rss: Iterable[Obj]) -> list[Obj]:
    """controller.ReplicaSetsBySizeNewer: larger first; equal sizes newer first."""
    return _sorted(rss, lambda a, b: _by_creation_less(b, a) if replicas(a) == replicas(b)
                   else replicas(a) > replicas(b))


def by_size_older(rss: Iterable[Obj]) -> list[Obj]:
    """controller.ReplicaSetsBySizeOlder: larger first; equal sizes older first."""
    return _sorted(rss, lambda a, b: _by_creation_less(a, b) if replicas(a) == replicas(b)
                   else replicas(a) > replicas(b))


def revision(obj: Mapping[str, Any]) -> int:
    """deployment_util.go Revision (an unparsable value counts as 0 here)."""
    return _int_annotation(obj, REVISION) or 0


def by_revision(rss: Iterable[Obj]) -> list[Obj]:
    """deployment_util.go ReplicaSetsByRevision: lower revision first, then by creation."""
    return _sorted(rss, lambda a, b: _by_creation_less(a, b) if revision(a) == revision(b)
                   else revision(a) < revision(b))


# ---- new and old ReplicaSets ----------------------------------------------------------------
def _prune(value: Any) -> Any:
    # apiequality.Semantic.DeepEqual: empty and nil slices/maps are equal
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def equal_ignore_hash(t1: Mapping[str, Any], t2: Mapping[str, Any]) -> bool:
    """deployment_util.go EqualIgnoreHash: templates equal but for the pod-template-hash label."""
    a, b = json_deepcopy(dict(t1)), json_deepcopy(dict(t2))
    for t in (a, b):
        ((t.get("metadata") or {}).get("labels") or {}).pop(HASH_LABEL, None)
    return _prune(a) == _prune(b)


def find_new(d: Mapping[str, Any], rss: Iterable[Obj]) -> Obj | None:
    """deployment_util.go FindNewReplicaSet: the oldest RS whose template matches (ties exist
    only after a hash collision, and the oldest is the one in use)."""
    template = spec(d).get("template") or {}
    for rs in by_creation(rss):
        if equal_ignore_hash(spec(rs).get("template") or {}, template):
            return rs
    return None


def find_old(d: Mapping[str, Any], rss: Iterable[Obj]) -> list[Obj]:
    """deployment_util.go FindOldReplicaSets (allOldRSs): every RS but the new one."""
    rss = list(rss)
    new = find_new(d, rss)
    return [rs for rs in rss if new is None or uid(rs) != uid(new)]


def find_active_or_latest(new_rs: Obj | None, old_rss: Sequence[Obj]) -> Obj | None:
    """deployment_util.go FindActiveOrLatest."""
    if new_rs is None and not old_rss:
        return None
    newest_first = list(reversed(by_creation(old_rss)))
    live = active(newest_first + [new_rs])
    if not live:
        return new_rs if new_rs is not None else newest_first[0]
    return live[0] if len(live) == 1 else None


# ---- annotations ----------------------------------------------------------------------------
def _ann(obj: Obj) -> dict[str, str]:
    meta = obj.setdefault("metadata", {})
    if meta.get("annotations") is None:
        meta["annotations"] = {}
    return meta["annotations"]


def set_replicas_annotations(rs: Obj, desired: int, max_replicas: int) -> bool:
    """deployment_util.go SetReplicasAnnotations: in place; whether anything changed."""
    ann, changed = _ann(rs), False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if ann.get(key) != value:
            ann[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: Obj, desired: int, max_replicas: int) -> bool:
    ann = annotations(rs)
    return ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(max_replicas)


def set_new_rs_annotations(d: Mapping[str, Any], rs: Obj, new_revision: str, exists: bool) -> bool:
    """deployment_util.go SetNewReplicaSetAnnotations (in place): copy the deployment's
    annotations, raise the revision (keeping the old one in revision-history, capped at 2000
    characters), and on a new RS the replica annotations. Whether anything changed."""
    ann = _ann(rs)
    changed = False
    for key, value in annotations(d).items():  # copyDeploymentAnnotationsToReplicaSet
        if key not in SKIP_ANNOTATIONS and ann.get(key) != value:
            ann[key] = value
            changed = True
    old_text = ann.get(REVISION)
    try:
        old = int(old_text) if old_text is not None else 0
    except ValueError:
        if old_text != "":
            return False
        old = 0
    new = int(new_revision)
    if old < new:
        ann[REVISION] = new_revision
        changed = True
        if old_text is not None:
            history = ann.get(REVISION_HISTORY, "")
            if not history:
                ann[REVISION_HISTORY] = old_text
            else:
                parts = history.split(",")
                total, start = len(history) + len(old_text) + 1, 0
                while total > MAX_REV_HISTORY_CHARS and start < len(parts):
                    total -= len(parts[start]) + 1
                    start += 1
                if total <= MAX_REV_HISTORY_CHARS:
                    ann[REVISION_HISTORY] = ",".join(parts[start:] + [old_text])
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


# ---- conditions -----------------------------------------------------------------------------
def condition(status: Mapping[str, Any], ctype: str) -> dict[str, Any] | None:
    for cond in status.get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == ctype:
            return cond
    return None


def new_condition(ctype: str, status: str, reason: str, message: str, now: datetime) -> Obj:
    """deployment_util.go NewDeploymentCondition."""
    t = podcontrol.format_time(now)
    return {"type": ctype, "status": status, "lastUpdateTime": t, "lastTransitionTime": t,
            "reason": reason, "message": message}


def remove_condition(status: Obj, ctype: str) -> None:
    conds = [c for c in status.get("conditions") or () if c.get("type") != ctype]
    if conds:
        status["conditions"] = conds
    else:
        status.pop("conditions", None)


def set_condition(status: Obj, cond: Obj) -> None:
    """deployment_util.go SetDeploymentCondition: no-op for the same status and reason; keeps
    lastTransitionTime while the status is unchanged; the condition moves to the end."""
    current = condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] \
            and current.get("reason") == cond["reason"]:
        return
    cond = dict(cond)
    if current is not None and current.get("status") == cond["status"]:
        cond["lastTransitionTime"] = current.get("lastTransitionTime")
    remove_condition(status, cond["type"])
    status["conditions"] = list(status.get("conditions") or ()) + [cond]
