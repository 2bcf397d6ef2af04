"""What a DELETE does (kubeproc.registry.deletion.plan_delete) against upstream
staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go (Delete,
updateForGracefulDeletionAndFinalizers, deletionFinalizersForGarbageCollection, markAsDeleting),
staging/src/k8s.io/apiserver/pkg/registry/rest/delete.go (BeforeDelete) and
pkg/registry/core/pod/strategy.go (CheckGracefulDelete)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeproc.api import errors, resources
from kubeproc.registry.deletion import FOREGROUND, ORPHAN, plan_delete

NOW = "2026-03-01T10:00:00Z"
EARLIER = "2026-03-01T09:59:00Z"
POD = resources.by_kind("", "Pod")
CM = resources.by_kind("", "ConfigMap")
DEPLOY = resources.by_kind("apps", "Deployment")
NS = resources.by_kind("", "Namespace")


def cm(finalizers: list[str] | None = None, **meta: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"name": "c", "namespace": "default", "uid": "u-1",
                         "resourceVersion": "7", **meta}
    if finalizers is not None:
        m["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": m, "data": {"k": "v"}}


def pod(node: str | None = "node-1", tgps: int | None = 30, phase: str = "Running",
        **meta: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    if tgps is not None:
        spec["terminationGracePeriodSeconds"] = tgps
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default", "uid": "u-p",
                         "resourceVersion": "9", **meta},
            "spec": spec, "status": {"phase": phase}}


# ---- preconditions -------------------------------------------------------------------------
@pytest.mark.parametrize("resource,stored,options,message", [
    (CM, cm(), {"preconditions": {"uid": "other"}},
     'Operation cannot be fulfilled on ConfigMap "c": the UID in the precondition (other) does '
     "not match the UID in record (u-1). The object might have been deleted and then recreated"),
    (CM, cm(), {"preconditions": {"resourceVersion": "6"}},
     'Operation cannot be fulfilled on ConfigMap "c": the ResourceVersion in the precondition (6) '
     "does not match the ResourceVersion in record (7). The object might have been modified"),
    (DEPLOY, {"metadata": {"name": "d", "uid": "u-d", "resourceVersion": "3"}},
     {"preconditions": {"uid": "x"}},
     'Operation cannot be fulfilled on Deployment.apps "d": the UID in the precondition (x) does '
     "not match the UID in record (u-d). The object might have been deleted and then recreated"),
], ids=["uid-mismatch-conflict", "resourceversion-mismatch-conflict", "grouped-kind-in-message"])
def test_precondition_conflict(resource, stored, options, message) -> None:
    with pytest.raises(errors.Conflict) as exc:
        plan_delete(resource, stored, options, NOW)
    assert exc.value.code == 409 and exc.value.message == message
    assert exc.value.kind == resource.kind


def test_matching_preconditions_delete() -> None:
    d = plan_delete(CM, cm(), {"preconditions": {"uid": "u-1", "resourceVersion": "7"}}, NOW)
    assert d.remove and not d.changed


# ---- invalid options -> 422 ----------------------------------------------------------------
@pytest.mark.parametrize("options,message", [
    ({"propagationPolicy": "Sideways"},
     'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sideways": '
     'supported values: "Foreground", "Background", "Orphan", "nil"'),
    ({"propagationPolicy": "Orphan", "orphanDependents": True},
     'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: "Orphan": '
     "orphanDependents and deletionPropagation cannot be both set"),
    ({"gracePeriodSeconds": "5"}, None),
    ({"gracePeriodSeconds": True}, None),
    ({"dryRun": ["Some"]}, None),
], ids=["unknown-policy", "policy-and-orphandependents", "grace-not-int", "grace-bool",
        "bad-dryrun"])
def test_invalid_options(options, message) -> None:
    with pytest.raises(errors.Invalid) as exc:
        plan_delete(CM, cm(), options, NOW)
    assert exc.value.code == 422
    if message is not None:
        assert exc.value.message == message


# ---- propagation policy and finalizers -----------------------------------------------------
@pytest.mark.parametrize("finalizers,options,expected", [
    ([], {"propagationPolicy": "Orphan"}, [ORPHAN]),
    ([], {"orphanDependents": True}, [ORPHAN]),
    ([], {"propagationPolicy": "Foreground"}, [FOREGROUND]),
    ([FOREGROUND], {"propagationPolicy": "Orphan"}, [ORPHAN]),
    ([ORPHAN], {"propagationPolicy": "Foreground"}, [FOREGROUND]),
    (["x.io/keep", ORPHAN], {"propagationPolicy": "Background"}, ["x.io/keep"]),
    (["x.io/keep", FOREGROUND], {"orphanDependents": False}, ["x.io/keep"]),
    (["x.io/keep"], {"propagationPolicy": "Orphan"}, ["x.io/keep", ORPHAN]),
    ([ORPHAN], {}, [ORPHAN]),
], ids=["orphan-adds-orphan", "orphandependents-true-is-orphan", "foreground-adds-foreground",
        "orphan-replaces-foreground", "foreground-replaces-orphan",
        "background-removes-orphan", "orphandependents-false-is-background",
        "orphan-appended-after-others", "no-policy-keeps-existing"])
def test_propagation_finalizers(finalizers, options, expected) -> None:
    d = plan_delete(CM, cm(finalizers), options, NOW)
    assert not d.remove and d.changed
    assert d.obj["metadata"]["finalizers"] == expected
    assert d.obj["metadata"]["deletionTimestamp"] == NOW
    assert d.obj["metadata"]["deletionGracePeriodSeconds"] == 0


def test_background_removing_last_finalizer_deletes_now() -> None:
    d = plan_delete(CM, cm([ORPHAN]), {"propagationPolicy": "Background"}, NOW)
    assert d.remove


@pytest.mark.parametrize("stored,options,remove", [
    (cm(), {}, True),
    (cm(), {"gracePeriodSeconds": 30}, True),
    (cm(["x.io/keep"]), {}, False),
], ids=["no-finalizers-immediate", "grace-ignored-for-non-pods", "finalizer-keeps-object"])
def test_plain_object(stored, options, remove) -> None:
    d = plan_delete(CM, stored, options, NOW)
    assert d.remove is remove
    if not remove:
        assert d.obj["metadata"]["deletionTimestamp"] == NOW and d.changed


@pytest.mark.parametrize("generation,already,expected", [
    (3, False, 4), (None, False, None), (3, True, 3),
], ids=["first-delete-bumps-generation", "no-generation-stays-unset",
        "already-deleting-no-bump"])
def test_generation_bump(generation, already, expected) -> None:
    meta: dict[str, Any] = {}
    if generation is not None:
        meta["generation"] = generation
    if already:
        meta["deletionTimestamp"] = EARLIER
        meta["deletionGracePeriodSeconds"] = 0
    d = plan_delete(CM, cm(["x.io/keep"], **meta), {}, NOW)
    assert d.obj["metadata"].get("generation") == expected


def test_second_delete_keeps_earlier_timestamp() -> None:
    d = plan_delete(CM, cm(["x.io/keep"], deletionTimestamp=EARLIER,
                           deletionGracePeriodSeconds=0), {}, NOW)
    assert not d.remove and not d.changed
    assert d.obj["metadata"]["deletionTimestamp"] == EARLIER


def test_input_not_mutated() -> None:
    stored = cm(["x.io/keep"], generation=1)
    before = copy.deepcopy(stored)
    plan_delete(CM, stored, {"propagationPolicy": "Orphan"}, NOW)
    assert stored == before


# ---- pods: graceful deletion ---------------------------------------------------------------
@pytest.mark.parametrize("stored,options,expected", [
    (pod(node=None), {}, "remove"),
    (pod(phase="Succeeded"), {}, "remove"),
    (pod(phase="Failed"), {}, "remove"),
    (pod(), {"gracePeriodSeconds": 0}, "remove"),
    (pod(tgps=None), {}, "remove"),
    (pod(), {}, ("2026-03-01T10:00:30Z", 30)),
    (pod(tgps=5), {}, ("2026-03-01T10:00:05Z", 5)),
    (pod(), {"gracePeriodSeconds": 10}, ("2026-03-01T10:00:10Z", 10)),
    (pod(), {"gracePeriodSeconds": -5}, ("2026-03-01T10:00:01Z", 1)),
], ids=["unscheduled-immediate", "succeeded-immediate", "failed-immediate", "grace-zero-immediate",
        "no-termination-grace-immediate", "scheduled-uses-termination-grace",
        "scheduled-uses-pod-grace", "option-grace-overrides", "negative-grace-means-one-second"])
def test_pod_first_delete(stored, options, expected) -> None:
    d = plan_delete(POD, stored, options, NOW)
    if expected == "remove":
        assert d.remove
        return
    ts, grace = expected
    assert not d.remove and d.changed
    assert d.obj["metadata"]["deletionTimestamp"] == ts
    assert d.obj["metadata"]["deletionGracePeriodSeconds"] == grace


def deleting_pod(**meta: Any) -> dict[str, Any]:
    # first deleted at 09:59:00 with 30s: due at 09:59:30
    return pod(deletionTimestamp="2026-03-01T09:59:30Z", deletionGracePeriodSeconds=30, **meta)


@pytest.mark.parametrize("options,expected", [
    ({"gracePeriodSeconds": 10}, ("2026-03-01T09:59:10Z", 10)),
    ({"gracePeriodSeconds": 30}, "unchanged"),
    ({"gracePeriodSeconds": 60}, "unchanged"),
    ({}, "unchanged"),
    ({"propagationPolicy": "Orphan"}, "unchanged"),
    ({"gracePeriodSeconds": 0}, "remove"),
], ids=["shorter-grace-moves-timestamp-from-original-request", "same-grace-pending",
        "longer-grace-pending", "no-grace-pending", "pending-deletion-ignores-policy",
        "grace-zero-on-pending-deletes-now"])
def test_pod_second_delete(options, expected) -> None:
    stored = deleting_pod()
    d = plan_delete(POD, stored, options, NOW)
    if expected == "remove":
        assert d.remove
    elif expected == "unchanged":
        assert not d.remove and not d.changed and d.obj == stored
    else:
        ts, grace = expected
        assert not d.remove and d.changed
        assert d.obj["metadata"]["deletionTimestamp"] == ts
        assert d.obj["metadata"]["deletionGracePeriodSeconds"] == grace


def test_pod_grace_zero_with_finalizer_kept_terminating() -> None:
    d = plan_delete(POD, pod(finalizers=["x.io/keep"], generation=2), {"gracePeriodSeconds": 0},
                    NOW)
    meta = d.obj["metadata"]
    assert not d.remove and d.changed
    assert (meta["deletionTimestamp"], meta["deletionGracePeriodSeconds"]) == (NOW, 0)
    assert meta["generation"] == 3


def test_pod_graceful_with_policy_sets_finalizer() -> None:
    d = plan_delete(POD, pod(), {"propagationPolicy": "Foreground"}, NOW)
    assert d.obj["metadata"]["finalizers"] == [FOREGROUND]
    assert d.obj["metadata"]["deletionGracePeriodSeconds"] == 30


# ---- namespaces ----------------------------------------------------------------------------
def namespace(spec_finalizers=("kubernetes",), **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "team", "uid": "u-ns", "resourceVersion": "2", **meta},
            "spec": {"finalizers": list(spec_finalizers)}, "status": {"phase": "Active"}}


def test_namespace_goes_terminating() -> None:
    d = plan_delete(NS, namespace(), {}, NOW)
    assert not d.remove and d.changed
    assert d.obj["metadata"]["deletionTimestamp"] == NOW
    assert d.obj["status"]["phase"] == "Terminating"
    assert d.obj["spec"]["finalizers"] == ["kubernetes"]


@pytest.mark.parametrize("stored,options,expected", [
    (namespace(spec_finalizers=()), {}, "remove"),
    (namespace(deletionTimestamp=EARLIER), {}, "unchanged"),
    (namespace(spec_finalizers=(), deletionTimestamp=EARLIER), {}, "remove"),
    (namespace(spec_finalizers=()), {"propagationPolicy": "Orphan"}, "terminating"),
], ids=["no-finalizers-removed-at-once", "already-terminating-unchanged",
        "finalized-terminating-removed", "orphan-finalizer-holds-namespace"])
def test_namespace_delete(stored, options, expected) -> None:
    d = plan_delete(NS, stored, options, NOW)
    if expected == "remove":
        assert d.remove
    elif expected == "unchanged":
        assert not d.remove and not d.changed
        assert d.obj["metadata"]["deletionTimestamp"] == EARLIER
    else:
        assert not d.remove and d.obj["status"]["phase"] == "Terminating"
        assert d.obj["metadata"]["finalizers"] == [ORPHAN]
