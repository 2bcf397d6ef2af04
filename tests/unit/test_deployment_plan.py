"""The Deployment controller's pure parts: pod-template-hash (ComputeHash over go-spew's text),
maxSurge/maxUnavailable rounding, NewRSNewReplicas, proportional scaling, sort orders, revision
annotations, cleanup by revisionHistoryLimit, and the conditions of a sync pass."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from kubeproc.controllers.deployment import hashing, plan, progress
from kubeproc.controllers.deployment import replicas as u

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)

# The nginx Deployment of the Kubernetes docs, as the API server stores its template (defaulted).
NGINX = {"metadata": {"labels": {"app": "nginx"}},
         "spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2",
                                  "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                  "resources": {}, "terminationMessagePath": "/dev/termination-log",
                                  "terminationMessagePolicy": "File",
                                  "imagePullPolicy": "IfNotPresent"}],
                  "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                  "dnsPolicy": "ClusterFirst", "securityContext": {},
                  "schedulerName": "default-scheduler"}}


# ---- hashing -------------------------------------------------------------------------------
@pytest.mark.parametrize("data,want", [
    (b"", 0x811C9DC5), (b"a", 0xE40C292C), (b"foobar", 0xBF9CF968),
], ids=["empty", "a", "foobar"])
def test_fnv32a_vectors(data: bytes, want: int) -> None:
    assert hashing.fnv32a(data) == want


def test_safe_encode_maps_digits_to_the_alphabet() -> None:
    # util/rand SafeEncodeString: byte % 27 over "bcdfghjklmnpqrstvwxz2456789" ('0' is 48 -> 21)
    assert hashing.safe_encode("0123456789") == "456789bcdf"


@pytest.mark.parametrize("template,collision,want", [
    # the same printer with the Kubernetes 1.19-1.22 struct layouts gives the docs' 66b6c48dd5;
    # with the 1.36 layouts (more PodSpec/Container fields) the text and the hash differ
    (NGINX, None, "6c5f67b5f7"),
    (NGINX, 0, "5c649576f"),  # collisionCount 0 still adds 8 bytes: differs from nil
    (NGINX, 1, "6f4479b5f6"),
], ids=["docs-nginx", "collision-0", "collision-1"])
def test_compute_hash(template: dict[str, Any], collision: int | None, want: str) -> None:
    assert hashing.compute_hash(template, collision) == want


@pytest.mark.parametrize("fragment", [
    "(v1.PodTemplateSpec){ObjectMeta:(v1.ObjectMeta){Name:(string) GenerateName:(string) ",
    "CreationTimestamp:(v1.Time){Time:(time.Time){wall:(uint64)0 ext:(int64)0 loc:(*time.Location)<nil>}} "
    "DeletionTimestamp:(*v1.Time)<nil> DeletionGracePeriodSeconds:(*int64)<nil> "
    "Labels:(map[string]string)map[app:nginx] Annotations:(map[string]string)<nil> ",
    "Ports:([]v1.ContainerPort)[{Name:(string) HostPort:(int32)0 ContainerPort:(int32)80 "
    "Protocol:(v1.Protocol)TCP HostIP:(string)}]",
    "TerminationGracePeriodSeconds:(*int64)30 ",
    "SecurityContext:(*v1.PodSecurityContext){SELinuxOptions:(*v1.SELinuxOptions)<nil> ",
], ids=["struct-types", "nil-pointers-and-maps", "slice-elements-untyped", "pointer-value",
        "empty-struct-pointer"])
def test_spew_text(fragment: str) -> None:
    assert fragment in hashing.spew_template(NGINX)


@pytest.mark.parametrize("value,text", [
    ("500m", "{i:(resource.int64Amount){value:(int64)500 scale:(resource.Scale)-3} "
             "d:(resource.infDecAmount){Dec:(*inf.Dec)<nil>} s:(string)500m "
             "Format:(resource.Format)DecimalSI}"),
    ("1Gi", "{i:(resource.int64Amount){value:(int64)1073741824 scale:(resource.Scale)0} "
            "d:(resource.infDecAmount){Dec:(*inf.Dec)<nil>} s:(string)1Gi "
            "Format:(resource.Format)BinarySI}"),
    ("1536Mi", "{i:(resource.int64Amount){value:(int64)1610612736 scale:(resource.Scale)0} "
               "d:(resource.infDecAmount){Dec:(*inf.Dec)<nil>} s:(string) "
               "Format:(resource.Format)BinarySI}"),
    ("0", "{i:(resource.int64Amount){value:(int64)0 scale:(resource.Scale)0} "
          "d:(resource.infDecAmount){Dec:(*inf.Dec)<nil>} s:(string)0 "
          "Format:(resource.Format)DecimalSI}"),
], ids=["milli-canonical", "binary-canonical", "binary-no-cached-string", "zero"])
def test_quantity_as_parse_quantity_leaves_it(value: str, text: str) -> None:
    t = copy.deepcopy(NGINX)
    t["spec"]["containers"][0]["resources"] = {"limits": {"cpu": value}}
    assert f"Limits:(v1.ResourceList)map[cpu:{text}]" in hashing.spew_template(t)


def test_empty_list_hashes_like_absent() -> None:
    # protobuf cannot carry an empty list: the controller sees nil either way
    t = copy.deepcopy(NGINX)
    t["spec"]["containers"][0]["args"] = []
    assert hashing.compute_hash(t, None) == hashing.compute_hash(NGINX, None)


# ---- arithmetic ------------------------------------------------------------------------------
@pytest.mark.parametrize("surge,unavailable,desired,want", [
    ("25%", "25%", 4, (1, 1)),
    ("25%", "25%", 10, (3, 2)),  # surge rounds up, unavailable down
    ("50%", "50%", 5, (3, 2)),
    (0, 0, 3, (0, 1)),  # both zero: unavailable 1
    ("0%", "0%", 3, (0, 1)),
    (1, 0, 3, (1, 0)),
    (None, None, 1, (0, 1)),
    ("10%", "10%", 1, (1, 0)),
], ids=["quarter-of-4", "quarter-of-10", "half-of-5", "both-zero", "both-zero-percent",
        "ints", "absent", "tiny-percent"])
def test_resolve_fenceposts(surge: Any, unavailable: Any, desired: int,
                            want: tuple[int, int]) -> None:
    assert u.resolve_fenceposts(surge, unavailable, desired) == want


def dep(replicas: int = 3, surge: Any = 1, unavailable: Any = 0, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "default", "uid": "d-uid", "generation": 1},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "a"}]}},
                     "progressDeadlineSeconds": 600, "revisionHistoryLimit": 10, **spec},
            "status": {}}


def rs(name: str, replicas: int, available: int | None = None, *, created: int = 0,
       revision: str | None = None, max_replicas: int | None = None, image: str = "old",
       **status: Any) -> dict[str, Any]:
    ann = {}
    if revision is not None:
        ann[u.REVISION] = revision
    if max_replicas is not None:
        ann[u.MAX_REPLICAS] = str(max_replicas)
    return {"metadata": {"name": name, "uid": f"uid-{name}", "annotations": ann,
                         "creationTimestamp": (NOW + timedelta(minutes=created)).strftime("%Y-%m-%dT%H:%M:%SZ")},
            "spec": {"replicas": replicas,
                     "template": {"metadata": {"labels": {"app": "web", u.HASH_LABEL: name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}},
            "status": {"replicas": replicas,
                       "availableReplicas": replicas if available is None else available, **status}}


@pytest.mark.parametrize("d,others,new,want", [
    (dep(3, 1), [rs("old", 3)], rs("new", 0), 1),
    (dep(3, 1), [rs("old", 2)], rs("new", 1), 2),
    (dep(3, 1), [rs("old", 3)], rs("new", 1), 1),  # at replicas+surge: no room
    (dep(10, "25%"), [rs("old", 10)], rs("new", 0), 3),  # surge rounds up
    (dep(3, "0%", 1), [rs("old", 3)], rs("new", 0), 0),
    (dep(3, strategy={"type": "Recreate"}), [rs("old", 3)], rs("new", 0), 3),
], ids=["surge-one", "fills-gap", "saturated-total", "percent-surge", "zero-surge", "recreate"])
def test_new_rs_new_replicas(d: dict[str, Any], others: list[dict[str, Any]],
                             new: dict[str, Any], want: int) -> None:
    assert u.new_rs_new_replicas(d, others + [new], new) == want


@pytest.mark.parametrize("a,want", [(2.5, 3), (2.49, 2), (-2.5, -3), (-2.4, -2), (0.0, 0)],
                         ids=["half-up", "below-half", "neg-half-away", "neg-below-half", "zero"])
def test_round_to_int32(a: float, want: int) -> None:
    assert u.round_to_int32(a) == want


def scaled(p: plan.Pass) -> dict[str, int]:
    return {a.rs["metadata"]["name"]: a.rs["spec"]["replicas"]
            for a in p.plan.actions if isinstance(a, plan.UpdateRS)}


@pytest.mark.parametrize("replicas,old,new,want", [
    # docs "Proportional scaling": 10 -> 15 mid-rollout (maxSurge 3): +3 old, +2 new
    (15, rs("old", 8, created=0, max_replicas=13), rs("new", 5, 0, created=1, max_replicas=13),
     {"old": 11, "new": 7}),
    (5, rs("old", 8, created=0, max_replicas=13), rs("new", 5, 0, created=1, max_replicas=13),
     {"old": 5, "new": 3}),
    # equal sizes: scaling up sorts the newer first, so it takes the leftover (+2 each, +4 more)
    (13, rs("old", 4, created=0, max_replicas=10), rs("new", 4, 0, created=1, max_replicas=10),
     {"old": 6, "new": 10}),
    (0, rs("old", 8, created=0, max_replicas=13), rs("new", 5, 0, created=1, max_replicas=13),
     {"old": 0, "new": 0}),
], ids=["docs-up-15", "down-5", "tie-newer-first", "to-zero"])
def test_proportional_scale(replicas: int, old: dict[str, Any], new: dict[str, Any],
                            want: dict[str, int]) -> None:
    p = plan.Pass(dep(replicas, 3, 2), [old, new], {}, NOW)
    plan.scale(p, p.rss[1], [p.rss[0]])
    got = scaled(p)
    assert {k: got.get(k, v["spec"]["replicas"]) for k, v in (("old", old), ("new", new))} == want


def test_size_orders() -> None:
    a, b, c = rs("a", 3, created=0), rs("b", 3, created=1), rs("c", 5, created=2)
    assert [x["metadata"]["name"] for x in u.by_size_newer([a, b, c])] == ["c", "b", "a"]
    assert [x["metadata"]["name"] for x in u.by_size_older([a, b, c])] == ["c", "a", "b"]


# ---- annotations and cleanup -------------------------------------------------------------------
@pytest.mark.parametrize("ann,new_revision,want_rev,want_history", [
    ({}, "1", "1", None),
    ({u.REVISION: "1"}, "3", "3", "1"),  # rollback: revision 1's RS becomes 3
    ({u.REVISION: "3", u.REVISION_HISTORY: "1"}, "5", "5", "1,3"),
    ({u.REVISION: "4"}, "3", "4", None),  # never lowered
], ids=["first", "rollback", "history-appends", "no-downgrade"])
def test_set_new_rs_annotations(ann: dict[str, str], new_revision: str, want_rev: str,
                                want_history: str | None) -> None:
    d = dep(3)
    d["metadata"]["annotations"] = {"kubernetes.io/change-cause": "x", u.REVISION: "9",
                                    "kubectl.kubernetes.io/last-applied-configuration": "{}"}
    r = rs("r", 0)
    r["metadata"]["annotations"] = dict(ann)
    u.set_new_rs_annotations(d, r, new_revision, True)
    got = r["metadata"]["annotations"]
    assert got[u.REVISION] == want_rev and got.get(u.REVISION_HISTORY) == want_history
    assert got["kubernetes.io/change-cause"] == "x"
    assert "kubectl.kubernetes.io/last-applied-configuration" not in got


def test_cleanup_deletes_oldest_drained_revisions() -> None:
    old = [rs("r1", 0, revision="1"), rs("r2", 0, revision="2"), rs("r3", 1, revision="3"),
           rs("r4", 0, revision="4")]
    p = plan.Pass(dep(3, revisionHistoryLimit=1), old, {}, NOW)
    plan.cleanup(p, p.rss)
    # 4 old, limit 1: the 3 lowest revisions are candidates; r3 still has a replica
    assert [a.rs["metadata"]["name"] for a in p.plan.actions if isinstance(a, plan.DeleteRS)] == ["r1", "r2"]


# ---- a whole pass --------------------------------------------------------------------------------
def test_first_pass_creates_the_hashed_replica_set() -> None:
    d = dep(3, "25%", "25%")
    got = plan.sync_deployment(d, [], {}, NOW).actions
    h = hashing.compute_hash(d["spec"]["template"], None)
    create = got[0]
    assert isinstance(create, plan.CreateRS)
    assert create.rs["metadata"]["name"] == f"web-{h}"
    assert create.rs["spec"]["replicas"] == 3
    assert create.rs["spec"]["selector"] == {"matchLabels": {"app": "web", u.HASH_LABEL: h}}
    assert create.rs["metadata"]["annotations"] == {u.REVISION: "1", u.DESIRED_REPLICAS: "3",
                                                    u.MAX_REPLICAS: "4"}
    assert got[1] == plan.Event("Normal", "ScalingReplicaSet", f"Scaled up replica set web-{h} from 0 to 3")
    assert got[2] == plan.WriteRevision("1")
    final = [a for a in got if isinstance(a, plan.WriteStatus)][-1].status
    assert {c["type"]: (c["status"], c["reason"], c["message"]) for c in final["conditions"]} == {
        "Progressing": ("True", "NewReplicaSetCreated", f'Created new replica set "web-{h}"'),
        "Available": ("False", "MinimumReplicasUnavailable",
                      "Deployment does not have minimum availability.")}


def with_new(d: dict[str, Any], replicas: int, available: int, **status: Any) -> dict[str, Any]:
    new = rs("new", replicas, available, image="a", revision="2", **status)
    new["metadata"]["annotations"].update({u.DESIRED_REPLICAS: str(d["spec"]["replicas"]),
                                           u.MAX_REPLICAS: str(d["spec"]["replicas"] + 1)})
    new["spec"]["template"] = copy.deepcopy(d["spec"]["template"])
    new["spec"]["minReadySeconds"] = 0
    return new


@pytest.mark.parametrize("status,new_available,cond_time,want", [
    ({"replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}, 3, 0,
     ("True", "NewReplicaSetAvailable", 'ReplicaSet "new" has successfully progressed.')),
    ({"replicas": 3, "updatedReplicas": 3, "availableReplicas": 1}, 2, 0,
     ("True", "ReplicaSetUpdated", 'ReplicaSet "new" is progressing.')),
    ({"replicas": 3, "updatedReplicas": 3, "availableReplicas": 1}, 1, -700,
     ("False", "ProgressDeadlineExceeded", 'ReplicaSet "new" has timed out progressing.')),
], ids=["complete", "progressing", "deadline-exceeded"])
def test_progressing_condition(status: dict[str, Any], new_available: int, cond_time: int,
                               want: tuple[str, str, str]) -> None:
    d = dep(3)
    d["metadata"]["annotations"] = {u.REVISION: "2"}
    since = (NOW + timedelta(seconds=cond_time)).strftime("%Y-%m-%dT%H:%M:%SZ")
    d["status"] = {**status, "observedGeneration": 1, "conditions": [
        {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
         "message": "x", "lastUpdateTime": since, "lastTransitionTime": since}]}
    p = plan.Pass(d, [with_new(d, 3, new_available)], {}, NOW)
    progress.sync_rollout_status(p, p.rss[0], [])
    cond = u.condition(p.d["status"], "Progressing")
    assert cond is not None and (cond["status"], cond["reason"], cond["message"]) == want


@pytest.mark.parametrize("paused,reason,want", [
    (True, "NewReplicaSetAvailable", ("Unknown", "DeploymentPaused", "Deployment is paused")),
    (False, "DeploymentPaused", ("Unknown", "DeploymentResumed", "Deployment is resumed")),
    (True, "ProgressDeadlineExceeded", ("False", "ProgressDeadlineExceeded", "x")),
], ids=["pause", "resume", "timed-out-kept"])
def test_paused_conditions(paused: bool, reason: str, want: tuple[str, str, str]) -> None:
    d = dep(3, paused=paused)
    d["status"] = {"conditions": [{"type": "Progressing", "reason": reason, "message": "x",
                                   "status": "False" if "Exceeded" in reason else "Unknown"}]}
    p = plan.Pass(d, [], {}, NOW)
    plan.check_paused_conditions(p)
    cond = u.condition(p.d["status"], "Progressing")
    assert cond is not None and (cond["status"], cond["reason"], cond["message"]) == want


def test_rolling_scales_old_down_only_within_max_unavailable() -> None:
    d = dep(3, 1, 0)
    old = rs("old", 3, created=0, revision="1")
    new = with_new(d, 1, 1)
    got = plan.sync_deployment(d, [old, new], {}, NOW)
    assert scaled_from(got) == {"old": 2}


def scaled_from(p: plan.Plan) -> dict[str, int]:
    return {a.rs["metadata"]["name"]: a.rs["spec"]["replicas"]
            for a in p.actions if isinstance(a, plan.UpdateRS)}


def test_recreate_waits_for_old_pods() -> None:
    d = dep(3, strategy={"type": "Recreate"})
    old = rs("old", 0, 0, revision="1")
    old["status"]["replicas"] = 0
    pods = {"uid-old": [{"metadata": {"name": "p"}, "status": {"phase": "Running"}}]}
    got = plan.sync_deployment(d, [old], pods, NOW)
    assert not any(isinstance(a, plan.CreateRS) for a in got.actions)
    done = plan.sync_deployment(d, [old], {"uid-old": []}, NOW)
    assert [a.rs["spec"]["replicas"] for a in done.actions if isinstance(a, plan.CreateRS)] == [3]


def test_steady_state_writes_nothing() -> None:
    d = dep(3)
    d["metadata"]["annotations"] = {u.REVISION: "1"}
    new = with_new(d, 3, 3)
    new["metadata"]["annotations"][u.REVISION] = "1"
    first = plan.sync_deployment(d, [new], {}, NOW)
    # FoundNewReplicaSet (getNewReplicaSet's UpdateStatus), then syncRolloutStatus's
    assert [type(a) for a in first.actions] == [plan.WriteStatus, plan.WriteStatus]
    d["status"] = first.actions[-1].status  # type: ignore[union-attr]
    assert u.condition(d["status"], "Progressing")["reason"] == "NewReplicaSetAvailable"  # type: ignore[index]
    assert plan.sync_deployment(d, [new], {}, NOW + timedelta(minutes=5)).actions == []


@pytest.mark.parametrize("rss,want", [
    ([rs("old", 2), rs("new", 1)], None),
    ([rs("old", 2, terminatingReplicas=1), rs("new", 1, terminatingReplicas=0)], 1),
    ([rs("old", 2, terminatingReplicas=0), rs("new", 1)], 0),
], ids=["no-replica-set-reports-absent", "summed", "zero-kept"])
def test_status_terminating_replicas(rss: list[dict[str, Any]], want: int | None) -> None:
    # deploymentutil.GetTerminatingReplicaCountForReplicaSets
    p = plan.Pass(dep(3), rss, {}, NOW)
    status = plan.calculate_status(p, rss, rss[-1])
    assert status.get("terminatingReplicas", "absent") == ("absent" if want is None else want)
    assert ("terminatingReplicas" in plan._wire(status)) is (want is not None)
