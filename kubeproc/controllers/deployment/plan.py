"""Deployment decisions: pure. One pass of deployment_controller.go syncDeployment.

`sync_deployment(d, rss, pods, now)` runs upstream's pass over working copies and returns the
writes it makes, in order (`Plan.actions`): each later step sees the earlier writes as done, as
upstream sees the objects its API calls return. The reconciler applies them and stops at the
first failure (upstream returns the error and requeues). Ports sync.go (getNewReplicaSet, scale,
cleanupDeployment, calculateStatus, syncDeploymentStatus, isScalingEvent, checkPausedConditions)
and progress.go (syncRolloutStatus, requeueStuckDeployment); rolling.py ports the two strategies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubeproc.api.defaults import json_deepcopy
from kubeproc.controllers import podcontrol
from kubeproc.controllers.deployment import hashing
from kubeproc.controllers.deployment import replicas as u

Obj = dict[str, Any]
PROGRESSING, AVAILABLE, REPLICA_FAILURE = "Progressing", "Available", "ReplicaFailure"


@dataclass(frozen=True)
class CreateRS:
    rs: Obj


@dataclass(frozen=True)
class UpdateRS:
    """Write spec.replicas, spec.minReadySeconds and metadata.annotations of `rs`."""
    rs: Obj


@dataclass(frozen=True)
class DeleteRS:
    rs: Obj


@dataclass(frozen=True)
class WriteRevision:
    """Set the deployment's deployment.kubernetes.io/revision annotation."""
    revision: str


@dataclass(frozen=True)
class WriteStatus:
    status: Obj


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str


Action = CreateRS | UpdateRS | DeleteRS | WriteRevision | WriteStatus | Event


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    requeue_after: float | None = None  # look again then (a stuck rollout's deadline)
    error: str | None = None  # the pass ended early with this error: retry with backoff


class Pass:
    """The working state of one sync: the deployment, its ReplicaSets and the writes so far."""

    def __init__(self, d: Mapping[str, Any], rss: Sequence[Obj],
                 pods: Mapping[str, Sequence[Obj]], now: datetime) -> None:
        self.d: Obj = json_deepcopy(dict(d))
        self.rss = [json_deepcopy(rs) for rs in rss]
        self.pods = pods  # ReplicaSet uid -> its pods (getPodMapForDeployment)
        self.now = now
        self.plan = Plan()
        self._revision = u.annotations(self.d).get(u.REVISION)

    @property
    def status(self) -> Obj:
        return self.d.setdefault("status", {})

    def _replace(self, rs: Obj) -> None:
        self.rss = [rs if u.name(x) == u.name(rs) else x for x in self.rss]

    def event(self, type_: str, reason: str, message: str) -> None:
        self.plan.actions.append(Event(type_, reason, message))

    def update_status(self) -> None:
        """Deployments.UpdateStatus(d): the revision annotation travels with it."""
        rev = u.annotations(self.d).get(u.REVISION)
        if rev is not None and rev != self._revision:
            self.plan.actions.append(WriteRevision(rev))
            self._revision = rev
        self.plan.actions.append(WriteStatus(json_deepcopy(self.status)))

    def update_rs(self, rs: Obj) -> None:
        self._replace(rs)
        self.plan.actions.append(UpdateRS(json_deepcopy(rs)))

    def scale(self, rs: Obj, new_scale: int, operation: str | None = None) -> tuple[bool, Obj]:
        """sync.go scaleReplicaSet / scaleReplicaSetAndRecordEvent (operation None)."""
        old_scale = u.replicas(rs)
        if operation is None:
            if old_scale == new_scale:
                return False, rs
            operation = "up" if old_scale < new_scale else "down"
        desired, max_replicas = u.replicas(self.d), u.replicas(self.d) + u.max_surge(self.d)
        size_changes = old_scale != new_scale
        if not size_changes and not u.replicas_annotations_need_update(rs, desired, max_replicas):
            return False, rs
        out = json_deepcopy(rs)
        out.setdefault("spec", {})["replicas"] = new_scale
        u.set_replicas_annotations(out, desired, max_replicas)
        self.update_rs(out)
        if size_changes:
            self.event("Normal", "ScalingReplicaSet",
                       f"Scaled {operation} replica set {u.name(out)} from {old_scale} to {new_scale}")
        return size_changes, out


