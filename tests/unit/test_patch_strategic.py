"""Strategic merge patch application and creation, checked against upstream semantics.

Cases follow the rules of k8s.io/apimachinery/pkg/util/strategicpatch (merge keys and
strategies from the OpenAPI schema, `$patch`, `$setElementOrder`, `$retainKeys`,
`$deleteFromPrimitiveList` directives); data is our own.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kubeproc.api import errors
from kubeproc.registry.patch import smperrors
from kubeproc.registry.patch.strategic import strategic_merge_patch, two_way_merge_patch

POD = "io.k8s.api.core.v1.Pod"
DEPLOY = "io.k8s.api.apps.v1.Deployment"
SVC = "io.k8s.api.core.v1.Service"
PDB = "io.k8s.api.policy.v1.PodDisruptionBudget"


def pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": list(containers), **spec}}


def spec(**fields: Any) -> dict[str, Any]:
    return {"spec": fields}


def names(items: list[dict[str, Any]]) -> list[Any]:
    return [i["name"] for i in items]


C1 = {"name": "c1", "image": "i1"}
C2 = {"name": "c2", "image": "i2"}

APPLY_CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("containers-merge-by-name", POD, pod(C1, C2),
     spec(containers=[{"name": "c2", "image": "new"}]),
     pod(C1, {"name": "c2", "image": "new"})),
    ("new-list-item-without-order-goes-first", POD, pod(C1, C2),
     spec(containers=[{"name": "c0", "image": "i0"}]),
     pod({"name": "c0", "image": "i0"}, C1, C2)),
    ("env-merged-by-name-inside-container", POD,
     pod({"name": "c1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}),
     spec(containers=[{"name": "c1", "env": [{"name": "B", "value": "3"}]}]),
     pod({"name": "c1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]})),
    ("env-null-value-deletes-field", POD,
     pod({"name": "c1", "env": [{"name": "A", "value": "1"}]}),
     spec(containers=[{"name": "c1", "env": [{"name": "A", "value": None,
                                              "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]}]),
     pod({"name": "c1", "env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]})),
    ("ports-merged-by-containerPort", POD,
     pod({"name": "c1", "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}]}),
     spec(containers=[{"name": "c1", "ports": [{"containerPort": 443, "name": "https"}]}]),
     pod({"name": "c1", "ports": [{"containerPort": 80, "name": "http"},
                                  {"containerPort": 443, "name": "https"}]})),
    ("volumes-merged-by-name", POD,
     pod(C1, volumes=[{"name": "v1", "emptyDir": {}}, {"name": "v2", "secret": {"secretName": "s"}}]),
     spec(volumes=[{"name": "v2", "secret": {"defaultMode": 420}}]),
     pod(C1, volumes=[{"name": "v1", "emptyDir": {}},
                      {"name": "v2", "secret": {"secretName": "s", "defaultMode": 420}}])),
    ("patch-delete-removes-container", POD, pod(C1, C2),
     spec(containers=[{"name": "c1", "$patch": "delete"}]), pod(C2)),
    ("patch-delete-of-missing-item-is-noop", POD, pod(C1),
     spec(containers=[{"name": "zz", "$patch": "delete"}]), pod(C1)),
    ("patch-replace-item-replaces-whole-list", POD, pod(C1, C2),
     spec(containers=[{"$patch": "replace"}, {"name": "c3", "image": "i3"}]),
     pod({"name": "c3", "image": "i3"})),
    ("patch-replace-on-map-replaces-map", POD,
     pod(C1, securityContext={"runAsUser": 1, "fsGroup": 2}),
     spec(securityContext={"$patch": "replace", "runAsGroup": 3}),
     pod(C1, securityContext={"runAsGroup": 3})),
    ("patch-delete-on-map-empties-it", POD,
     pod(C1, securityContext={"runAsUser": 1}),
     spec(securityContext={"$patch": "delete"}),
     pod(C1, securityContext={})),
    ("new-map-carrying-patch-directive-is-dropped", POD, pod(C1),
     spec(securityContext={"$patch": "replace", "runAsUser": 1}), pod(C1)),
    ("setElementOrder-reorders", POD, pod(C1, C2),
     spec(**{"$setElementOrder/containers": [{"name": "c2"}, {"name": "c1"}]}), pod(C2, C1)),
    ("setElementOrder-places-new-item", POD, pod(C1, C2),
     spec(**{"$setElementOrder/containers": [{"name": "c1"}, {"name": "c3"}, {"name": "c2"}],
             "containers": [{"name": "c3", "image": "i3"}]}),
     pod(C1, {"name": "c3", "image": "i3"}, C2)),
    ("setElementOrder-keeps-server-only-items-in-live-position", POD,
     pod({"name": "a"}, {"name": "b"}, {"name": "s"}, {"name": "c"}, {"name": "d"}),
     spec(**{"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "d"}, {"name": "c"}]}),
     pod({"name": "b"}, {"name": "a"}, {"name": "s"}, {"name": "d"}, {"name": "c"})),
    ("setElementOrder-delete-and-add-with-server-only-item", POD,
     pod({"name": "a"}, {"name": "b", "image": "x"}, {"name": "s", "image": "y"}),
     spec(**{"$setElementOrder/containers": [{"name": "b"}, {"name": "c"}],
             "containers": [{"name": "c"}, {"name": "a", "$patch": "delete"}]}),
     # upstream orders by the live list as mutated in place by the deletion: [b, s, c]
     pod({"name": "b", "image": "x"}, {"name": "s", "image": "y"}, {"name": "c"})),
    ("setElementOrder-on-absent-list-adds-it", POD,
     {"spec": {"containers": [C1]}},
     spec(**{"$setElementOrder/initContainers": [{"name": "x"}], "initContainers": [{"name": "x"}]}),
     {"spec": {"containers": [C1], "initContainers": [{"name": "x"}]}}),
    ("finalizers-merge-as-set", POD,
     {"metadata": {"finalizers": ["a", "b"]}}, {"metadata": {"finalizers": ["b", "c"]}},
     {"metadata": {"finalizers": ["a", "b", "c"]}}),
    ("finalizers-new-item-without-order-goes-first", POD,
     {"metadata": {"finalizers": ["a", "b"]}}, {"metadata": {"finalizers": ["c"]}},
     {"metadata": {"finalizers": ["c", "a", "b"]}}),
    ("finalizers-setElementOrder", POD,
     {"metadata": {"finalizers": ["a", "b", "x"]}},
     {"metadata": {"$setElementOrder/finalizers": ["b", "c", "a"], "finalizers": ["c"]}},
     {"metadata": {"finalizers": ["b", "c", "a", "x"]}}),
    ("deleteFromPrimitiveList-finalizers", POD,
     {"metadata": {"finalizers": ["a", "b", "c"]}},
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zz"]}},
     {"metadata": {"finalizers": ["a", "c"]}}),
    ("deleteFromPrimitiveList-on-absent-list-adds-nothing", POD,
     {"metadata": {"name": "n"}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}},
     {"metadata": {"name": "n"}}),
    ("deleteFromPrimitiveList-on-replace-list", POD,
     pod({"name": "c1", "args": ["x", "y", "x"]}),
     spec(containers=[{"name": "c1", "$deleteFromPrimitiveList/args": ["x"]}]),
     pod({"name": "c1", "args": ["y"]})),
    ("retainKeys-clears-unlisted-fields", DEPLOY,
     {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}}},
     {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
     {"spec": {"strategy": {"type": "Recreate"}}}),
    ("retainKeys-in-volume-item", POD,
     pod(C1, volumes=[{"name": "v", "emptyDir": {"medium": "Memory"}}]),
     spec(volumes=[{"$retainKeys": ["configMap", "name"], "name": "v", "configMap": {"name": "cm"}}]),
     pod(C1, volumes=[{"name": "v", "configMap": {"name": "cm"}}])),
    ("null-deletes-field", POD, pod(C1, nodeName="n1", hostname="h"),
     spec(nodeName=None), pod(C1, hostname="h")),
    ("nulls-inside-new-field-are-discarded", POD, pod(C1),
     spec(securityContext={"runAsUser": 1, "fsGroup": None}),
     pod(C1, securityContext={"runAsUser": 1})),
    ("labels-map-merge", POD,
     {"metadata": {"labels": {"app": "a", "tier": "t"}}},
     {"metadata": {"labels": {"tier": None, "env": "prod", "app": "b"}}},
     {"metadata": {"labels": {"app": "b", "env": "prod"}}}),
    ("annotations-merge", POD,
     {"metadata": {"annotations": {"a": "1"}}}, {"metadata": {"annotations": {"b": "2"}}},
     {"metadata": {"annotations": {"a": "1", "b": "2"}}}),
    ("tolerations-without-merge-key-replaced", POD,
     pod(C1, tolerations=[{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]),
     spec(tolerations=[{"key": "c", "operator": "Exists"}]),
     pod(C1, tolerations=[{"key": "c", "operator": "Exists"}])),
    ("command-primitive-list-replaced", POD,
     pod({"name": "c1", "command": ["a", "b"]}),
     spec(containers=[{"name": "c1", "command": ["c"]}]),
     pod({"name": "c1", "command": ["c"]})),
    ("ownerReferences-merge-by-uid", POD,
     {"metadata": {"ownerReferences": [{"uid": "u1", "name": "a"}]}},
     {"metadata": {"ownerReferences": [{"uid": "u1", "controller": True}, {"uid": "u2", "name": "b"}]}},
     {"metadata": {"ownerReferences": [{"uid": "u1", "name": "a", "controller": True},
                                       {"uid": "u2", "name": "b"}]}}),
    ("service-ports-merge-by-port", SVC,
     {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}},
     {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}},
     {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}}),
    ("replace-strategy-map-taken-verbatim", PDB,
     {"spec": {"selector": {"matchLabels": {"a": "1"}}, "minAvailable": 1}},
     {"spec": {"selector": {"matchLabels": {"b": "2"}}}},
     {"spec": {"selector": {"matchLabels": {"b": "2"}}, "minAvailable": 1}}),
    ("unknown-field-map-merges-list-replaces", POD,
     {"spec": {"containers": [C1], "x-extra": {"a": [1, 2], "b": 1}}},
     {"spec": {"x-extra": {"a": [3], "c": 2}}},
     {"spec": {"containers": [C1], "x-extra": {"a": [3], "b": 1, "c": 2}}}),
    ("type-change-replaces", POD, {"spec": {"x": {"a": 1}}}, {"spec": {"x": [1]}}, {"spec": {"x": [1]}}),
    ("top-level-patch-delete-empties-object", POD, pod(C1), {"$patch": "delete"}, {}),
    ("null-patch-is-noop", POD, pod(C1), None, pod(C1)),
    ("nested-merge-list-in-new-container-kept", DEPLOY,
     {"spec": {"template": {"spec": {"containers": [C1]}}}},
     {"spec": {"template": {"spec": {"containers": [{"name": "c2", "env": [{"name": "E", "value": "v"}]}]}}}},
     {"spec": {"template": {"spec": {"containers": [
         {"name": "c2", "env": [{"name": "E", "value": "v"}]}, C1]}}}}),
]


@pytest.mark.parametrize("def_name,original,patch,expected", [c[1:] for c in APPLY_CASES],
                         ids=[c[0] for c in APPLY_CASES])
def test_strategic_merge_patch(def_name: str, original: dict[str, Any], patch: Any,
                               expected: dict[str, Any]) -> None:
    before_o, before_p = copy.deepcopy(original), copy.deepcopy(patch)
    assert strategic_merge_patch(original, patch, def_name) == expected
    assert original == before_o and patch == before_p


def test_no_schema_merges_maps_and_replaces_lists() -> None:
    original = {"metadata": {"finalizers": ["a"], "labels": {"x": "1"}}}
    patch = {"metadata": {"finalizers": ["b"], "labels": {"y": "2"}}}
    assert strategic_merge_patch(original, patch, None) == {
        "metadata": {"finalizers": ["b"], "labels": {"x": "1", "y": "2"}}}


ERROR_CASES: list[tuple[str, str, dict[str, Any], Any, type, int, str]] = [
    ("patch-merge-on-map-unknown-type", POD, pod(C1, securityContext={"runAsUser": 1}),
     spec(securityContext={"$patch": "merge"}),
     smperrors.PatchFailure, 500, "unknown patch type: merge in map: map[$patch:merge]"),
    ("patch-merge-in-list", POD, pod(C1), spec(containers=[{"$patch": "merge"}]),
     smperrors.PatchFailure, 500, "merging lists cannot yet be specified in the patch"),
    ("patch-bogus-in-list", POD, pod(C1), spec(containers=[{"name": "c1", "$patch": "zap"}]),
     smperrors.PatchFailure, 500, "unknown patch type: zap in map: map[$patch:zap name:c1]"),
    ("missing-merge-key", POD, pod(C1), spec(containers=[{"image": "x"}]),
     smperrors.PatchFailure, 500, "map: map[image:x] does not contain declared merge key: name"),
    ("delete-directive-without-merge-key", POD, pod(C1), spec(containers=[{"$patch": "delete"}]),
     smperrors.PatchFailure, 500, "map: map[$patch:delete] does not contain declared merge key: name"),
    ("bad-deleteFromPrimitiveList-key", POD, {"metadata": {"finalizers": ["a"]}},
     {"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}},
     errors.BadRequest, 400, "invalid patch format of primitive list"),
    ("bad-setElementOrder-key", POD, pod(C1), spec(**{"$setElementOrder": [{"name": "c1"}]}),
     errors.BadRequest, 400, "invalid patch format of setElementOrder list"),
    ("retainKeys-not-a-list", DEPLOY, {"spec": {"strategy": {"type": "Recreate"}}},
     {"spec": {"strategy": {"$retainKeys": "type"}}},
     errors.BadRequest, 400, "invalid patch format of retainKeys"),
    ("retainKeys-missing-patched-field", DEPLOY, {"spec": {"strategy": {"type": "Recreate"}}},
     {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}},
     errors.BadRequest, 400, "invalid patch format of retainKeys"),
    ("setElementOrder-contradicts-patch-order", POD, pod(C1, C2),
     spec(**{"$setElementOrder/containers": [{"name": "c1"}, {"name": "c2"}],
             "containers": [{"name": "c2", "image": "x"}, {"name": "c1", "image": "y"}]}),
     smperrors.PatchFailure, 500, "The order in patch list:\n[map[image:x name:c2] map[image:y name:c1]]\n"
     " doesn't match $setElementOrder list:\n[map[name:c1] map[name:c2]]\n"),
    ("list-of-lists", POD, {"metadata": {"finalizers": []}}, {"metadata": {"finalizers": [["a"]]}},
     errors.Invalid, 422, "the server rejected our request due to an error in our request"),
    ("mixed-element-types", POD, {"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": [1]}},
     smperrors.PatchFailure, 500, "list element types are not identical: [[a] [1]]"),
    ("array-patch", POD, pod(C1), [{"a": 1}],
     errors.BadRequest, 400, "json: cannot unmarshal array into Go value of type map[string]interface {}"),
]


@pytest.mark.parametrize("def_name,original,patch,err_type,code,message", [c[1:] for c in ERROR_CASES],
                         ids=[c[0] for c in ERROR_CASES])
def test_strategic_merge_patch_errors(def_name: str, original: dict[str, Any], patch: Any,
                                      err_type: type, code: int, message: str) -> None:
    with pytest.raises(err_type) as exc:
        strategic_merge_patch(original, patch, def_name)
    assert exc.value.code == code
    assert exc.value.message == message


def test_unknown_status_reason_for_internal_patch_failures() -> None:
    with pytest.raises(smperrors.PatchFailure) as exc:
        strategic_merge_patch(pod(C1), spec(containers=[{"image": "x"}]), POD)
    status = exc.value.to_status()
    # upstream leaves the reason out of an unclassified failure (StatusReasonUnknown)
    assert status["code"] == 500 and "reason" not in status


# --- kubectl client-side apply: a three-way patch as kubectl sends it ----------------------

def _live_deployment() -> dict[str, Any]:
    last_applied = {"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
                    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                             "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                                 "containers": [{"name": "web", "image": "nginx:1.25",
                                                 "env": [{"name": "A", "value": "1"},
                                                         {"name": "B", "value": "2"}]}]}}}}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "resourceVersion": "7",
                     "generation": 1, "labels": {"app": "web"},
                     "annotations": {"deployment.kubernetes.io/revision": "1",
                                     "kubectl.kubernetes.io/last-applied-configuration":
                                         json.dumps(last_applied) + "\n"}},
        "spec": {"replicas": 2, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                 "selector": {"matchLabels": {"app": "web"}},
                 "strategy": {"type": "RollingUpdate",
                              "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                     "containers": [{"name": "web", "image": "nginx:1.25",
                                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                                     "imagePullPolicy": "IfNotPresent", "resources": {},
                                     "terminationMessagePath": "/dev/termination-log",
                                     "terminationMessagePolicy": "File"},
                                    {"name": "sidecar", "image": "busybox"}],
                     "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}}},
        "status": {"replicas": 2, "readyReplicas": 2},
    }


def test_kubectl_client_side_apply_three_way_patch() -> None:
    live = _live_deployment()
    new_last_applied = '{"apiVersion":"apps/v1","kind":"Deployment"}\n'
    # Shape of kubectl apply's CreateThreeWayMergePatch output: image change, env B removed
    # from the config, label added, strategy switched to Recreate (retainKeys union).
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": new_last_applied},
                     "labels": {"tier": "frontend"}},
        "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                 "template": {"spec": {
                     "$setElementOrder/containers": [{"name": "web"}],
                     "containers": [{"$setElementOrder/env": [{"name": "A"}],
                                     "env": [{"$patch": "delete", "name": "B"}],
                                     "image": "nginx:1.27", "name": "web"}]}}},
    }
    out = strategic_merge_patch(live, patch, DEPLOY)
    web, sidecar = out["spec"]["template"]["spec"]["containers"]
    assert web == {"name": "web", "image": "nginx:1.27", "env": [{"name": "A", "value": "1"}],
                   "imagePullPolicy": "IfNotPresent", "resources": {},
                   "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
    assert sidecar == {"name": "sidecar", "image": "busybox"}  # server-only item survives
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    assert out["metadata"]["labels"] == {"app": "web", "tier": "frontend"}
    assert out["metadata"]["annotations"] == {
        "deployment.kubernetes.io/revision": "1",
        "kubectl.kubernetes.io/last-applied-configuration": new_last_applied}
    assert out["status"] == live["status"] and out["spec"]["replicas"] == 2


# --- two-way patch creation ------------------------------------------------------------------

ROUNDTRIP_CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("container-image-change", POD, pod(C1, C2), pod(C1, {"name": "c2", "image": "new"})),
    ("container-added-and-removed", POD, pod(C1, C2), pod({"name": "c3"}, C1)),
    ("containers-reordered", POD, pod(C1, C2), pod(C2, C1)),
    ("env-item-removed", POD, pod({"name": "c", "env": [{"name": "A"}, {"name": "B"}]}),
     pod({"name": "c", "env": [{"name": "B"}]})),
    ("finalizers-changed", POD, {"metadata": {"finalizers": ["a", "b", "c"]}},
     {"metadata": {"finalizers": ["d", "c", "a"]}}),
    ("labels-changed", POD, {"metadata": {"labels": {"a": "1", "b": "2"}}},
     {"metadata": {"labels": {"a": "3", "c": "4"}}}),
    ("tolerations-replaced", POD, pod(C1, tolerations=[{"key": "a"}]), pod(C1, tolerations=[{"key": "b"}])),
    ("strategy-union-switch", DEPLOY,
     {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}},
     {"spec": {"strategy": {"type": "Recreate"}}}),
    ("volume-source-switch", POD, pod(C1, volumes=[{"name": "v", "emptyDir": {}}]),
     pod(C1, volumes=[{"name": "v", "secret": {"secretName": "s"}}])),
    ("field-removed", POD, pod(C1, nodeName="n"), pod(C1)),
    ("identical", POD, pod(C1, C2), pod(C1, C2)),
]


@pytest.mark.parametrize("def_name,original,modified", [c[1:] for c in ROUNDTRIP_CASES],
                         ids=[c[0] for c in ROUNDTRIP_CASES])
def test_two_way_patch_roundtrips(def_name: str, original: dict[str, Any],
                                  modified: dict[str, Any]) -> None:
    before = copy.deepcopy(original)
    patch = two_way_merge_patch(original, modified, def_name)
    assert original == before
    assert strategic_merge_patch(original, patch, def_name) == modified


SHAPE_CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("identical-gives-empty-patch", POD, pod(C1), pod(C1), {}),
    ("container-removed-uses-delete-directive-and-order", POD, pod(C1, C2), pod(C2),
     spec(**{"$setElementOrder/containers": [{"name": "c2"}],
             "containers": [{"name": "c1", "$patch": "delete"}]})),
    ("finalizer-removed-uses-parallel-list", POD, {"metadata": {"finalizers": ["a", "b"]}},
     {"metadata": {"finalizers": ["a"]}},
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"], "$setElementOrder/finalizers": ["a"]}}),
    ("strategy-change-sets-retainKeys", DEPLOY,
     {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}},
     {"spec": {"strategy": {"type": "Recreate"}}},
     {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}}),
    ("label-removed-is-null", POD, {"metadata": {"labels": {"a": "1"}}}, {"metadata": {"labels": {}}},
     {"metadata": {"labels": {"a": None}}}),
]


@pytest.mark.parametrize("def_name,original,modified,expected", [c[1:] for c in SHAPE_CASES],
                         ids=[c[0] for c in SHAPE_CASES])
def test_two_way_patch_shape(def_name: str, original: dict[str, Any], modified: dict[str, Any],
                             expected: dict[str, Any]) -> None:
    assert two_way_merge_patch(original, modified, def_name) == expected
