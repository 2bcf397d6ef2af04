"""Table-driven tests of the StatefulSet plan, one rule per case (ports of
pkg/controller/statefulset stateful_set_control.go / stateful_set_utils.go and
pkg/controller/history/controller_history.go)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from kubeproc.controllers.statefulset import history, identity as ident, storage
from kubeproc.controllers.statefulset.actions import (
    AdoptPod, AdoptRevision, CreateClaim, CreatePod, CreateRevision, DeletePod, DeleteRevision, ReleasePod,
    UpdateClaimOwnerRefs, UpdatePod, UpdateRevision, UpdateStatus)
from kubeproc.controllers.statefulset.plan import max_unavailable, plan

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_set(replicas: int = 3, policy: str = "OrderedReady", strategy: dict[str, Any] | None = None,
             image: str = "nginx:1", **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "ns", "uid": "set-uid", "generation": 1},
        "spec": {"replicas": replicas, "serviceName": "svc", "podManagementPolicy": policy,
                 "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": image}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"tier": "db"}},
                                           "spec": {"accessModes": ["ReadWriteOnce"]}}],
                 "updateStrategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                 "revisionHistoryLimit": 10},
        "status": {}}
    s["spec"].update(spec)
    return s


def revision_of(sts: dict[str, Any], number: int = 1) -> dict[str, Any]:
    rev = history.new_revision(sts, number, 0)
    rev["metadata"]["uid"] = f"rev-{number}"
    rev["metadata"]["creationTimestamp"] = _ts(NOW - timedelta(hours=10 - number))
    return rev


def make_pod(sts: dict[str, Any], ordinal: int, rev: str, phase: str = "Running", ready: bool = True,
             terminating: bool = False, ready_since: datetime | None = None) -> dict[str, Any]:
    pod = ident.new_pod(sts, ordinal, rev)
    pod["metadata"]["uid"] = f"pod-{ordinal}"
    if terminating:
        pod["metadata"]["deletionTimestamp"] = _ts(NOW)
    pod["status"] = {"phase": phase}
    if ready:
        since = ready_since or NOW - timedelta(hours=1)
        pod["status"]["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": _ts(since)}]
    return pod


def make_claim(sts: dict[str, Any], ordinal: int, refs: list[dict[str, Any]] | None = None,
               terminating: bool = False) -> dict[str, Any]:
    claim = dict(ident.claims_for(sts, ordinal)[0][1])
    claim["metadata"] = dict(claim["metadata"], uid=f"claim-{ordinal}", ownerReferences=refs or [])
    if terminating:
        claim["metadata"]["deletionTimestamp"] = _ts(NOW)
    return claim


def world(sts: dict[str, Any], ordinals: list[int], **pod_kw: Any) -> tuple[list, list, list, str]:
    """A set at revision 1 with healthy pods (overridable) and their claims."""
    rev = revision_of(sts)
    name = rev["metadata"]["name"]
    sts["status"] = {"currentRevision": name, "updateRevision": name, "observedGeneration": 1}
    pods = [make_pod(sts, o, name, **pod_kw) for o in ordinals]
    claims = [make_claim(sts, o) for o in ordinals]
    return pods, claims, [rev], name


def kinds(result: Any, *types: type) -> list[tuple[str, str]]:
    out = []
    for a in result.actions:
        if types and not isinstance(a, types):
            continue
        if isinstance(a, CreatePod):
            out.append(("create", a.pod["metadata"]["name"]))
        elif isinstance(a, DeletePod):
            out.append(("delete", a.name))
        elif isinstance(a, CreateClaim):
            out.append(("claim", a.claim["metadata"]["name"]))
        elif isinstance(a, UpdatePod):
            out.append(("update", a.pod["metadata"]["name"]))
    return out


POD_ACTIONS = (CreatePod, DeletePod, CreateClaim, UpdatePod)


# ---- identity (stateful_set_utils.go) -------------------------------------------------------------
@pytest.mark.parametrize("name,parent,ordinal", [
    ("web-0", "web", 0), ("my-web-12", "my-web", 12), ("web", "", -1), ("web-x", "", -1),
    ("web-99999999999", "web", -1)],
    ids=["simple", "dashed-parent", "no-ordinal", "non-numeric", "int32-overflow"])
def test_parent_and_ordinal(name: str, parent: str, ordinal: int) -> None:
    assert ident.parent_and_ordinal({"metadata": {"name": name}}) == (parent, ordinal)


def test_new_pod_carries_identity_storage_and_revision() -> None:
    sts = make_set(ordinals={"start": 5})
    pod = ident.new_pod(sts, 5, "web-abc")
    md = pod["metadata"]
    assert (md["name"], md["namespace"], md["generateName"]) == ("web-5", "ns", "web-")
    assert md["labels"] == {"app": "web", ident.POD_NAME_LABEL: "web-5", ident.POD_INDEX_LABEL: "5",
                            ident.REVISION_LABEL: "web-abc"}
    assert md["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web",
                                      "uid": "set-uid", "controller": True, "blockOwnerDeletion": True}]
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("web-5", "svc")
    assert pod["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-5"}}]
    assert ident.identity_matches(sts, pod) and ident.storage_matches(sts, pod)


def test_claim_from_template_merges_selector_labels() -> None:
    name, claim = ident.claims_for(make_set(), 2)[0]
    assert name == "data"
    assert claim["metadata"] == {"name": "data-web-2", "namespace": "ns", "labels": {"tier": "db", "app": "web"}}
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"]}


@pytest.mark.parametrize("min_ready,ready_for,available", [
    (0, 0, True), (10, 5, False), (10, 10, False), (10, 11, True)],
    ids=["no-min-ready", "too-young", "exactly-min-ready-is-not-after", "old-enough"])
def test_running_and_available(min_ready: int, ready_for: int, available: bool) -> None:
    sts = make_set()
    pod = make_pod(sts, 0, "r", ready_since=NOW - timedelta(seconds=ready_for))
    assert ident.is_running_and_available(pod, min_ready, NOW) is available


# ---- history (controller_history.go, stateful_set_utils.go) --------------------------------------
@pytest.mark.parametrize("data,expected", [(b"", 0x811C9DC5), (b"a", 0x050C5D7E), (b"foobar", 0x31F0B262)],
                         ids=["offset-basis", "one-byte", "fnv1-not-fnv1a"])
def test_fnv32(data: bytes, expected: int) -> None:
    assert history.fnv32(data) == expected


def test_safe_encode_and_name() -> None:
    assert history.safe_encode("0129") == "456f"
    assert history.revision_name("x" * 300, "h") == "x" * 223 + "-h"


def test_patch_and_apply_revision_round_trip() -> None:
    old, new = make_set(image="a"), make_set(image="b")
    rev = history.new_revision(old, 1, 0)
    assert rev["data"]["spec"]["template"]["$patch"] == "replace"
    assert rev["metadata"]["labels"]["app"] == "web"
    assert rev["metadata"]["name"] == "web-" + rev["metadata"]["labels"][history.HASH_LABEL]
    restored = history.apply_revision(new, rev)
    assert restored["spec"]["template"] == old["spec"]["template"]
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == "b"  # input untouched


def test_hash_depends_on_template_and_collision_count() -> None:
    a, b = make_set(image="a"), make_set(image="b")
    assert history.new_revision(a, 1, 0)["metadata"]["name"] == history.new_revision(a, 7, 0)["metadata"]["name"]
    assert history.new_revision(a, 1, 0)["metadata"]["name"] != history.new_revision(b, 1, 0)["metadata"]["name"]
    assert history.new_revision(a, 1, 0)["metadata"]["name"] != history.new_revision(a, 1, 1)["metadata"]["name"]


def _resolve(sts: dict[str, Any], revs: list[dict[str, Any]], taken: list[dict[str, Any]] | None = None):
    return history.resolve_revisions(sts, revs, {r["metadata"]["name"]: r for r in (taken or revs)})


def test_revisions_first_sync_creates_revision_1() -> None:
    r = _resolve(make_set(), [])
    assert r.create is not None and r.create["revision"] == 1 and r.current is r.update and r.bump is None


def test_revisions_unchanged_template_reuses_newest() -> None:
    sts = make_set()
    rev = revision_of(sts)
    r = _resolve(sts, [rev])
    assert (r.create, r.bump, r.update["metadata"]["name"]) == (None, None, rev["metadata"]["name"])


def test_revisions_template_change_creates_next_number() -> None:
    old = make_set(image="a")
    rev = revision_of(old)
    new = make_set(image="b")
    new["status"] = {"currentRevision": rev["metadata"]["name"]}
    r = _resolve(new, [rev])
    assert r.create is not None and r.create["revision"] == 2
    assert r.current["metadata"]["name"] == rev["metadata"]["name"]


def test_revisions_rollback_renumbers_the_old_revision() -> None:
    r1, r2 = revision_of(make_set(image="a"), 1), revision_of(make_set(image="b"), 2)
    r = _resolve(make_set(image="a"), [r2, r1])
    assert r.create is None and r.bump == (r1["metadata"]["name"], 3)
    assert r.update["revision"] == 3


def test_revisions_name_collision_bumps_collision_count() -> None:
    sts = make_set(image="a")
    squatter = copy.deepcopy(history.new_revision(sts, 1, 0))
    squatter["data"] = {"spec": {"template": {"other": True}}}
    squatter["metadata"]["ownerReferences"] = [{"uid": "someone-else", "controller": True}]
    r = _resolve(sts, [], [squatter])
    assert r.collision_count == 1 and r.create is not None
    assert r.create["metadata"]["name"] == history.new_revision(sts, 1, 1)["metadata"]["name"]


@pytest.mark.parametrize("limit,pod_revs,expected", [
    (10, [], []), (1, [], ["r1", "r2"]), (0, ["r2"], ["r1", "r3"]), (-1, [], [])],
    ids=["under-limit", "oldest-first", "pod-revisions-are-live", "negative-limit-keeps-all"])
def test_truncate_history(limit: int, pod_revs: list[str], expected: list[str]) -> None:
    sts = make_set(revisionHistoryLimit=limit)
    revs = [{"metadata": {"name": f"r{i}"}, "revision": i} for i in range(1, 6)]
    pods = [{"metadata": {"labels": {ident.REVISION_LABEL: r}}} for r in pod_revs]
    assert history.revisions_to_delete(sts, pods, revs, ["r4", "r5"]) == expected


# ---- retention policy (isClaimOwnerUpToDate / updateClaimOwnerRefForSetAndPod) -------------------
SET_REF = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "set-uid",
           "controller": True, "blockOwnerDeletion": True}
POD_REF = {"apiVersion": "v1", "kind": "Pod", "name": "web-4", "uid": "pod-4", "controller": True,
           "blockOwnerDeletion": True}


@pytest.mark.parametrize("deleted,scaled,ordinal,want", [
    ("Retain", "Retain", 0, []), ("Delete", "Retain", 0, ["set"]), ("Retain", "Delete", 0, []),
    ("Retain", "Delete", 4, ["pod"]), ("Delete", "Delete", 0, ["set"]), ("Delete", "Delete", 4, ["pod"])],
    ids=["retain-retain", "delete-on-set-deletion", "delete-on-scale-in-range", "delete-on-scale-scaled-down",
         "delete-delete-in-range", "delete-delete-scaled-down"])
def test_claim_owner_refs_encode_policy(deleted: str, scaled: str, ordinal: int, want: list[str]) -> None:
    sts = make_set(replicas=2, persistentVolumeClaimRetentionPolicy={"whenDeleted": deleted, "whenScaled": scaled})
    pod = make_pod(sts, ordinal, "r")
    claim = make_claim(sts, ordinal)
    refs = storage.updated_owner_refs(claim, sts, pod)
    assert sorted(r["kind"] for r in refs) == sorted({"set": "StatefulSet", "pod": "Pod"}[w] for w in want)
    fixed = dict(claim, metadata=dict(claim["metadata"], ownerReferences=refs))
    assert storage.is_claim_owner_up_to_date(fixed, sts, pod)
    assert storage.is_claim_owner_up_to_date(claim, sts, pod) is (not want)


def test_claim_owned_by_previous_set_incarnation_is_left_alone() -> None:
    sts = make_set(persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Delete"})
    pod = make_pod(sts, 0, "r")
    claim = make_claim(sts, 0, refs=[dict(SET_REF, uid="old-set-uid")])
    assert storage.is_claim_owner_up_to_date(claim, sts, pod)


def test_foreign_controller_gets_our_refs_scrubbed_only() -> None:
    sts = make_set(persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Retain"})
    pod = make_pod(sts, 0, "r")
    foreign = {"apiVersion": "x/v1", "kind": "Other", "name": "o", "uid": "o", "controller": True}
    claim = make_claim(sts, 0, refs=[foreign, SET_REF])
    assert not storage.is_claim_owner_up_to_date(claim, sts, pod)
    assert storage.updated_owner_refs(claim, sts, pod) == [foreign]


# ---- creation order and health (processReplica) --------------------------------------------------
def test_first_sync_creates_revision_claim_then_pod_0_only() -> None:
    res = plan(make_set(), [], [], [], NOW)
    assert isinstance(res.actions[0], CreateRevision)
    assert kinds(res, *POD_ACTIONS) == [("claim", "data-web-0"), ("create", "web-0")]
    assert isinstance(res.actions[-1], UpdateStatus) and res.error == ""


@pytest.mark.parametrize("pod_kw,expected", [
    ({"phase": "Pending", "ready": False}, []),
    ({"ready": False}, []),
    ({"terminating": True}, []),
    ({}, [("claim", "data-web-1"), ("create", "web-1")])],
    ids=["pending-blocks", "unready-blocks", "terminating-blocks", "ready-allows-next"])
def test_ordered_ready_waits_for_predecessor(pod_kw: dict[str, Any], expected: list) -> None:
    sts = make_set()
    pods, claims, revs, _ = world(sts, [0], **pod_kw)
    assert kinds(plan(sts, pods, claims, revs, NOW), *POD_ACTIONS) == expected


def test_min_ready_seconds_blocks_and_requeues() -> None:
    sts = make_set(minReadySeconds=30)
    pods, claims, revs, _ = world(sts, [0], ready_since=NOW - timedelta(seconds=10))
    res = plan(sts, pods, claims, revs, NOW)
    assert kinds(res, *POD_ACTIONS) == [] and res.requeue_after == 30.0
    assert res.status["readyReplicas"] == 1 and res.status["availableReplicas"] == 0


def test_parallel_creates_every_missing_pod() -> None:
    res = plan(make_set(policy="Parallel"), [], [], [], NOW)
    assert kinds(res, CreatePod) == [("create", "web-0"), ("create", "web-1"), ("create", "web-2")]


def test_ordinals_start_offsets_names() -> None:
    res = plan(make_set(replicas=2, policy="Parallel", ordinals={"start": 3}), [], [], [], NOW)
    assert kinds(res, CreatePod) == [("create", "web-3"), ("create", "web-4")]


@pytest.mark.parametrize("policy,expected", [
    ("OrderedReady", [("delete", "web-0")]),
    ("Parallel", [("delete", "web-0"), ("claim", "data-web-2"), ("create", "web-2")])],
    ids=["ordered-halts-after-delete", "parallel-continues"])
def test_failed_pod_is_deleted_not_recreated_same_sync(policy: str, expected: list) -> None:
    sts = make_set(policy=policy)
    pods, claims, revs, _ = world(sts, [0, 1])
    pods[0]["status"] = {"phase": "Failed"}
    assert kinds(plan(sts, pods, claims, revs, NOW), *POD_ACTIONS) == expected


def test_terminating_claim_blocks_pod_creation_with_error() -> None:
    sts = make_set()
    pods, claims, revs, _ = world(sts, [0])
    claims.append(make_claim(sts, 1, terminating=True))
    res = plan(sts, pods, claims, revs, NOW)
    assert kinds(res, *POD_ACTIONS) == [] and "being deleted" in res.error


def test_claim_of_previous_pod_blocks_recreation_under_when_scaled_delete() -> None:
    sts = make_set(persistentVolumeClaimRetentionPolicy={"whenDeleted": "Retain", "whenScaled": "Delete"})
    pods, claims, revs, _ = world(sts, [0])
    claims.append(make_claim(sts, 1, refs=[dict(POD_REF, name="web-1", uid="gone")]))
    assert kinds(plan(sts, pods, claims, revs, NOW), *POD_ACTIONS) == []


def test_pending_pod_gets_missing_claims() -> None:
    sts = make_set()
    pods, _, revs, _ = world(sts, [0], phase="Pending", ready=False)
    assert kinds(plan(sts, pods, [], revs, NOW), *POD_ACTIONS) == [("claim", "data-web-0")]


def test_identity_repair_updates_pod() -> None:
    sts = make_set(replicas=1)
    pods, claims, revs, _ = world(sts, [0])
    del pods[0]["metadata"]["labels"][ident.POD_NAME_LABEL]
    res = plan(sts, pods, claims, revs, NOW)
    (upd,) = res.of(UpdatePod)
    assert upd.pod["metadata"]["labels"][ident.POD_NAME_LABEL] == "web-0"


def test_when_deleted_delete_adds_set_ref_to_ready_pods_claims() -> None:
    sts = make_set(replicas=1, persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Retain"})
    pods, claims, revs, _ = world(sts, [0])
    (upd,) = plan(sts, pods, claims, revs, NOW).of(UpdateClaimOwnerRefs)
    assert (upd.name, [r["uid"] for r in upd.owner_references]) == ("data-web-0", ["set-uid"])


# ---- scale down (processCondemned) ----------------------------------------------------------------
@pytest.mark.parametrize("policy,unhealthy,terminating,expected", [
    ("OrderedReady", [], [], [("delete", "web-4")]),
    ("OrderedReady", [], [4], []),
    ("OrderedReady", [4], [], [("delete", "web-4")]),
    ("OrderedReady", [3], [], [("delete", "web-4")]),
    ("OrderedReady", [3, 4], [], []),
    ("OrderedReady", [0], [], []),
    ("Parallel", [], [], [("delete", "web-4"), ("delete", "web-3")]),
    ("Parallel", [], [4], [("delete", "web-3")])],
    ids=["highest-first", "waits-for-termination", "broken-highest-may-go", "healthy-highest-before-broken",
         "broken-highest-waits-for-lower-broken", "unhealthy-replica-halts", "parallel-all-at-once",
         "parallel-ignores-terminating"])
def test_scale_down(policy: str, unhealthy: list[int], terminating: list[int], expected: list) -> None:
    sts = make_set(replicas=3, policy=policy)
    pods, claims, revs, _ = world(sts, [0, 1, 2, 3, 4])
    for p in pods:
        o = ident.ordinal_of(p)
        if o in unhealthy:
            p["status"]["conditions"][0]["status"] = "False"
        if o in terminating:
            p["metadata"]["deletionTimestamp"] = _ts(NOW)
    assert kinds(plan(sts, pods, claims, revs, NOW), *POD_ACTIONS) == expected


def test_scale_down_with_when_scaled_delete_hands_claim_to_pod_first() -> None:
    sts = make_set(replicas=1, persistentVolumeClaimRetentionPolicy={"whenDeleted": "Retain", "whenScaled": "Delete"})
    pods, claims, revs, _ = world(sts, [0, 1])
    res = plan(sts, pods, claims, revs, NOW)
    (upd,) = res.of(UpdateClaimOwnerRefs)
    assert (upd.name, [r["uid"] for r in upd.owner_references]) == ("data-web-1", ["pod-1"])
    assert res.actions.index(upd) < res.actions.index(res.of(DeletePod)[0])


# ---- rolling update, partition, maxUnavailable, OnDelete -----------------------------------------
def _updated_world(strategy: dict[str, Any], replicas: int = 4, policy: str = "OrderedReady"):
    old = make_set(replicas=replicas, policy=policy, strategy=strategy, image="a")
    pods, claims, revs, _ = world(old, list(range(replicas)))
    new = make_set(replicas=replicas, policy=policy, strategy=strategy, image="b")
    new["status"] = old["status"]
    return new, pods, claims, revs


@pytest.mark.parametrize("strategy,expected", [
    ({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}, [("delete", "web-3")]),
    ({"type": "RollingUpdate"}, [("delete", "web-3")]),
    ({"type": "RollingUpdate", "rollingUpdate": {"partition": 4}}, []),
    ({"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 2}},
     [("delete", "web-3"), ("delete", "web-2")]),
    ({"type": "RollingUpdate", "rollingUpdate": {"partition": 3, "maxUnavailable": 2}}, [("delete", "web-3")]),
    ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%"}}, [("delete", "web-3"), ("delete", "web-2")]),
    ({"type": "OnDelete"}, [])],
    ids=["highest-first", "no-rollingupdate-block", "partition-holds-all", "max-unavailable-2",
         "partition-limits-max-unavailable", "percent-max-unavailable", "on-delete-never-deletes"])
def test_rolling_update_deletions(strategy: dict[str, Any], expected: list) -> None:
    sts, pods, claims, revs = _updated_world(strategy)
    res = plan(sts, pods, claims, revs, NOW)
    assert isinstance(res.actions[0], CreateRevision)
    assert kinds(res, *POD_ACTIONS) == expected
    assert res.status["currentReplicas"] == 4 - len(expected)


def test_rolling_update_waits_while_unavailable_exceeds_budget() -> None:
    sts, pods, claims, revs = _updated_world({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}},
                                             policy="Parallel")
    for p in pods[:2]:
        p["status"]["conditions"][0]["status"] = "False"
    assert kinds(plan(sts, pods, claims, revs, NOW), DeletePod) == []
    pods[1]["status"]["conditions"][0]["status"] = "True"
    assert kinds(plan(sts, pods, claims, revs, NOW), DeletePod) == [("delete", "web-3")]


@pytest.mark.parametrize("strategy,ordinal,want_new", [
    ({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}, 1, False),
    ({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}, 3, True),
    ({"type": "OnDelete"}, 1, True)],
    ids=["below-partition-keeps-current", "at-partition-gets-update", "on-delete-recreates-at-update"])
def test_recreated_pod_revision(strategy: dict[str, Any], ordinal: int, want_new: bool) -> None:
    sts, pods, claims, revs = _updated_world(strategy)
    pods = [p for p in pods if ident.ordinal_of(p) != ordinal]
    res = plan(sts, pods, claims, revs, NOW)
    (create,) = res.of(CreatePod)
    new_rev = res.of(CreateRevision)[0].revision["metadata"]["name"]
    assert (create.pod["metadata"]["labels"][ident.REVISION_LABEL] == new_rev) is want_new
    image = create.pod["spec"]["containers"][0]["image"]
    assert image == ("b" if want_new else "a")


def test_rollback_reuses_revision_and_bumps_number() -> None:
    sts = make_set(image="a")
    r1, r2 = revision_of(make_set(image="a"), 1), revision_of(make_set(image="b"), 2)
    sts["status"] = {"currentRevision": r2["metadata"]["name"], "updateRevision": r2["metadata"]["name"]}
    res = plan(sts, [], [], [r1, r2], NOW)
    assert res.of(UpdateRevision) == [UpdateRevision(r1["metadata"]["name"], 3)] and not res.of(CreateRevision)
    assert res.status["updateRevision"] == r1["metadata"]["name"]


@pytest.mark.parametrize("value,replicas,expected", [
    (None, 5, 1), (3, 5, 3), ("50%", 5, 2), ("10%", 5, 1), ("100%", 4, 4)],
    ids=["default-1", "int", "percent-rounds-down", "percent-at-least-1", "full"])
def test_max_unavailable(value: Any, replicas: int, expected: int) -> None:
    assert max_unavailable(value, replicas) == expected


# ---- status (updateStatus / completeRollingUpdate / inconsistentStatus) --------------------------
def test_status_completes_rolling_update_and_keeps_conditions() -> None:
    sts = make_set(replicas=2)
    pods, claims, revs, name = world(sts, [0, 1])
    sts["status"] = {"currentRevision": "web-old", "updateRevision": name,
                     "conditions": [{"type": "X", "status": "True"}]}
    res = plan(sts, pods, claims, revs, NOW)
    (upd,) = res.of(UpdateStatus)
    assert upd.status == {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "currentReplicas": 2,
                          "updatedReplicas": 2, "currentRevision": name, "updateRevision": name,
                          "collisionCount": 0, "availableReplicas": 2,
                          "conditions": [{"type": "X", "status": "True"}]}


def test_consistent_status_is_not_written() -> None:
    sts = make_set(replicas=2)
    pods, claims, revs, _ = world(sts, [0, 1])
    sts["status"] = plan(sts, pods, claims, revs, NOW).status
    res = plan(sts, pods, claims, revs, NOW)
    assert res.actions == []


def test_on_delete_never_completes_current_revision() -> None:
    sts, pods, claims, revs = _updated_world({"type": "OnDelete"}, replicas=1)
    res = plan(sts, [], claims, revs, NOW)
    assert res.status["currentRevision"] != res.status["updateRevision"]


def test_deleting_set_only_updates_status() -> None:
    sts = make_set()
    pods, claims, revs, _ = world(sts, [0])
    sts["metadata"]["deletionTimestamp"] = _ts(NOW)
    res = plan(sts, pods, claims, revs, NOW)
    assert kinds(res, *POD_ACTIONS) == [] and res.status["replicas"] == 1


# ---- ownership (ClaimPods, adoptOrphanRevisions) -------------------------------------------------
def test_orphans_adopted_foreign_ignored_mismatch_released() -> None:
    sts = make_set(replicas=3)
    pods, claims, revs, _ = world(sts, [0, 1, 2])
    pods[0]["metadata"]["ownerReferences"] = []  # orphan, matching: adopted
    pods[1]["metadata"]["ownerReferences"] = [dict(SET_REF, uid="other")]  # another controller's
    pods[2]["metadata"]["labels"]["app"] = "other"  # ours, no longer selected: released
    revs[0]["metadata"]["ownerReferences"] = []
    res = plan(sts, pods, claims, revs, NOW)
    assert res.of(AdoptPod) == [AdoptPod("web-0", "pod-0")]
    assert res.of(ReleasePod) == [ReleasePod("web-2", "pod-2")]
    assert res.of(AdoptRevision) == [AdoptRevision(revs[0]["metadata"]["name"], "rev-1")]
    # web-1 and web-2 are not ours: web-1 is created again (AlreadyExists upstream), web-0 kept
    assert kinds(res, *POD_ACTIONS) == [("create", "web-1")]


def test_inputs_are_not_mutated() -> None:
    sts, pods, claims, revs = _updated_world({"type": "RollingUpdate"})
    before = copy.deepcopy((sts, pods, claims, revs))
    plan(sts, pods, claims, revs, NOW)
    assert (sts, pods, claims, revs) == before


def test_history_truncated_in_plan() -> None:
    sts = make_set(image="c", revisionHistoryLimit=0)
    r1, r2 = revision_of(make_set(image="a"), 1), revision_of(make_set(image="b"), 2)
    sts["status"] = {"currentRevision": r2["metadata"]["name"]}
    res = plan(sts, [], [], [r1, r2], NOW)
    assert res.of(DeleteRevision) == [DeleteRevision(r1["metadata"]["name"])]
