"""Deployment rollout progress: pure. Ports progress.go (syncRolloutStatus,
getReplicaFailures, requeueStuckDeployment) and the deployment_util.go predicates it uses
(DeploymentComplete, DeploymentProgressing, DeploymentTimedOut): the Progressing condition's
NewReplicaSetAvailable / ReplicaSetUpdated / ProgressDeadlineExceeded and when to look again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from kubeproc.controllers import podcontrol
from kubeproc.controllers.deployment import replicas as u
from kubeproc.controllers.deployment.plan import (PROGRESSING, REPLICA_FAILURE, Obj, Pass,
                                                  _condition, _write_if_changed,
                                                  calculate_status)


def deployment_complete(d: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """deployment_util.go DeploymentComplete."""
    want = u.replicas(d)
    return (int(status.get("updatedReplicas") or 0) == want and int(status.get("replicas") or 0) == want
            and int(status.get("availableReplicas") or 0) == want
            and int(status.get("observedGeneration") or 0) >= int((d.get("metadata") or {}).get("generation") or 0))


def deployment_progressing(d: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """deployment_util.go DeploymentProgressing: more updated/ready/available, fewer old."""
    old = d.get("status") or {}

    def n(s: Mapping[str, Any], k: str) -> int:
        return int(s.get(k) or 0)
    return (n(new, "updatedReplicas") > n(old, "updatedReplicas")
            or n(new, "readyReplicas") > n(old, "readyReplicas")
            or n(new, "availableReplicas") > n(old, "availableReplicas")
            or n(new, "replicas") - n(new, "updatedReplicas") < n(old, "replicas") - n(old, "updatedReplicas"))


def _deadline(d: Mapping[str, Any], cond: Mapping[str, Any]) -> datetime | None:
    since = podcontrol.parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return None
    return since + timedelta(seconds=int(u.spec(d)["progressDeadlineSeconds"]))


def deployment_timed_out(d: Mapping[str, Any], now: datetime) -> bool:
    """deployment_util.go DeploymentTimedOut."""
    if not u.has_progress_deadline(d):
        return False
    cond = u.condition(d.get("status") or {}, PROGRESSING)
    if cond is None or cond.get("reason") == "NewReplicaSetAvailable":
        return False
    if cond.get("reason") == "ProgressDeadlineExceeded":
        return True
    deadline = _deadline(d, cond)
    return deadline is not None and deadline < now


def sync_rollout_status(p: Pass, new_rs: Obj | None, old_rss: list[Obj]) -> None:
    """progress.go syncRolloutStatus: Progressing (NewReplicaSetAvailable, ReplicaSetUpdated,
    ProgressDeadlineExceeded), ReplicaFailure promoted from the RSs, requeue when stuck."""
    d = p.d
    all_rss: list[Obj | None] = [*old_rss, new_rs]
    status = calculate_status(p, all_rss, new_rs)
    if not u.has_progress_deadline(d):
        u.remove_condition(status, PROGRESSING)
    current = u.condition(d.get("status") or {}, PROGRESSING)
    complete = (status["replicas"] == status["updatedReplicas"] and current is not None
                and current.get("reason") == "NewReplicaSetAvailable")
    what = f'ReplicaSet "{u.name(new_rs)}"' if new_rs is not None else f'Deployment "{u.name(d)}"'
    if u.has_progress_deadline(d) and not complete:
        if deployment_complete(d, status):
            u.set_condition(status, _condition(p, PROGRESSING, "True", "NewReplicaSetAvailable",
                                               f"{what} has successfully progressed."))
        elif deployment_progressing(d, status):
            cond = _condition(p, PROGRESSING, "True", "ReplicaSetUpdated", f"{what} is progressing.")
            if current is not None:  # progress refreshes lastUpdateTime even for the same reason
                if current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime")
                u.remove_condition(status, PROGRESSING)
            u.set_condition(status, cond)
        elif deployment_timed_out(d, p.now):
            u.set_condition(status, _condition(p, PROGRESSING, "False", "ProgressDeadlineExceeded",
                                               f"{what} has timed out progressing."))
    failures = _replica_failures(old_rss, new_rs)
    if failures:
        u.set_condition(status, failures[0])
    else:
        u.remove_condition(status, REPLICA_FAILURE)
    if not _write_if_changed(p, status):
        p.plan.requeue_after = _requeue_stuck(p, status)


def _replica_failures(old_rss: Sequence[Obj], new_rs: Obj | None) -> list[Obj]:
    # progress.go getReplicaFailures: the new RS's first, else the old ones'
    def of(rs: Obj) -> list[Obj]:
        return [{"type": REPLICA_FAILURE, "status": c.get("status"),
                 "lastUpdateTime": c.get("lastTransitionTime"),
                 "lastTransitionTime": c.get("lastTransitionTime"),
                 "reason": c.get("reason"), "message": c.get("message")}
                for c in (rs.get("status") or {}).get("conditions") or ()
                if c.get("type") == REPLICA_FAILURE]
    if new_rs is not None and of(new_rs):
        return of(new_rs)
    return [c for rs in old_rss for c in of(rs)]


def _requeue_stuck(p: Pass, status: Mapping[str, Any]) -> float | None:
    """progress.go requeueStuckDeployment: check the deadline again when it passes."""
    d = p.d
    current = u.condition(d.get("status") or {}, PROGRESSING)
    if not u.has_progress_deadline(d) or current is None:
        return None
    if deployment_complete(d, status) or current.get("reason") == "ProgressDeadlineExceeded":
        return None
    deadline = _deadline(d, current)
    if deadline is None:
        return None
    after = (deadline - p.now).total_seconds()
    return 0.0 if after < 1 else after + 1
