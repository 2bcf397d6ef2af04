"""ReplicaSet / ReplicationController decisions (kubeproc.controllers.replicaset.plan) against
upstream pkg/controller/replicaset: manageReplicas (diff, burstReplicas, getPodsToDelete),
calculateStatus (counts, ReplicaFailure), updateReplicaSetStatus's steady state, the
minReadySeconds requeue, and the RC's map selector (pkg/controller/replication/conversion.go)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from kubeproc.controllers import podcontrol as pc
from kubeproc.controllers.replicaset import plan
from kubeproc.controllers.replicaset.plan import REPLICA_SET, REPLICATION_CONTROLLER, Manage

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
T = pc.format_time(NOW)


def rs(replicas: int | None = 3, *, generation: int = 2, status: dict[str, Any] | None = None,
       min_ready: int = 0, template_labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": "web"}},
                            "template": {"metadata": {"labels": template_labels
                                                      or {"app": "web", "tier": "fe"}}}}
    if replicas is not None:
        spec["replicas"] = replicas
    if min_ready:
        spec["minReadySeconds"] = min_ready
    return {"metadata": {"name": "web", "namespace": "default", "generation": generation},
            "spec": spec, "status": status if status is not None else {"replicas": 0}}


def pod(name: str, *, ready: bool = True, ready_ago: float = 100, node: str = "n1",
        labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": name, "creationTimestamp": T,
                         "labels": labels if labels is not None else {"app": "web", "tier": "fe"}},
            "spec": {"nodeName": node},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True" if ready else "False",
                 "lastTransitionTime": pc.format_time(NOW - timedelta(seconds=ready_ago))}]}}


PODS = [pod(f"p{i}") for i in range(5)]


@pytest.mark.parametrize("obj,n,burst,want", [
    (rs(3), 3, 500, Manage()),
    (rs(3), 0, 500, Manage(create=3)),
    (rs(None), 0, 500, Manage(create=1)),
    (rs(1000), 0, 500, Manage(create=500)),
    (rs(5), 2, 2, Manage(create=2)),
    (rs(0), 2, 500, Manage(delete=(PODS[0], PODS[1]))),
], ids=["steady", "scale-up-creates-difference", "missing-replicas-means-one",
        "burst-replicas-caps-creates", "custom-burst", "scale-to-zero-deletes-all"])
def test_manage(obj: dict[str, Any], n: int, burst: int, want: Manage) -> None:
    assert plan.manage(obj, PODS[:n], PODS[:n], NOW, burst) == want


def test_manage_deletes_not_ready_and_unscheduled_first() -> None:
    pods = [pod("ready-a"), pod("not-ready", ready=False), pod("ready-b"),
            pod("unscheduled", node="")]
    got = plan.manage(rs(2), pods, pods, NOW)
    assert [p["metadata"]["name"] for p in got.delete] == ["unscheduled", "not-ready"]


def test_manage_delete_capped_by_burst() -> None:
    assert len(plan.manage(rs(0), PODS, PODS, NOW, burst=3).delete) == 3


@pytest.mark.parametrize("obj,pods,err,want", [
    (rs(3), [pod("a"), pod("b", ready=False), pod("c", labels={"app": "web"})], None,
     {"replicas": 3, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}),
    (rs(3, min_ready=60), [pod("a", ready_ago=100), pod("b", ready_ago=10)], None,
     {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 1}),
    (rs(3), [], None, {"replicas": 0}),
    (rs(3), [pod("a")], "pods \"web-x\" is forbidden: exceeded quota",
     {"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
      "conditions": [{"type": "ReplicaFailure", "status": "True", "lastTransitionTime": T,
                      "reason": "FailedCreate",
                      "message": "pods \"web-x\" is forbidden: exceeded quota"}]}),
    (rs(0), [pod("a")], "unable to delete pods: boom",
     {"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
      "conditions": [{"type": "ReplicaFailure", "status": "True", "lastTransitionTime": T,
                      "reason": "FailedDelete", "message": "unable to delete pods: boom"}]}),
    (rs(3, status={"replicas": 0, "conditions": [{"type": "ReplicaFailure", "status": "True",
                                                  "reason": "FailedCreate", "message": "old"}]}),
     [], "new error", {"replicas": 0, "conditions": [
         {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
          "message": "old"}]}),
    (rs(3, status={"replicas": 0, "observedGeneration": 1, "conditions": [
        {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate"}]}),
     [], None, {"replicas": 0, "observedGeneration": 1}),
    (rs(3, status={"replicas": 4, "readyReplicas": 4}), [pod("a", ready=False)], None,
     {"replicas": 1, "fullyLabeledReplicas": 1}),
], ids=["counts-fully-labeled-ready-available", "min-ready-seconds-limits-available",
        "no-pods-zero-counts-omitted", "create-error-sets-failure-condition",
        "delete-error-sets-failed-delete", "existing-failure-condition-kept",
        "clean-pass-removes-failure-condition", "stale-counts-dropped"])
def test_calculate_status(obj: dict[str, Any], pods: list[dict[str, Any]], err: str | None,
                          want: dict[str, Any]) -> None:
    before = repr(obj)
    assert plan.calculate_status(obj, pods, err, NOW) == want
    assert repr(obj) == before  # the owner is not mutated


@pytest.mark.parametrize("obj,new,want", [
    (rs(3, generation=2, status={"replicas": 3, "observedGeneration": 2}), {"replicas": 3}, None),
    (rs(3, generation=3, status={"replicas": 3, "observedGeneration": 2}), {"replicas": 3},
     {"replicas": 3, "observedGeneration": 3}),
    (rs(3, generation=2, status={"replicas": 2, "observedGeneration": 2}),
     {"replicas": 3, "readyReplicas": 1}, {"replicas": 3, "readyReplicas": 1,
                                           "observedGeneration": 2}),
    (rs(3, generation=2, status={"replicas": 3, "observedGeneration": 2}),
     {"replicas": 3, "conditions": [{"type": "ReplicaFailure"}]},
     {"replicas": 3, "conditions": [{"type": "ReplicaFailure"}], "observedGeneration": 2}),
], ids=["steady-state-no-write", "new-generation-observed", "counts-changed",
        "conditions-changed"])
def test_status_update(obj: dict[str, Any], new: dict[str, Any],
                       want: dict[str, Any] | None) -> None:
    assert plan.status_update(obj, new) == want


@pytest.mark.parametrize("obj,want", [
    (rs(2, min_ready=30, status={"readyReplicas": 2, "availableReplicas": 1}), 30.0),
    (rs(2, min_ready=30, status={"readyReplicas": 2, "availableReplicas": 2}), None),
    (rs(2, min_ready=30, status={"readyReplicas": 1}), None),
    (rs(2, status={"readyReplicas": 2}), None),
], ids=["ready-not-available-requeued", "all-available-no-requeue", "not-all-ready-no-requeue",
        "no-min-ready-no-requeue"])
def test_min_ready_requeue(obj: dict[str, Any], want: float | None) -> None:
    assert plan.min_ready_requeue(obj) == want


@pytest.mark.parametrize("kind,selector,labels,matches", [
    (REPLICA_SET, {"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
    (REPLICA_SET, {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}]},
     {"app": "b"}, True),
    (REPLICA_SET, None, {"app": "web"}, False),
    (REPLICA_SET, {"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, {"a": "1"}, False),
    (REPLICATION_CONTROLLER, {"app": "web"}, {"app": "web", "x": "y"}, True),
    (REPLICATION_CONTROLLER, {"app": "web"}, {"app": "db"}, False),
    (REPLICATION_CONTROLLER, None, {"app": "web"}, False),
], ids=["rs-match-labels", "rs-match-expressions", "rs-nil-selects-nothing",
        "rs-invalid-selects-nothing", "rc-map-selector", "rc-map-mismatch",
        "rc-nil-selects-nothing"])
def test_kind_selector(kind: plan.Kind, selector: Any, labels: dict[str, str],
                       matches: bool) -> None:
    assert kind.selector({"spec": {"selector": selector}}).matches(labels) is matches


def test_kinds() -> None:
    assert (REPLICA_SET.api_version, REPLICA_SET.component) == ("apps/v1", "replicaset-controller")
    assert (REPLICATION_CONTROLLER.api_version, REPLICATION_CONTROLLER.component) == (
        "v1", "replication-controller")


@pytest.mark.parametrize("terminating,want", [(None, None), (0, 0), (2, 2)],
                         ids=["replication-controller-has-no-field", "zero-is-written", "counted"])
def test_calculate_status_terminating_replicas(terminating: int | None, want: int | None) -> None:
    # DeploymentReplicaSetTerminatingReplicas (beta, on since 1.35): a pointer, so 0 is written
    got = plan.calculate_status(rs(3), [pod("a")], None, NOW, terminating)
    assert got.get("terminatingReplicas", "absent") == ("absent" if want is None else want)
    if want is not None:  # a change of the count alone is written
        obj = rs(3, status={**got, "terminatingReplicas": want + 1})
        assert plan.status_update(obj, got) is not None


@pytest.mark.parametrize("phase,deleting,counted", [
    ("Running", True, True), ("Pending", True, True), ("Succeeded", True, False),
    ("Failed", True, False), ("Running", False, False),
], ids=["running-deleting", "pending-deleting", "succeeded", "failed", "not-deleting"])
def test_filter_terminating_pods(phase: str, deleting: bool, counted: bool) -> None:
    p = pod("a")
    p["status"]["phase"] = phase
    if deleting:
        p["metadata"]["deletionTimestamp"] = T
    assert pc.filter_terminating_pods([p]) == ([p] if counted else [])
