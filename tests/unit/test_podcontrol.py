"""Shared pod-owning controller helpers (kubeproc.controllers.podcontrol) against upstream
pkg/controller/controller_utils.go (IsPodActive, ActivePodsWithRanks.Less, pod-deletion-cost,
GetPodFromTemplate, slow start, expectations), pkg/api/v1/pod IsPodAvailable and
controller_ref_manager.go ClaimObject."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from kubeproc.api import selectors
from kubeproc.controllers import podcontrol as pc

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def ts(seconds_ago: float) -> str:
    return pc.format_time(NOW - timedelta(seconds=seconds_ago))


def pod(name: str = "p", *, node: str = "n1", phase: str = "Running", ready: bool | None = True,
        ready_ago: float = 1000, created_ago: float = 2000, cost: str | None = None,
        restarts: int = 0, uid: str = "", labels: dict[str, str] | None = None,
        deleting: bool = False, owner: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": uid or f"uid-{name}",
                            "creationTimestamp": ts(created_ago), "labels": labels or {"app": "web"}}
    if cost is not None:
        meta["annotations"] = {pc.POD_DELETION_COST: cost}
    if deleting:
        meta["deletionTimestamp"] = ts(0)
    if owner is not None:
        meta["ownerReferences"] = [owner]
    status: dict[str, Any] = {"phase": phase,
                              "containerStatuses": [{"name": "c", "restartCount": restarts}]}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False",
                                 "lastTransitionTime": ts(ready_ago)}]
    return {"metadata": meta, "spec": {"nodeName": node}, "status": status}


@pytest.mark.parametrize("p,active", [
    (pod(), True),
    (pod(phase="Pending"), True),
    (pod(phase="Succeeded"), False),
    (pod(phase="Failed"), False),
    (pod(deleting=True), False),
], ids=["running", "pending", "succeeded-inactive", "failed-inactive", "terminating-inactive"])
def test_is_pod_active(p: dict[str, Any], active: bool) -> None:
    assert pc.is_pod_active(p) is active
    assert pc.filter_active_pods([p]) == ([p] if active else [])


@pytest.mark.parametrize("p,min_ready,available", [
    (pod(ready=True), 0, True),
    (pod(ready=False), 0, False),
    (pod(ready=None), 0, False),
    (pod(ready=True, ready_ago=10), 5, True),
    (pod(ready=True, ready_ago=5), 5, False),  # Add(minReady).Before(now): strictly before
    (pod(ready=True, ready_ago=3), 5, False),
], ids=["ready-no-min", "not-ready", "no-condition", "ready-long-enough", "exactly-min-not-yet",
        "ready-too-recently"])
def test_is_pod_available(p: dict[str, Any], min_ready: int, available: bool) -> None:
    assert pc.is_pod_available(p, min_ready, NOW) is available


@pytest.mark.parametrize("value,cost", [
    (None, 0), ("100", 100), ("-5", -5), ("0", 0), ("+10", 0), ("008", 0), ("abc", 0),
    ("2147483647", 2147483647), ("2147483648", 0), (" 1", 0),
], ids=["absent", "positive", "negative", "zero", "plus-sign-invalid", "leading-zero-invalid",
        "not-a-number", "int32-max", "overflow-invalid", "space-invalid"])
def test_deletion_cost(value: str | None, cost: int) -> None:
    assert pc.deletion_cost(pod(cost=value)) == cost


# (first, rank, second, rank): `first` is deleted before `second` (Less(first, second) and not
# Less(second, first))
LESS = [
    ("unassigned-before-assigned", pod(node=""), 0, pod(), 0),
    ("pending-before-running", pod(phase="Pending", ready=False), 0, pod(ready=False), 0),
    ("unknown-before-running", pod(phase="Unknown", ready=False), 0, pod(ready=False), 0),
    ("pending-before-unknown", pod(phase="Pending"), 0, pod(phase="Unknown"), 0),
    ("not-ready-before-ready", pod(ready=False), 0, pod(), 0),
    ("lower-deletion-cost-first", pod(cost="-1"), 0, pod(cost="10"), 0),
    ("cost-beats-doubled-up", pod(cost="1"), 0, pod(cost="2"), 5),
    ("doubled-up-first", pod(), 3, pod(), 1),
    ("ready-more-recently-first", pod(ready_ago=10), 0, pod(ready_ago=10_000), 0),
    ("more-restarts-first", pod(restarts=5), 0, pod(restarts=1), 0),
    ("newer-first", pod(created_ago=10), 0, pod(created_ago=10_000), 0),
    ("same-log-bucket-uid-order", pod(created_ago=1000, uid="a"), 0,
     pod(created_ago=1001, uid="b"), 0),
]


@pytest.mark.parametrize("first,r1,second,r2", [c[1:] for c in LESS], ids=[c[0] for c in LESS])
def test_deletion_less(first: dict[str, Any], r1: int, second: dict[str, Any], r2: int) -> None:
    assert pc.deletion_less(first, r1, second, r2, NOW)
    assert not pc.deletion_less(second, r2, first, r1, NOW)


def test_deletion_less_equal_pods_neither_first() -> None:
    a = pod("a", uid="same")
    assert not pc.deletion_less(a, 0, a, 0, NOW)


def test_pods_to_delete_ranks_and_related() -> None:
    running_n1 = pod("r1", node="n1", created_ago=5000)
    running_n2 = pod("r2", node="n2", created_ago=5000)
    pending = pod("pend", phase="Pending", ready=False)
    unscheduled = pod("unsched", node="", phase="Pending", ready=None)
    others_on_n2 = [pod(f"o{i}", node="n2") for i in range(2)]
    got = pc.pods_to_delete([running_n1, running_n2, pending, unscheduled],
                            [running_n1, running_n2, *others_on_n2], 3, NOW)
    assert [p["metadata"]["name"] for p in got] == ["unsched", "pend", "r2"]


def test_pods_to_delete_all_skips_sorting() -> None:
    pods = [pod("a"), pod("b", node="")]
    assert pc.pods_to_delete(pods, [], 2, NOW) == pods


@pytest.mark.parametrize("count,sizes", [
    (0, []), (1, [1]), (3, [1, 2]), (10, [1, 2, 4, 3]), (500, [1, 2, 4, 8, 16, 32, 64, 128, 245]),
], ids=["none", "one", "three", "ten", "burst"])
def test_slow_start_batches(count: int, sizes: list[int]) -> None:
    assert pc.slow_start_batches(count) == sizes
    assert sum(sizes) == count


OWNER = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
         "metadata": {"name": "web", "namespace": "default", "uid": "rs-uid"}}
REF = pc.controller_ref(OWNER, "apps/v1", "ReplicaSet")


def test_controller_ref_shape() -> None:
    assert REF == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "rs-uid",
                   "controller": True, "blockOwnerDeletion": True}


def test_pod_from_template() -> None:
    template = {"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"},
                             "finalizers": ["x/y"], "name": "ignored"},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    got = pc.pod_from_template(template, OWNER, REF)
    assert got == {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"generateName": "web-", "namespace": "default",
                                "labels": {"app": "web"}, "annotations": {"a": "b"},
                                "finalizers": ["x/y"], "ownerReferences": [REF]},
                   "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    got["spec"]["containers"][0]["image"] = "changed"
    got["metadata"]["labels"]["x"] = "y"
    assert template["spec"]["containers"][0]["image"] == "nginx"
    assert template["metadata"]["labels"] == {"app": "web"}


@pytest.mark.parametrize("name,prefix", [
    ("web", "web-"), ("Web", "Web"), ("a" * 250, "a" * 250),
], ids=["valid-name-dash", "invalid-prefix-bare-name", "too-long-bare-name"])
def test_pod_name_prefix(name: str, prefix: str) -> None:
    assert pc.pod_name_prefix(name) == prefix


OTHER_REF = {**REF, "uid": "other", "name": "other"}
MATCH = selectors.from_label_selector({"matchLabels": {"app": "web"}}).matches


@pytest.mark.parametrize("owner_deleting,p,where", [
    (False, pod(owner=REF), "owned"),
    (False, pod(owner=REF, labels={"app": "other"}), "release"),
    (True, pod(owner=REF, labels={"app": "other"}), "ignored"),
    (False, pod(), "adopt"),
    (True, pod(), "ignored"),
    (False, pod(labels={"app": "other"}), "ignored"),
    (False, pod(deleting=True), "ignored"),
    (False, pod(owner=OTHER_REF), "ignored"),
    (False, pod(owner={**OTHER_REF, "controller": False}), "adopt"),
], ids=["ours-matching-kept", "ours-not-matching-released", "no-release-while-owner-deleting",
        "orphan-adopted", "no-adoption-while-owner-deleting", "orphan-not-matching-ignored",
        "terminating-orphan-ignored", "other-controllers-pod-ignored",
        "non-controller-owner-ref-adoptable"])
def test_claim_pods(owner_deleting: bool, p: dict[str, Any], where: str) -> None:
    owner = {**OWNER, "metadata": {**OWNER["metadata"]}}
    if owner_deleting:
        owner["metadata"]["deletionTimestamp"] = ts(0)
    claim = pc.claim_pods(owner, [p], MATCH)
    got = {"owned": claim.owned, "adopt": claim.adopt, "release": claim.release}
    for k, v in got.items():
        assert v == ((p,) if k == where else ()), k


def test_adopted_and_released() -> None:
    p = pod(owner={**OTHER_REF, "controller": False})
    out = pc.adopted(p, REF)
    assert out["metadata"]["ownerReferences"] == [{**OTHER_REF, "controller": False}, REF]
    assert p["metadata"]["ownerReferences"] == [{**OTHER_REF, "controller": False}]
    back = pc.released(out, "rs-uid")
    assert back["metadata"]["ownerReferences"] == [{**OTHER_REF, "controller": False}]
    assert "ownerReferences" not in pc.released(pod(owner=REF), "rs-uid")["metadata"]
    with pytest.raises(ValueError):
        pc.adopted(pod(owner=OTHER_REF), REF)


def test_expectations() -> None:
    exp = pc.ControllerExpectations(timeout=300)
    assert exp.satisfied("ns/rs", 0)  # never recorded
    exp.expect_creations("ns/rs", 2, 0)
    assert not exp.satisfied("ns/rs", 1)
    exp.creation_observed("ns/rs")
    assert not exp.satisfied("ns/rs", 1)
    exp.creation_observed("ns/rs")
    assert exp.satisfied("ns/rs", 1)
    exp.expect_deletions("ns/rs", ["ns/a", "ns/b"], 10)
    exp.deletion_observed("ns/rs", "ns/a")
    exp.deletion_observed("ns/rs", "ns/a")  # observed twice counts once
    assert not exp.satisfied("ns/rs", 11)
    assert exp.satisfied("ns/rs", 311)  # expired
    exp.deletion_observed("ns/rs", "ns/b")
    assert exp.satisfied("ns/rs", 11)
    exp.expect_creations("ns/rs", 1, 20)
    exp.delete("ns/rs")
    assert exp.satisfied("ns/rs", 21)