# ---- sync.go ----------------------------------------------------------------------------------
def set_deployment_revision(d: Obj, rev: str) -> bool:
    ann = d.setdefault("metadata", {})
    if ann.get("annotations") is None:
        ann["annotations"] = {}
    if ann["annotations"].get(u.REVISION) == rev:
        return False
    ann["annotations"][u.REVISION] = rev
    return True


def _condition(p: Pass, ctype: str, status: str, reason: str, message: str) -> Obj:
    return u.new_condition(ctype, status, reason, message, p.now)


def get_new_rs(p: Pass, old_rss: Sequence[Obj], create: bool) -> Obj | None:
    """sync.go getNewReplicaSet: sync the new RS's annotations and the deployment's revision, or
    create the RS named `<deployment>-<pod-template-hash>`."""
    d = p.d
    existing = u.find_new(d, p.rss)
    new_revision = str(max((u.revision(rs) for rs in old_rss), default=0) + 1)
    if existing is not None:
        rs = json_deepcopy(existing)
        changed = u.set_new_rs_annotations(d, rs, new_revision, True)
        min_ready = int(u.spec(d).get("minReadySeconds") or 0)
        if changed or int(u.spec(rs).get("minReadySeconds") or 0) != min_ready:
            if min_ready:
                rs.setdefault("spec", {})["minReadySeconds"] = min_ready
            else:
                rs.setdefault("spec", {}).pop("minReadySeconds", None)
            p.update_rs(rs)
            return rs
        needs_update = set_deployment_revision(d, u.annotations(rs).get(u.REVISION, ""))
        if u.has_progress_deadline(d) and u.condition(p.status, PROGRESSING) is None:
            u.set_condition(p.status, _condition(p, PROGRESSING, "True", "FoundNewReplicaSet",
                                                 f'Found new replica set "{u.name(rs)}"'))
            needs_update = True
        if needs_update:
            p.update_status()
        return rs
    if not create:
        return None
    rs = new_replica_set(d, p.now)
    rs["spec"]["replicas"] = u.new_rs_new_replicas(d, list(old_rss) + [rs], rs)
    u.set_new_rs_annotations(d, rs, new_revision, False)
    p.plan.actions.append(CreateRS(json_deepcopy(rs)))
    rs["metadata"]["creationTimestamp"] = podcontrol.format_time(p.now)  # as the server sets it
    p.rss.append(rs)
    if u.replicas(rs) > 0:
        p.event("Normal", "ScalingReplicaSet",
                f"Scaled up replica set {u.name(rs)} from 0 to {u.replicas(rs)}")
    set_deployment_revision(d, new_revision)
    if u.has_progress_deadline(d):
        u.set_condition(p.status, _condition(p, PROGRESSING, "True", "NewReplicaSetCreated",
                                             f'Created new replica set "{u.name(rs)}"'))
    p.update_status()
    return rs


def new_replica_set(d: Mapping[str, Any], now: datetime) -> Obj:
    """The ReplicaSet getNewReplicaSet creates (replicas 0 until sized): template labels and
    selector gain pod-template-hash = ComputeHash(template, status.collisionCount)."""
    template = json_deepcopy(u.spec(d).get("template") or {})
    collision = (d.get("status") or {}).get("collisionCount")
    h = hashing.compute_hash(template, None if collision is None else int(collision))
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), u.HASH_LABEL: h}
    selector = json_deepcopy(u.spec(d).get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), u.HASH_LABEL: h}
    meta = d.get("metadata") or {}
    min_ready = int(u.spec(d).get("minReadySeconds") or 0)
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{meta.get('name', '')}-{h}",
                         "namespace": meta.get("namespace", ""),
                         "labels": dict(tmeta["labels"]),
                         "ownerReferences": [podcontrol.controller_ref(d, "apps/v1", "Deployment")]},
            "spec": {"replicas": 0, "selector": selector, "template": template,
                     **({"minReadySeconds": min_ready} if min_ready else {})}}


