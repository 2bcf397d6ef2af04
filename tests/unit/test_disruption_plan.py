"""The disruption controller's pure rules (kubeproc.controllers.disruption.plan) against
pkg/controller/disruption/disruption.go: percentages round up, maxUnavailable, integer
minAvailable counting pods, controller finders (RS via its Deployment, RC, StatefulSet, other
scalable kinds), unmanaged pods, terminating and recently evicted pods, disruptedPods pruning,
the DisruptionAllowed condition, write-only-when-changed and failSafe.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from kubeproc.controllers.disruption import plan

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
T = "2026-01-01T12:00:00Z"


def ts(delta_seconds: float) -> str:
    return (NOW + timedelta(seconds=delta_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def owner(kind: str, name: str, api: str = "apps/v1") -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind, "name": name, "uid": f"uid-{name}", "controller": True}


def workload(kind: str, name: str, replicas: int, ctrl: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}"}
    if ctrl:
        meta["ownerReferences"] = [ctrl]
    return {"kind": kind, "metadata": meta, "spec": {"replicas": replicas}}


def pod(name: str, ready: bool = True, ctrl: dict[str, Any] | None = None,
        terminating: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "labels": {"app": "web"}}
    if ctrl:
        meta["ownerReferences"] = [ctrl]
    if terminating:
        meta["deletionTimestamp"] = T
    return {"metadata": meta, "status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


def pdb(status: dict[str, Any] | None = None, generation: int = 1, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "budget", "namespace": "ns", "generation": generation},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
            "status": status or {}}


WORKLOADS = {
    ("apps", "ReplicaSet", "rs"): workload("ReplicaSet", "rs", 5),
    ("apps", "ReplicaSet", "rs-of-dep"): workload("ReplicaSet", "rs-of-dep", 3,
                                                  owner("Deployment", "dep")),
    ("apps", "Deployment", "dep"): workload("Deployment", "dep", 10),
    ("apps", "ReplicaSet", "rs-orphaned-dep"): workload("ReplicaSet", "rs-orphaned-dep", 4,
                                                        owner("Deployment", "gone")),
    ("", "ReplicationController", "rc"): workload("ReplicationController", "rc", 6),
    ("apps", "StatefulSet", "ss"): workload("StatefulSet", "ss", 7),
}
KINDS = {("apps", "ReplicaSet"): ("replicasets.apps", True),
         ("apps", "Deployment"): ("deployments.apps", True),
         ("apps", "StatefulSet"): ("statefulsets.apps", True),
         ("", "ReplicationController"): ("replicationcontrollers", True),
         ("batch", "Job"): ("jobs.batch", False)}


def lookup(group: str, kind: str, ns: str, name: str) -> dict[str, Any] | None:
    return WORKLOADS.get((group, kind, name))


def kinds(group: str, kind: str) -> tuple[str, bool] | None:
    return KINDS.get((group, kind))


@pytest.mark.parametrize("value,total,up,want", [
    (2, 10, True, 2), ("50%", 3, True, 2), ("50%", 3, False, 1), ("34%", 3, True, 2),
    ("33%", 3, True, 1), ("1%", 1, True, 1), ("0%", 5, True, 0), ("100%", 7, True, 7),
    ("50%", 0, True, 0),
], ids=["int-as-is", "half-of-3-rounds-up", "half-of-3-floor", "34pct-of-3", "33pct-of-3",
        "1pct-of-1-is-1", "zero-pct", "all", "of-nothing"])
def test_scaled_value(value: Any, total: int, up: bool, want: int) -> None:
    assert plan.scaled_value(value, total, up) == want


@pytest.mark.parametrize("value,message", [
    ("5", "invalid value for IntOrString: invalid type: string is not a percentage"),
    ("x%", 'invalid value for IntOrString: invalid value "x%": strconv.Atoi: parsing "x": '
           "invalid syntax"),
], ids=["no-percent-sign", "not-a-number"])
def test_scaled_value_errors(value: str, message: str) -> None:
    with pytest.raises(plan.SyncError) as exc:
        plan.scaled_value(value, 10)
    assert str(exc.value) == message


@pytest.mark.parametrize("spec,pods,want", [
    ({"minAvailable": 2}, [pod("a"), pod("b"), pod("c")], (3, 2, [])),
    ({"minAvailable": 2}, [pod("a")], (1, 2, [])),
    ({"minAvailable": "50%"}, [pod("a", ctrl=owner("ReplicaSet", "rs"))], (5, 3, [])),
    ({"maxUnavailable": 1}, [pod("a", ctrl=owner("ReplicaSet", "rs"))], (5, 4, [])),
    ({"maxUnavailable": "30%"}, [pod("a", ctrl=owner("ReplicaSet", "rs"))], (5, 3, [])),
    ({"maxUnavailable": 9}, [pod("a", ctrl=owner("ReplicaSet", "rs"))], (5, 0, [])),
    ({"maxUnavailable": 1}, [pod("a", ctrl=owner("ReplicaSet", "rs-of-dep"))], (10, 9, [])),
    ({"maxUnavailable": 1}, [pod("a", ctrl=owner("ReplicaSet", "rs-orphaned-dep"))], (4, 3, [])),
    ({"maxUnavailable": 1}, [pod("a", ctrl=owner("ReplicationController", "rc", "v1"))], (6, 5, [])),
    ({"maxUnavailable": 1}, [pod("a", ctrl=owner("StatefulSet", "ss"))], (7, 6, [])),
    ({"maxUnavailable": 1}, [pod("a", ctrl=owner("ReplicaSet", "rs")),
                             pod("b", ctrl=owner("ReplicaSet", "rs")),
                             pod("c", ctrl=owner("StatefulSet", "ss"))], (12, 11, [])),
    ({"maxUnavailable": 1}, [pod("a", ctrl=owner("ReplicaSet", "rs")), pod("lone")],
     (5, 4, ["lone"])),
    ({"minAvailable": "100%"}, [pod("lone")], (0, 0, ["lone"])),
    ({}, [pod("a")], (0, 0, [])),
], ids=["int-min-counts-pods", "int-min-more-than-pods", "pct-min-rounds-up-of-rs-scale",
        "max-unavailable-int", "max-unavailable-pct-rounds-up", "max-unavailable-floor-zero",
        "rs-counts-as-its-deployment", "rs-whose-deployment-is-gone-uses-rs-scale",
        "replication-controller", "statefulset", "controllers-summed-once-each",
        "unmanaged-pods-reported", "only-unmanaged-pods", "neither-set"])
def test_expected_pod_count(spec: dict[str, Any], pods: list[dict[str, Any]],
                            want: tuple[int, int, list[str]]) -> None:
    assert plan.expected_pod_count(pdb(**spec), pods, lookup, kinds) == want


@pytest.mark.parametrize("ctrl,message", [
    (owner("ReplicaSet", "missing"), 'found no controllers for pod "a"'),
    ({**owner("ReplicaSet", "rs"), "uid": "other"}, 'found no controllers for pod "a"'),
    (owner("Job", "j", "batch/v1"), "jobs.batch does not implement the scale subresource"),
    (owner("Widget", "w", "example.com/v1"),
     'no matches for kind "Widget" in version "example.com/v1"'),
], ids=["controller-missing", "controller-uid-differs", "kind-without-scale", "unknown-kind"])
def test_finder_errors(ctrl: dict[str, Any], message: str) -> None:
    with pytest.raises(plan.SyncError) as exc:
        plan.expected_pod_count(pdb(maxUnavailable=1), [pod("a", ctrl=ctrl)], lookup, kinds)
    assert str(exc.value) == message


@pytest.mark.parametrize("pods,disrupted,want", [
    ([pod("a"), pod("b"), pod("c")], {}, 3),
    ([pod("a"), pod("b", ready=False)], {}, 1),
    ([pod("a"), pod("b", terminating=True)], {}, 1),
    ([pod("a"), pod("b")], {"b": ts(-30)}, 1),
    ([pod("a"), pod("b")], {"b": ts(-121)}, 2),
], ids=["all-ready", "not-ready-excluded", "terminating-excluded",
        "recently-evicted-excluded", "eviction-older-than-timeout-counts"])
def test_count_healthy(pods: list[dict[str, Any]], disrupted: dict[str, str], want: int) -> None:
    assert plan.count_healthy(pods, disrupted, NOW) == want


def test_disrupted_pod_map_prunes_and_schedules_recheck() -> None:
    budget = pdb(status={"disruptedPods": {"fresh": ts(-30), "stale": ts(-200),
                                           "dying": ts(-10), "gone": ts(-5)}}, minAvailable=1)
    pods = [pod("fresh"), pod("stale"), pod("dying", terminating=True)]
    kept, recheck, expired = plan.disrupted_pod_map(pods, budget, NOW)
    assert kept == {"fresh": ts(-30)}
    assert recheck == NOW + timedelta(seconds=90)
    assert expired == ["stale"]


def test_sync_min_available_two_of_three() -> None:
    pods = [pod(n, ctrl=owner("ReplicaSet", "rs")) for n in "abc"]
    got = plan.sync(pdb(minAvailable=2), pods, lookup, kinds, NOW)
    assert got.changed and got.events == [] and got.recheck_after is None
    assert got.status == {"currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3,
                          "disruptionsAllowed": 1, "observedGeneration": 1, "conditions": [
                              {"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods",
                               "message": "", "observedGeneration": 1, "lastTransitionTime": T}]}
    again = plan.sync(pdb(status=got.status, minAvailable=2), pods, lookup, kinds,
                      NOW + timedelta(minutes=5))
    assert not again.changed  # nothing moved: no write


@pytest.mark.parametrize("spec,ready,allowed,status,reason", [
    ({"minAvailable": 3}, 3, 0, "False", "InsufficientPods"),
    ({"minAvailable": 2}, 1, 0, "False", "InsufficientPods"),
    ({"maxUnavailable": "50%"}, 3, 1, "True", "SufficientPods"),
    ({"minAvailable": "50%"}, 3, 0, "False", "InsufficientPods"),
    ({"minAvailable": "40%"}, 3, 1, "True", "SufficientPods"),
], ids=["at-minimum-none-allowed", "below-minimum-clamped-to-zero",
        "max-unavailable-pct-of-scale", "min-available-half-of-5-rounds-up-to-3",
        "min-available-pct-of-scale"])
def test_sync_condition(spec: dict[str, Any], ready: int, allowed: int, status: str,
                        reason: str) -> None:
    # a ReplicaSet of scale 5 (WORKLOADS["rs"]) with 3 pods present
    pods = [pod(n, ready=i < ready, ctrl=owner("ReplicaSet", "rs")) for i, n in enumerate("abc")]
    got = plan.sync(pdb(**spec), pods, lookup, kinds, NOW)
    assert got.status["disruptionsAllowed"] == allowed
    cond = got.status["conditions"][0]
    assert (cond["status"], cond["reason"]) == (status, reason)


def test_sync_keeps_transition_time_when_status_holds() -> None:
    old_cond = {"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods",
                "message": "", "observedGeneration": 1, "lastTransitionTime": ts(-600)}
    status = {"currentHealthy": 3, "desiredHealthy": 1, "expectedPods": 3,
              "disruptionsAllowed": 2, "observedGeneration": 1, "conditions": [old_cond]}
    got = plan.sync(pdb(status=status, generation=2, minAvailable=2),
                    [pod(n) for n in "abc"], lookup, kinds, NOW)
    assert got.changed and got.status["observedGeneration"] == 2
    assert got.status["conditions"][0]["lastTransitionTime"] == ts(-600)
    assert got.status["conditions"][0]["observedGeneration"] == 2


def test_sync_no_pods_allows_nothing_and_says_so() -> None:
    got = plan.sync(pdb(maxUnavailable=1), [], lookup, kinds, NOW)
    assert got.status["disruptionsAllowed"] == 0 and got.status["expectedPods"] == 0
    assert got.events == [(pdb(maxUnavailable=1), "Normal", "NoPods", "No matching pods found")]


def test_sync_unmanaged_pods_event() -> None:
    got = plan.sync(pdb(maxUnavailable=1), [pod("lone")], lookup, kinds, NOW)
    [(_, type_, reason, message)] = got.events
    assert (type_, reason) == ("Warning", "UnmanagedPods")
    assert message.startswith("Pods selected by this PodDisruptionBudget (selector: "
                              "&LabelSelector{MatchLabels:map[string]string{app: web,},"
                              "MatchExpressions:[]LabelSelectorRequirement{},}) were found to be "
                              "unmanaged.")
    assert got.status["expectedPods"] == 0 and got.status["disruptionsAllowed"] == 0


def test_sync_recently_evicted_pod_and_recheck() -> None:
    status = {"disruptedPods": {"a": ts(-20)}}
    got = plan.sync(pdb(status=status, minAvailable=1), [pod("a"), pod("b")], lookup, kinds, NOW)
    assert got.status["currentHealthy"] == 1 and got.status["disruptionsAllowed"] == 0
    assert got.status["disruptedPods"] == {"a": ts(-20)}
    assert got.recheck_after == 100.0


def test_sync_fail_safe_sets_sync_failed() -> None:
    status = {"currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3,
              "disruptionsAllowed": 1, "observedGeneration": 1}
    budget = pdb(status=status, maxUnavailable=1)
    got = plan.sync(budget, [pod("a", ctrl=owner("Job", "j", "batch/v1"))], lookup, kinds, NOW)
    assert got.changed and got.status["disruptionsAllowed"] == 0
    assert got.status["currentHealthy"] == 3  # the rest is kept as it was
    assert got.status["conditions"] == [{
        "type": "DisruptionAllowed", "status": "False", "reason": "SyncFailed",
        "message": "jobs.batch does not implement the scale subresource",
        "observedGeneration": 1, "lastTransitionTime": T}]
    assert [e[2] for e in got.events] == ["CalculateExpectedPodCountFailed"]
    assert budget["status"] == status  # the input is not mutated
    again = plan.sync(pdb(status=got.status, maxUnavailable=1),
                      [pod("a", ctrl=owner("Job", "j", "batch/v1"))], lookup, kinds, NOW)
    assert not again.changed
