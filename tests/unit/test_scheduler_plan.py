"""Scheduling decisions (kubeproc.controllers.scheduler.plan) against the default scheduler's
filters (pkg/scheduler/framework/plugins) and FitError.Error() messages of Kubernetes 1.33."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeproc.controllers.scheduler.nodeinfo import build_infos
from kubeproc.controllers.scheduler.plan import (Bind, Unschedulable, pods_by_node, schedule,
                                                 tolerates)
from kubeproc.controllers.scheduler.requests import pod_requests

NOT_HELPFUL = ("preemption: 0/1 nodes are available: 1 Preemption is not helpful for "
               "scheduling.")
NO_VICTIMS = ("preemption: 0/1 nodes are available: 1 No preemption victims found for "
              "incoming pod.")


def node(name: str = "n1", cpu: str = "2", memory: str = "4Gi", pods: str = "110",
         labels: dict | None = None, taints: list | None = None, unschedulable: bool = False,
         **extra: str) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  **(labels or {})}},
            "spec": spec,
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods,
                                       "ephemeral-storage": "10Gi", **extra}}}


def ctr(cpu: str | None = None, memory: str | None = None, limits: dict | None = None,
        **kw: Any) -> dict[str, Any]:
    req = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    res: dict[str, Any] = {"requests": req} if req else {}
    if limits:
        res["limits"] = limits
    return {"name": "c", "image": "redis", "resources": res, **kw}


def pod(name: str = "p", *containers: dict, uid: str | None = None, **spec: Any) -> dict:
    return {"metadata": {"name": name, "namespace": "default", "uid": uid or f"uid-{name}"},
            "spec": {"containers": list(containers) or [ctr()], **spec}}


def bound(p: dict, node_name: str = "n1", **status: Any) -> dict:
    p = copy.deepcopy(p)
    p["spec"]["nodeName"] = node_name
    p["status"] = status
    return p


def affinity(*terms: dict) -> dict:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": list(terms)}}}


def expr(key: str, op: str, *values: str) -> dict:
    return {"matchExpressions": [{"key": key, "operator": op, "values": list(values)}]}


TAINT = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}

CASES = [
    # (id, pod, nodes, pods on nodes, expected)
    ("fits-binds", pod("p", ctr("1", "1Gi")), [node()], [], Bind("n1")),
    ("no-requests-binds", pod(), [node()], [], Bind("n1")),
    ("insufficient-memory",
     pod("p", ctr(memory="5Gi")), [node()], [],
     Unschedulable("0/1 nodes are available: 1 Insufficient memory. " + NO_VICTIMS)),
    ("insufficient-cpu-and-memory-both-listed-sorted",
     pod("p", ctr("3", "5Gi")), [node()], [],
     Unschedulable("0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. "
                   + NO_VICTIMS)),
    ("requests-of-bound-pods-count",
     pod("p", ctr("1")), [node()], [bound(pod("a", ctr("1500m")))],
     Unschedulable("0/1 nodes are available: 1 Insufficient cpu. " + NO_VICTIMS)),
    ("exactly-fills-allocatable-fits",
     pod("p", ctr("500m")), [node()], [bound(pod("a", ctr("1500m")))], Bind("n1")),
    ("succeeded-pods-hold-nothing",
     pod("p", ctr("1")), [node()], [bound(pod("a", ctr("2")), phase="Succeeded")], Bind("n1")),
    ("failed-pods-hold-nothing",
     pod("p", ctr("1")), [node()], [bound(pod("a", ctr("2")), phase="Failed")], Bind("n1")),
    ("deleting-pods-hold-nothing",
     pod("p", ctr("1")), [node()],
     [dict(bound(pod("a", ctr("2"))),
           metadata={"name": "a", "uid": "a", "deletionTimestamp": "2026-01-01T00:00:00Z"})],
     Bind("n1")),
    ("the-pod-itself-is-not-counted",
     pod("p", ctr("2")), [node()], [bound(pod("p", ctr("2")))], Bind("n1")),
    ("limit-only-counts-as-request",
     pod("p", ctr(limits={"memory": "5Gi"})), [node()], [],
     Unschedulable("0/1 nodes are available: 1 Insufficient memory. " + NO_VICTIMS)),
    ("overhead-is-added",
     pod("p", ctr("1900m"), overhead={"cpu": "200m"}), [node()], [],
     Unschedulable("0/1 nodes are available: 1 Insufficient cpu. " + NO_VICTIMS)),
    ("init-container-max-rule-fits",
     pod("p", ctr("1"), initContainers=[ctr("2")]), [node()], [], Bind("n1")),
    ("init-container-max-rule-too-big",
     pod("p", ctr("1"), initContainers=[ctr("3")]), [node()], [],
     Unschedulable("0/1 nodes are available: 1 Insufficient cpu. " + NO_VICTIMS)),
    ("sidecar-adds-to-containers",
     pod("p", ctr("1500m"), initContainers=[ctr("1", restartPolicy="Always")]), [node()], [],
     Unschedulable("0/1 nodes are available: 1 Insufficient cpu. " + NO_VICTIMS)),
    ("too-many-pods",
     pod(), [node(pods="1")], [bound(pod("a"))],
     Unschedulable("0/1 nodes are available: 1 Too many pods. " + NO_VICTIMS)),
    ("extended-resource-missing-on-node",
     pod("p", ctr(limits={"example.com/gpu": "1"})), [node()], [],
     Unschedulable("0/1 nodes are available: 1 Insufficient example.com/gpu. " + NO_VICTIMS)),
    ("extended-resource-present-fits",
     pod("p", ctr(limits={"example.com/gpu": "1"})), [node(**{"example.com/gpu": "1"})], [],
     Bind("n1")),
    ("lower-priority-victims-that-free-room-nominate",
     pod("p", ctr("2"), priority=100), [node()], [bound(pod("a", ctr("1")))],
     Unschedulable("0/1 nodes are available: 1 Insufficient cpu.", nominated_node="n1")),
    ("lower-priority-victims-not-enough-report-reasons",
     pod("p", ctr("3"), priority=100), [node()], [bound(pod("a", ctr("1")))],
     Unschedulable("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are "
                   "available: 1 Insufficient cpu.")),
    ("preemption-policy-never",
     pod("p", ctr("3"), preemptionPolicy="Never"), [node()], [],
     Unschedulable("0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible "
                   "due to preemptionPolicy=Never.")),
    ("node-selector-mismatch",
     pod(nodeSelector={"disk": "ssd"}), [node()], [],
     Unschedulable("0/1 nodes are available: 1 node(s) didn't match Pod's node "
                   "affinity/selector. " + NOT_HELPFUL)),
    ("node-selector-match", pod(nodeSelector={"disk": "ssd"}),
     [node(labels={"disk": "ssd"})], [], Bind("n1")),
    ("affinity-in-match", pod(affinity=affinity(expr("disk", "In", "hdd", "ssd"))),
     [node(labels={"disk": "ssd"})], [], Bind("n1")),
    ("affinity-notin-excludes", pod(affinity=affinity(expr("disk", "NotIn", "ssd"))),
     [node(labels={"disk": "ssd"})], [],
     Unschedulable("0/1 nodes are available: 1 node(s) didn't match Pod's node "
                   "affinity/selector. " + NOT_HELPFUL)),
    ("affinity-notin-absent-label-matches", pod(affinity=affinity(expr("disk", "NotIn", "x"))),
     [node()], [], Bind("n1")),
    ("affinity-exists", pod(affinity=affinity(expr("kubernetes.io/hostname", "Exists"))),
     [node()], [], Bind("n1")),
    ("affinity-does-not-exist-fails",
     pod(affinity=affinity(expr("kubernetes.io/hostname", "DoesNotExist"))), [node()], [],
     Unschedulable("0/1 nodes are available: 1 node(s) didn't match Pod's node "
                   "affinity/selector. " + NOT_HELPFUL)),
    ("affinity-gt", pod(affinity=affinity(expr("cores", "Gt", "4"))),
     [node(labels={"cores": "8"})], [], Bind("n1")),
    ("affinity-lt-fails", pod(affinity=affinity(expr("cores", "Lt", "4"))),
     [node(labels={"cores": "8"})], [],
     Unschedulable("0/1 nodes are available: 1 node(s) didn't match Pod's node "
                   "affinity/selector. " + NOT_HELPFUL)),
    ("affinity-gt-non-integer-label-fails", pod(affinity=affinity(expr("cores", "Gt", "4"))),
     [node(labels={"cores": "many"})], [],
     Unschedulable("0/1 nodes are available: 1 node(s) didn't match Pod's node "
                   "affinity/selector. " + NOT_HELPFUL)),
    ("affinity-gt-underscore-label-is-not-an-integer",
     pod(affinity=affinity(expr("cores", "Gt", "4"))), [node(labels={"cores": "1_0"})], [],
     Unschedulable("0/1 nodes are available: 1 node(s) didn't match Pod's node "
                   "affinity/selector. " + NOT_HELPFUL)),
    ("affinity-gt-two-values-invalid",
     pod(affinity=affinity(expr("cores", "Gt", "4", "5"))), [node(labels={"cores": "8"})], [],
     Unschedulable("0/1 nodes are available: 1 node(s) didn't match Pod's node "
                   "affinity/selector. " + NOT_HELPFUL)),
    ("affinity-in-without-values-invalid",
     pod(affinity=affinity(expr("disk", "In"))), [node(labels={"disk": "ssd"})], [],
     Unschedulable("0/1 nodes are available: 1 node(s) didn't match Pod's node "
                   "affinity/selector. " + NOT_HELPFUL)),
    ("affinity-terms-are-ored",
     pod(affinity=affinity(expr("disk", "In", "hdd"), expr("kubernetes.io/hostname", "In",
                                                           "n1"))), [node()], [], Bind("n1")),
    ("affinity-empty-term-matches-nothing", pod(affinity=affinity({})), [node()], [],
     Unschedulable("0/1 nodes are available: 1 node(s) didn't match Pod's node "
                   "affinity/selector. " + NOT_HELPFUL)),
    ("match-fields-name-in",
     pod(affinity=affinity({"matchFields": [{"key": "metadata.name", "operator": "In",
                                             "values": ["n1"]}]})), [node()], [], Bind("n1")),
    ("match-fields-other-name-prefilter",
     pod(affinity=affinity({"matchFields": [{"key": "metadata.name", "operator": "In",
                                             "values": ["n2"]}]})), [node()], [],
     Unschedulable("0/1 nodes are available: 1 node(s) didn't satisfy plugin(s) "
                   "[NodeAffinity]. " + NOT_HELPFUL)),
    ("match-fields-conflict-prefilter-rejects",
     pod(affinity=affinity({"matchFields": [
         {"key": "metadata.name", "operator": "In", "values": ["n1"]},
         {"key": "metadata.name", "operator": "In", "values": ["n2"]}]})), [node()], [],
     Unschedulable("0/1 nodes are available: pod affinity terms conflict. " + NOT_HELPFUL)),
    ("match-fields-notin-excludes",
     pod(affinity=affinity({"matchFields": [{"key": "metadata.name", "operator": "NotIn",
                                             "values": ["n1"]}]})), [node()], [],
     Unschedulable("0/1 nodes are available: 1 node(s) didn't match Pod's node "
                   "affinity/selector. " + NOT_HELPFUL)),
    ("untolerated-taint",
     pod(), [node(taints=[TAINT])], [],
     Unschedulable("0/1 nodes are available: 1 node(s) had untolerated taint "
                   "{dedicated: db}. " + NOT_HELPFUL)),
    ("untolerated-taint-empty-value",
     pod(), [node(taints=[{"key": "node-role.kubernetes.io/control-plane",
                           "effect": "NoSchedule"}])], [],
     Unschedulable("0/1 nodes are available: 1 node(s) had untolerated taint "
                   "{node-role.kubernetes.io/control-plane: }. " + NOT_HELPFUL)),
    ("prefer-no-schedule-taint-ignored",
     pod(), [node(taints=[dict(TAINT, effect="PreferNoSchedule")])], [], Bind("n1")),
    ("taint-tolerated-equal",
     pod(tolerations=[{"key": "dedicated", "operator": "Equal", "value": "db"}]),
     [node(taints=[TAINT])], [], Bind("n1")),
    ("taint-tolerated-wildcard-exists",
     pod(tolerations=[{"operator": "Exists"}]), [node(taints=[TAINT])], [], Bind("n1")),
    ("no-execute-taint-filters",
     pod(tolerations=[{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]),
     [node(taints=[dict(TAINT, effect="NoExecute")])], [],
     Unschedulable("0/1 nodes are available: 1 node(s) had untolerated taint "
                   "{dedicated: db}. " + NOT_HELPFUL)),
    ("cordoned-node",
     pod(), [node(unschedulable=True)], [],
     Unschedulable("0/1 nodes are available: 1 node(s) were unschedulable. " + NOT_HELPFUL)),
    ("cordoned-node-tolerated",
     pod(tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                       "effect": "NoSchedule"}]), [node(unschedulable=True)], [], Bind("n1")),
    ("unschedulable-checked-before-resources",
     pod("p", ctr("9")), [node(unschedulable=True)], [],
     Unschedulable("0/1 nodes are available: 1 node(s) were unschedulable. " + NOT_HELPFUL)),
    ("node-name-mismatch",
     pod(nodeName="other"), [node()], [],
     Unschedulable("0/1 nodes are available: 1 node(s) didn't match the requested node "
                   "name. " + NOT_HELPFUL)),
    ("host-port-conflict",
     pod("p", ctr(ports=[{"containerPort": 80, "hostPort": 8080}])), [node()],
     [bound(pod("a", ctr(ports=[{"containerPort": 80, "hostPort": 8080}])))],
     Unschedulable("0/1 nodes are available: 1 node(s) didn't have free ports for the "
                   "requested pod ports. " + NO_VICTIMS)),
    ("host-port-other-protocol-fits",
     pod("p", ctr(ports=[{"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}])),
     [node()], [bound(pod("a", ctr(ports=[{"containerPort": 80, "hostPort": 8080}])))],
     Bind("n1")),
    ("two-nodes-histogram",
     pod("p", ctr("3")), [node("n1"), node("n2", taints=[TAINT])], [],
     Unschedulable("0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated "
                   "taint {dedicated: db}. preemption: 0/2 nodes are available: 1 No "
                   "preemption victims found for incoming pod, 1 Preemption is not helpful "
                   "for scheduling.")),
    ("two-nodes-first-feasible",
     pod("p", ctr("1")), [node("n1", taints=[TAINT]), node("n2")], [], Bind("n2")),
    ("no-nodes", pod(), [], [], Unschedulable("no nodes available to schedule pods")),
]


@pytest.mark.parametrize("p,nodes,others,expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_schedule(p: dict, nodes: list, others: list, expected: Any) -> None:
    before = copy.deepcopy((p, nodes, others))
    assert schedule(p, nodes, pods_by_node(others)) == expected
    assert (p, nodes, others) == before  # inputs untouched


def test_terminating_pods_count_when_asked() -> None:
    other = bound(pod("a", ctr("2")))
    other["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    got = schedule(pod("p", ctr("1")), [node()], pods_by_node([other]), count_terminating=True)
    assert got == Unschedulable("0/1 nodes are available: 1 Insufficient cpu. " + NO_VICTIMS)


REQUEST_CASES = [
    ("sum-of-containers", pod("p", ctr("1", "1Gi"), ctr("500m", "1Mi")),
     {"cpu": 1500, "memory": 1024**3 + 1024**2}),
    ("init-max-over-sum", pod("p", ctr("1"), initContainers=[ctr("2"), ctr("300m")]),
     {"cpu": 2000}),
    # a sidecar runs beside the later init containers and the app containers
    ("sidecar-then-init", pod("p", ctr("1"), initContainers=[
        ctr("500m", restartPolicy="Always"), ctr("2")]), {"cpu": 2500}),
    ("overhead", pod("p", ctr("1"), overhead={"cpu": "250m", "memory": "120Mi"}),
     {"cpu": 1250, "memory": 120 * 1024**2}),
    ("milli-cpu-rounds-up", pod("p", ctr("0.0001")), {"cpu": 1}),
]


@pytest.mark.parametrize("p,expected", [c[1:] for c in REQUEST_CASES],
                         ids=[c[0] for c in REQUEST_CASES])
def test_pod_requests(p: dict, expected: dict) -> None:
    assert pod_requests(p) == expected


TOLERATION_CASES = [
    ("equal-same-value", {"key": "k", "value": "v"}, {"key": "k", "value": "v",
                                                      "effect": "NoSchedule"}, True),
    ("equal-other-value", {"key": "k", "value": "w"}, {"key": "k", "value": "v",
                                                       "effect": "NoSchedule"}, False),
    ("exists-ignores-value", {"key": "k", "operator": "Exists"},
     {"key": "k", "value": "v", "effect": "NoSchedule"}, True),
    ("empty-key-exists-tolerates-all", {"operator": "Exists"},
     {"key": "any", "value": "v", "effect": "NoExecute"}, True),
    ("effect-must-match", {"key": "k", "operator": "Exists", "effect": "NoExecute"},
     {"key": "k", "effect": "NoSchedule"}, False),
    ("other-key", {"key": "j", "operator": "Exists"}, {"key": "k", "effect": "NoSchedule"},
     False),
    ("unknown-operator", {"key": "k", "operator": "Gt", "value": "1"},
     {"key": "k", "value": "2", "effect": "NoSchedule"}, False),
]


@pytest.mark.parametrize("tol,taint,expected", [c[1:] for c in TOLERATION_CASES],
                         ids=[c[0] for c in TOLERATION_CASES])
def test_tolerates(tol: dict, taint: dict, expected: bool) -> None:
    assert tolerates(tol, taint) is expected


# ---- NodeInfo aggregates (infos=) decide exactly like walking the pods -------------------


HP = {"containerPort": 80, "hostPort": 8080}
EQUIVALENCE_CASES = CASES + [
    ("pods-spread-over-nodes",
     pod("p", ctr("1")), [node("n1"), node("n2")],
     [bound(pod("a", ctr("1500m"))), bound(pod("b", ctr("1500m")), "n2"),
      bound(pod("c", ctr("100m")), "n2")],
     None),
    ("self-excluded-on-a-full-node-with-preemption",
     pod("p", ctr("2"), priority=10), [node("n1")],
     [bound(pod("p", ctr("2"))), bound(pod("a", ctr("1")))], None),
    ("self-excluded-keeps-host-port-free",
     pod("p", ctr(ports=[HP])), [node()], [bound(pod("p", ctr(ports=[HP])))], None),
    ("wildcard-host-ip-conflicts-with-specific",
     pod("p", ctr(ports=[HP])), [node()],
     [bound(pod("a", ctr(ports=[dict(HP, hostIP="10.0.0.1")])))], None),
    ("distinct-host-ips-fit",
     pod("p", ctr(ports=[dict(HP, hostIP="10.0.0.2")])), [node()],
     [bound(pod("a", ctr(ports=[dict(HP, hostIP="10.0.0.1")])))], None),
    ("terminating-pod-with-port",
     pod("p", ctr("1", ports=[HP])), [node()],
     [dict(bound(pod("a", ctr("2", ports=[HP]))),
           metadata={"name": "a", "uid": "a", "deletionTimestamp": "2026-01-01T00:00:00Z"})],
     None),
    ("too-many-pods-counts-only-live-ones",
     pod(), [node(pods="2")],
     [bound(pod("a")), bound(pod("b"), phase="Succeeded"), bound(pod("c"))], None),
    ("pods-on-unknown-node-ignored",
     pod("p", ctr("2")), [node()], [bound(pod("a", ctr("2")), "gone")], None),
]


@pytest.mark.parametrize("count_terminating", [False, True], ids=["live", "count-terminating"])
@pytest.mark.parametrize("p,nodes,others", [c[1:4] for c in EQUIVALENCE_CASES],
                         ids=[c[0] for c in EQUIVALENCE_CASES])
def test_infos_give_the_same_result(p: dict, nodes: list, others: list,
                                    count_terminating: bool) -> None:
    before = copy.deepcopy((p, nodes, others))
    want = schedule(p, nodes, pods_by_node(others), count_terminating=count_terminating)
    infos = build_infos(others, count_terminating=count_terminating)
    got = schedule(p, nodes, count_terminating=count_terminating, infos=infos)
    assert got == want
    assert (p, nodes, others) == before  # inputs untouched
    assert infos == build_infos(others, count_terminating=count_terminating)


def test_infos_excluded_self_changes_the_answer() -> None:
    # guards the case above against passing vacuously: without the uid rule it would not fit
    infos = build_infos([bound(pod("p", ctr("2")))])
    assert schedule(pod("p", ctr("2")), [node()], infos=infos, count_terminating=True) \
        == Bind("n1")
    assert schedule(pod("q", ctr("2")), [node()], infos=infos, count_terminating=True) \
        == Unschedulable("0/1 nodes are available: 1 Insufficient cpu. " + NO_VICTIMS)


@pytest.mark.parametrize("kw", [
    {"pods_on_nodes": {}, "infos": {}},
    {"infos": build_infos([bound(pod("a"))], count_terminating=True)},
], ids=["both-sources", "infos-built-with-other-count-terminating"])
def test_infos_misuse_is_rejected(kw: dict) -> None:
    with pytest.raises(ValueError):
        schedule(pod(), [node()], count_terminating=False, **kw)
