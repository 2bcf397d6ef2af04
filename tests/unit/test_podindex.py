"""The controllers' pod index (controller_utils.go PodControllerUIDIndex / FilterPodsByOwner) and
the ReplicaSet controller's memoized pod facts, which must decide exactly as
podcontrol.claim_pods, FilterTerminatingPods and calculate_status do on the raw pods."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from kubeproc.api import selectors
from kubeproc.controllers import podcontrol as pc
from kubeproc.controllers.replicaset import plan
from kubeproc.controllers.replicaset.facts import PodFacts, claim_facts
from kubeproc.controllers.podindex import PodIndex, index_value, orphan_key

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
REF = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-uid",
       "controller": True, "blockOwnerDeletion": True}
OTHER = {**REF, "name": "other", "uid": "other-uid"}
OWNER = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
         "metadata": {"name": "rs", "namespace": "default", "uid": "rs-uid"},
         "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web", "tier": "fe"}}}}}
SEL = selectors.from_label_selector({"matchLabels": {"app": "web"}})


def ts(seconds_ago: float) -> str:
    return pc.format_time(NOW - timedelta(seconds=seconds_ago))


def pod(name: str, ns: str = "default", *, owner: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None, phase: str = "Running", ready: bool | None = True,
        ready_ago: float = 100, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "uid": f"uid-{name}",
                            "labels": {"app": "web"} if labels is None else labels}
    if owner is not None:
        meta["ownerReferences"] = [owner]
    if deleting:
        meta["deletionTimestamp"] = ts(0)
    status: dict[str, Any] = {"phase": phase}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False",
                                 "lastTransitionTime": ts(ready_ago)}]
    return {"metadata": meta, "status": status}


@pytest.mark.parametrize("p,value", [
    (pod("a", owner=REF), "rs-uid"),
    (pod("a"), "orphan/default"),
    (pod("a", "other-ns"), "orphan/other-ns"),
    (pod("a", owner={**REF, "controller": False}), "orphan/default"),
], ids=["controller-uid", "orphan-by-namespace", "orphan-other-namespace",
        "non-controller-ref-is-orphan"])
def test_index_value(p: dict[str, Any], value: str) -> None:
    assert index_value(p) == value
    assert orphan_key("default") == "orphan/default"


def names(entries: Any) -> list[str]:
    return sorted(e["metadata"]["name"] for e in entries)


def test_owned_and_orphans_follow_updates_and_deletes() -> None:
    idx: PodIndex[dict[str, Any]] = PodIndex()
    idx.put(pod("mine", owner=REF))
    idx.put(pod("theirs", owner=OTHER))
    idx.put(pod("orphan"))
    idx.put(pod("elsewhere", "other-ns"))
    idx.put(pod("mine-elsewhere", "other-ns", owner=REF))
    assert names(idx.owned_and_orphans("default", "rs-uid")) == ["mine", "orphan"]
    # adoption moves a pod from the orphan bucket to its owner's
    assert idx.put(pod("orphan", owner=REF)) is not None
    assert names(idx.owned_and_orphans("default", "rs-uid")) == ["mine", "orphan"]
    assert names(idx.by_index("orphan/default")) == []
    # release: back to the orphans, gone from the old owner
    idx.put(pod("mine"))
    assert names(idx.by_index("rs-uid")) == ["mine-elsewhere", "orphan"]
    assert names(idx.by_index("orphan/default")) == ["mine"]
    assert idx.remove("default", "mine") is not None
    assert idx.remove("default", "mine") is None
    assert names(idx.owned_and_orphans("default", "rs-uid")) == ["orphan"]
    assert names(idx.owned_and_orphans("default", "other-uid")) == ["theirs"]
    assert names(idx.namespace("default")) == ["orphan", "theirs"]
    assert idx.get("other-ns", "elsewhere") is not None


def test_index_keeps_made_entries() -> None:
    idx: PodIndex[str] = PodIndex(lambda p: p["metadata"]["name"].upper())
    idx.put(pod("a", owner=REF))
    assert list(idx.by_index("rs-uid")) == ["A"]
    assert idx.get("default", "a")["metadata"]["name"] == "a"


CLAIM_CASES = [
    (False, pod("p", owner=REF), "owned"),
    (False, pod("p", owner=REF, labels={"app": "x"}), "release"),
    (True, pod("p", owner=REF, labels={"app": "x"}), "ignored"),
    (False, pod("p"), "adopt"),
    (True, pod("p"), "ignored"),
    (False, pod("p", labels={"app": "x"}), "ignored"),
    (False, pod("p", deleting=True), "ignored"),
    (False, pod("p", owner=OTHER), "ignored"),
    (False, pod("p", owner={**REF, "uid": None}), "ignored"),
    (False, pod("p", "other-ns"), "ignored"),
]
CLAIM_IDS = ["ours-matching-kept", "ours-not-matching-released", "no-release-while-deleting",
             "orphan-adopted", "no-adoption-while-deleting", "orphan-not-matching-ignored",
             "terminating-orphan-ignored", "other-controllers-pod-ignored",
             "controller-ref-without-uid-ignored", "orphan-of-other-namespace-ignored"]


@pytest.mark.parametrize("owner_deleting,p,where", CLAIM_CASES, ids=CLAIM_IDS)
def test_memoized_claim_decides_as_claim_pods(owner_deleting: bool, p: dict[str, Any],
                                              where: str) -> None:
    owner = {**OWNER, "metadata": {**OWNER["metadata"]}}
    if owner_deleting:
        owner["metadata"]["deletionTimestamp"] = ts(0)
    slow = pc.claim_pods(owner, [p], SEL.matches)
    fast = claim_facts(owner, [PodFacts(p)], SEL)
    got = {"owned": tuple(f.pod for f in fast.owned), "adopt": tuple(fast.adopt),
           "release": tuple(fast.release)}
    assert got == {"owned": slow.owned, "adopt": slow.adopt, "release": slow.release}
    for k, v in got.items():
        assert v == ((p,) if k == where else ()), k


@pytest.mark.parametrize("p,active,terminating,ready", [
    (pod("p"), True, False, True),
    (pod("p", ready=False), True, False, False),
    (pod("p", ready=None), True, False, False),
    (pod("p", deleting=True), False, True, True),
    (pod("p", phase="Succeeded", deleting=True), False, False, True),
    (pod("p", phase="Failed"), False, False, True),
], ids=["running-ready", "not-ready", "no-ready-condition", "terminating",
        "deleted-after-success-not-terminating", "failed-inactive"])
def test_facts_match_podcontrol(p: dict[str, Any], active: bool, terminating: bool,
                                ready: bool) -> None:
    f = PodFacts(p)
    assert f.active is active is pc.is_pod_active(p)
    assert f.terminating is terminating is (pc.filter_terminating_pods([p]) == [p])
    assert (f.ready is not None) is ready is pc.is_pod_ready(p)


def test_facts_remember_the_match_per_selector() -> None:
    f = PodFacts(pod("p"))
    other = selectors.from_label_selector({"matchLabels": {"app": "other"}})
    assert f.matches(SEL) is True
    assert f.matches(other) is False
    assert f.matches(SEL) is True


@pytest.mark.parametrize("min_ready", [0, 50, 500], ids=["no-min-ready", "available", "too-recent"])
def test_calculate_status_with_memoized_readiness_is_the_same(min_ready: int) -> None:
    owner = {**OWNER, "spec": {**OWNER["spec"], "minReadySeconds": min_ready}}
    pods = [pod("a", labels={"app": "web", "tier": "fe"}), pod("b", ready=False),
            pod("c", ready_ago=10), pod("d", ready=None, labels={"app": "web", "tier": "fe"})]
    plain = plan.calculate_status(owner, pods, None, NOW, 1)
    memo = plan.calculate_status(owner, pods, None, NOW, 1,
                                 ready_conditions=[PodFacts(p).ready for p in pods])
    assert memo == plain
    assert plain["replicas"] == 4 and plain["fullyLabeledReplicas"] == 2
    assert plain["readyReplicas"] == 2
    assert plain.get("availableReplicas", 0) == {0: 2, 50: 1, 500: 0}[min_ready]


@pytest.mark.parametrize("ago,min_ready,ok", [
    (100, 0, True), (100, 50, True), (10, 50, False), (50, 50, False),
], ids=["zero-min-ready", "long-enough", "too-recent", "exactly-min-ready-not-yet"])
def test_ready_long_enough(ago: float, min_ready: int, ok: bool) -> None:
    cond = {"type": "Ready", "status": "True", "lastTransitionTime": ts(ago)}
    assert pc.ready_long_enough(cond, min_ready, NOW) is ok
    assert pc.is_pod_available(pod("p", ready_ago=ago), min_ready, NOW) is ok


def test_deployment_pod_map_groups_selected_pods_by_replicaset_lazily() -> None:
    from kubeproc.controllers.deployment.reconciler import _PodMap
    idx: PodIndex[dict[str, Any]] = PodIndex()
    for p in (pod("a", owner=REF), pod("b", owner=REF, labels={"app": "x"}),
              pod("c", owner=OTHER), pod("d"), pod("e", "other-ns", owner=REF)):
        idx.put(p)
    pods = _PodMap(idx, "default", ["rs-uid", "empty-uid"], SEL)
    assert pods._map is None  # getPodMapForDeployment runs only when read (Recreate)
    idx.put(pod("f", owner=REF))  # what the sync sees is the cache at first read
    assert {k: names(v) for k, v in pods.items()} == {"rs-uid": ["a", "f"], "empty-uid": []}
    assert len(pods) == 2 and pods["empty-uid"] == []
