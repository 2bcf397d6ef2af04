"""The two rollout strategies: pure, over a `plan.Pass`.

RollingUpdate (rolling.go rolloutRolling, reconcileNewReplicaSet, reconcileOldReplicaSets,
cleanupUnhealthyReplicas, scaleDownOldReplicaSetsForRollingUpdate): scale the new ReplicaSet up
within replicas+maxSurge, the old ones down keeping replicas-maxUnavailable available.
Recreate (recreate.go): scale every old ReplicaSet to 0, wait until none of their pods is left
running, only then create/scale up the new one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kubeproc.controllers.deployment import replicas as u
from kubeproc.controllers.deployment.plan import Obj, Pass, all_rss_and_sync_revision, cleanup
from kubeproc.controllers.deployment.progress import deployment_complete, sync_rollout_status


class RolloutError(Exception):
    """A pass that upstream ends with an error (the writes so far stand; the key is retried)."""


def deployment_complete_now(p: Pass) -> bool:
    """DeploymentComplete(d, &d.Status): the status as last written in this pass."""
    return deployment_complete(p.d, p.d.get("status") or {})


def rollout_rolling(p: Pass) -> None:
    """rolling.go rolloutRolling."""
    new_rs, old_rss = all_rss_and_sync_revision(p, True)
    assert new_rs is not None
    all_rss = old_rss + [new_rs]
    if reconcile_new(p, all_rss, new_rs):
        sync_rollout_status(p, new_rs, old_rss)
        return
    if reconcile_old(p, all_rss, u.active(old_rss), new_rs):
        sync_rollout_status(p, new_rs, old_rss)
        return
    if deployment_complete_now(p):
        cleanup(p, old_rss)
    sync_rollout_status(p, new_rs, old_rss)


def reconcile_new(p: Pass, all_rss: Sequence[Obj], new_rs: Obj) -> bool:
    """rolling.go reconcileNewReplicaSet: whether the new RS was scaled."""
    want = u.replicas(p.d)
    if u.replicas(new_rs) == want:
        return False
    if u.replicas(new_rs) > want:
        return p.scale(new_rs, want)[0]
    return p.scale(new_rs, u.new_rs_new_replicas(p.d, all_rss, new_rs))[0]


def reconcile_old(p: Pass, all_rss: Sequence[Obj], old_rss: list[Obj], new_rs: Obj) -> bool:
    """rolling.go reconcileOldReplicaSets: whether any old RS was scaled down."""
    if u.spec_count(old_rss) == 0:
        return False
    min_available = u.replicas(p.d) - u.max_unavailable(p.d)
    new_unavailable = u.replicas(new_rs) - u.status_int(new_rs, "availableReplicas")
    max_scaled_down = u.spec_count(all_rss) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    old_rss, cleaned = cleanup_unhealthy(p, old_rss, max_scaled_down)
    scaled = scale_down_old_for_rolling(p, old_rss + [new_rs], old_rss)
    return cleaned + scaled > 0


def cleanup_unhealthy(p: Pass, old_rss: list[Obj], max_cleanup: int) -> tuple[list[Obj], int]:
    """rolling.go cleanupUnhealthyReplicas: first drop old replicas that are not available
    (oldest RS first); returns the updated old RSs and how many were removed."""
    out, total = [], 0
    for rs in u.by_creation(old_rss):
        unhealthy = u.replicas(rs) - u.status_int(rs, "availableReplicas")
        if total >= max_cleanup or u.replicas(rs) == 0 or unhealthy == 0:
            out.append(rs)
            continue
        if unhealthy < 0:  # status not caught up with a scale-down: upstream errors and requeues
            raise RolloutError(f"when cleaning up unhealthy replicas, the total number of replicas "
                               f"would be higher than {u.replicas(rs)} for {u.name(rs)}")
        count = min(max_cleanup - total, unhealthy)
        _, rs = p.scale(rs, u.replicas(rs) - count)
        total += count
        out.append(rs)
    return out, total


def scale_down_old_for_rolling(p: Pass, all_rss: Sequence[Obj], old_rss: list[Obj]) -> int:
    """rolling.go scaleDownOldReplicaSetsForRollingUpdate: down to replicas-maxUnavailable
    available pods, oldest RS first."""
    min_available = u.replicas(p.d) - u.max_unavailable(p.d)
    available = u.available_count(all_rss)
    if available <= min_available:
        return 0
    total, budget = 0, available - min_available
    for rs in u.by_creation(old_rss):
        if total >= budget:
            break
        if u.replicas(rs) == 0:
            continue
        count = min(u.replicas(rs), budget - total)
        p.scale(rs, u.replicas(rs) - count)
        total += count
    return total


def old_pods_running(new_rs: Obj | None, old_rss: Sequence[Obj],
                     pods: Mapping[str, Sequence[Obj]]) -> bool:
    """recreate.go oldPodsRunning: any old RS reports replicas, or any pod of an old RS is not
    Succeeded/Failed (terminating pods still count)."""
    if u.actual_count(old_rss) > 0:
        return True
    for rs_uid, rs_pods in pods.items():
        if new_rs is not None and rs_uid == u.uid(new_rs):
            continue
        if any((pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded")
               for pod in rs_pods):
            return True
    return False


def rollout_recreate(p: Pass) -> None:
    """recreate.go rolloutRecreate."""
    new_rs, old_rss = all_rss_and_sync_revision(p, False)
    scaled = False
    for rs in u.active(old_rss):  # scaleDownOldReplicaSetsForRecreate
        scaled = p.scale(rs, 0)[0] or scaled
    if scaled or old_pods_running(new_rs, old_rss, p.pods):
        sync_rollout_status(p, new_rs, old_rss)
        return
    if new_rs is None:
        new_rs, old_rss = all_rss_and_sync_revision(p, True)
        assert new_rs is not None
    p.scale(new_rs, u.replicas(p.d))  # scaleUpNewReplicaSetForRecreate
    if deployment_complete_now(p):
        cleanup(p, old_rss)
    sync_rollout_status(p, new_rs, old_rss)