def all_rss_and_sync_revision(p: Pass, create: bool) -> tuple[Obj | None, list[Obj]]:
    """sync.go getAllReplicaSetsAndSyncRevision: (new RS, all old RSs)."""
    old = u.find_old(p.d, p.rss)
    new = get_new_rs(p, old, create)
    names = {u.name(rs) for rs in old}
    return new, [rs for rs in p.rss if u.name(rs) in names]


def scale(p: Pass, new_rs: Obj | None, old_rss: list[Obj]) -> None:
    """sync.go scale: one active RS takes spec.replicas; a saturated new RS zeroes the old ones;
    otherwise (RollingUpdate) the difference to replicas+maxSurge is spread proportionally."""
    d = p.d
    target = u.find_active_or_latest(new_rs, old_rss)
    if target is not None:
        if u.replicas(target) != u.replicas(d):
            p.scale(target, u.replicas(d))
        return
    if u.is_saturated(d, new_rs):
        for old in u.active(old_rss):
            p.scale(old, 0)
        return
    if not u.is_rolling(d):
        return
    live = u.active(old_rss + [new_rs])
    allowed = u.replicas(d) + u.max_surge(d) if u.replicas(d) > 0 else 0
    to_add = allowed - u.spec_count(live)
    operation = ""
    if to_add > 0:
        live, operation = u.by_size_newer(live), "up"
    elif to_add < 0:
        live, operation = u.by_size_older(live), "down"
    added, sizes = 0, {}
    for rs in live:
        share = u.proportion(rs, d, to_add, added) if to_add else 0
        sizes[u.name(rs)] = u.replicas(rs) + share
        added += share
    for i, rs in enumerate(live):
        if i == 0 and to_add != 0:  # leftovers go to the largest RS
            sizes[u.name(rs)] = max(0, sizes[u.name(rs)] + to_add - added)
        p.scale(rs, sizes[u.name(rs)], operation)


def cleanup(p: Pass, old_rss: Sequence[Obj]) -> None:
    """sync.go cleanupDeployment: delete the oldest drained RSs beyond revisionHistoryLimit."""
    d = p.d
    if not u.has_revision_history_limit(d):
        return
    alive = [rs for rs in old_rss if not (rs.get("metadata") or {}).get("deletionTimestamp")]
    diff = len(alive) - int(u.spec(d)["revisionHistoryLimit"])
    if diff <= 0:
        return
    for rs in u.by_revision(alive)[:diff]:
        generation = int((rs.get("metadata") or {}).get("generation") or 0)
        if u.status_int(rs, "replicas") != 0 or u.replicas(rs) != 0 \
                or generation > u.status_int(rs, "observedGeneration"):
            continue
        p.plan.actions.append(DeleteRS(json_deepcopy(rs)))


def calculate_status(p: Pass, all_rss: Sequence[Obj | None], new_rs: Obj | None) -> Obj:
    """sync.go calculateStatus, with the Available condition."""
    d = p.d
    available = u.available_count(all_rss)
    status: Obj = {"observedGeneration": int((d.get("metadata") or {}).get("generation") or 0),
                   "replicas": u.actual_count(all_rss),
                   "updatedReplicas": u.actual_count([new_rs]),
                   "readyReplicas": u.ready_count(all_rss),
                   "availableReplicas": available,
                   "unavailableReplicas": max(0, u.spec_count(all_rss) - available)}
    # GetTerminatingReplicaCountForReplicaSets: the sum, absent when no ReplicaSet reports one
    counts = [rs["status"]["terminatingReplicas"] for rs in all_rss
              if rs is not None and (rs.get("status") or {}).get("terminatingReplicas") is not None]
    if counts:
        status["terminatingReplicas"] = sum(int(c) for c in counts)
    if (d.get("status") or {}).get("collisionCount") is not None:
        status["collisionCount"] = d["status"]["collisionCount"]
    if (d.get("status") or {}).get("conditions"):
        status["conditions"] = json_deepcopy(d["status"]["conditions"])
    if available >= u.replicas(d) - u.max_unavailable(d):
        u.set_condition(status, _condition(p, AVAILABLE, "True", "MinimumReplicasAvailable",
                                           "Deployment has minimum availability."))
    else:
        u.set_condition(status, _condition(p, AVAILABLE, "False", "MinimumReplicasUnavailable",
                                           "Deployment does not have minimum availability."))
    return status


def _wire(status: Mapping[str, Any]) -> Obj:
    # omitempty int32 counts: a zero is absent on the wire, so compare and write without them
    # (collisionCount and terminatingReplicas are pointers: a 0 is written)
    return {k: v for k, v in status.items()
            if v not in (0, None, []) or k in ("collisionCount", "terminatingReplicas")}


def _write_if_changed(p: Pass, new_status: Obj) -> bool:
    if _wire(p.d.get("status") or {}) == _wire(new_status):
        return False
    p.d["status"] = _wire(new_status)
    p.update_status()
    return True


def sync_status(p: Pass, new_rs: Obj | None, old_rss: list[Obj]) -> None:
    """sync.go syncDeploymentStatus (over the objects as the caller holds them: upstream's
    counts of spec.replicas lag a scale made in the same pass)."""
    _write_if_changed(p, calculate_status(p, old_rss + [new_rs], new_rs))


def sync(p: Pass) -> None:
    """sync.go sync: scaling events and paused deployments."""
    new_rs, old_rss = all_rss_and_sync_revision(p, False)
    scale(p, new_rs, old_rss)
    if u.spec(p.d).get("paused") and u.ROLLBACK_TO not in u.annotations(p.d):
        cleanup(p, old_rss)
    sync_status(p, new_rs, old_rss)


def check_paused_conditions(p: Pass) -> None:
    """sync.go checkPausedConditions: Progressing Unknown DeploymentPaused/DeploymentResumed."""
    if not u.has_progress_deadline(p.d):
        return
    cond = u.condition(p.status, PROGRESSING)
    if cond is not None and cond.get("reason") == "ProgressDeadlineExceeded":
        return
    paused_cond = cond is not None and cond.get("reason") == "DeploymentPaused"
    paused = bool(u.spec(p.d).get("paused"))
    if paused and not paused_cond:
        u.set_condition(p.status, _condition(p, PROGRESSING, "Unknown", "DeploymentPaused",
                                             "Deployment is paused"))
    elif not paused and paused_cond:
        u.set_condition(p.status, _condition(p, PROGRESSING, "Unknown", "DeploymentResumed",
                                             "Deployment is resumed"))
    else:
        return
    p.update_status()


def is_scaling_event(p: Pass) -> bool:
    """sync.go isScalingEvent: an active RS's desired-replicas annotation differs."""
    new_rs, old_rss = all_rss_and_sync_revision(p, False)
    for rs in u.active(old_rss + [new_rs]):
        ann = u.annotations(rs).get(u.DESIRED_REPLICAS)
        if ann is not None and ann.isdigit() and int(ann) != u.replicas(p.d):
            return True
    return False


def sync_deployment(d: Mapping[str, Any], rss: Sequence[Obj], pods: Mapping[str, Sequence[Obj]],
                    now: datetime) -> Plan:
    """deployment_controller.go syncDeployment after claiming: `rss` are the ReplicaSets the
    deployment owns, `pods` their pods by RS uid. The deprecated rollbackTo annotation is not
    acted on (kubectl's `rollout undo` patches the template instead)."""
    from kubeproc.controllers.deployment import rolling
    p = Pass(d, rss, pods, now)
    if u.spec(p.d).get("selector") == {}:
        p.event("Warning", "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.")
        generation = int((p.d.get("metadata") or {}).get("generation") or 0)
        if u.status_int(p.d, "observedGeneration") < generation:
            p.status["observedGeneration"] = generation
            p.update_status()
        return p.plan
    if (p.d.get("metadata") or {}).get("deletionTimestamp"):
        new_rs, old_rss = all_rss_and_sync_revision(p, False)  # syncStatusOnly
        sync_status(p, new_rs, old_rss)
        return p.plan
    check_paused_conditions(p)
    if u.spec(p.d).get("paused") or is_scaling_event(p):
        sync(p)
    else:
        try:
            (rolling.rollout_rolling if u.is_rolling(p.d) else rolling.rollout_recreate)(p)
        except rolling.RolloutError as exc:
            p.plan.error = str(exc)
    return p.plan
