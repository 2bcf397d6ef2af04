"""Server-side apply and managedFields (structured-merge-diff + apiserver fieldmanager rules)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kubeproc.api import errors
from kubeproc.registry.patch import apply
from kubeproc.registry.patch.fieldset import FieldSet, PathElement, path_string

DEPLOY = "io.k8s.api.apps.v1.Deployment"
POD = "io.k8s.api.core.v1.Pod"
T0, T1, T2, T3 = ("2026-11-25T18:00:00Z", "2026-11-25T18:01:00Z", "2026-11-25T18:02:00Z",
                  "2026-11-25T18:03:00Z")


def F(*names: str) -> tuple[PathElement, ...]:
    return tuple(PathElement.field(n) for n in names)


def deploy(replicas: int | None = None, labels: dict[str, str] | None = None,
           containers: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": containers or [{"name": "web", "image": "nginx:1"}]}}},
    }
    if replicas is not None:
        d["spec"]["replicas"] = replicas
    if labels:
        d["metadata"]["labels"] = labels
    d["spec"].update(spec)
    return d


def ssa(live: dict[str, Any] | None, cfg: dict[str, Any], manager: str = "mgr1",
        force: bool = False, now: str = T0, **kw: Any) -> dict[str, Any]:
    return apply.server_side_apply(live, cfg, manager, force, DEPLOY, now, "apps/v1", **kw)


def update(old: dict[str, Any], mutate: Any, manager: str, now: str = T1, **kw: Any) -> dict[str, Any]:
    new = copy.deepcopy(old)
    mutate(new)
    new["metadata"]["managedFields"] = apply.update_managed_fields(
        old, new, manager, "Update", DEPLOY, now, "apps/v1", **kw)
    return new


def owned(obj: dict[str, Any], manager: str) -> set[str]:
    for e in obj["metadata"].get("managedFields", []):
        if e["manager"] == manager:
            return {path_string(p) for p in FieldSet.from_fields_v1(e["fieldsV1"]).paths()}
    return set()


def managers(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["manager"], e["operation"]) for e in obj["metadata"].get("managedFields", [])]


# --- FieldSet / FieldsV1 ------------------------------------------------------------------
@pytest.mark.parametrize("pe,key,string", [
    (PathElement.field("replicas"), "f:replicas", ".replicas"),
    (PathElement.key({"protocol": "TCP", "containerPort": 80}),
     'k:{"containerPort":80,"protocol":"TCP"}', '[containerPort=80,protocol="TCP"]'),
    (PathElement.value("a<b"), 'v:"a\\u003cb"', '[="a<b"]'),
    (PathElement.index(3), "i:3", "[3]"),
], ids=["field", "key-sorted-by-name", "value-html-escaped", "index"])
def test_path_element_encoding(pe: PathElement, key: str, string: str) -> None:
    assert pe.serialize() == key
    assert str(pe) == string
    assert PathElement.deserialize(key) == pe


@pytest.mark.parametrize("op,a,b,want", [
    ("union", [F("a")], [F("b", "c")], {".a", ".b.c"}),
    ("difference", [F("a"), F("a", "b")], [F("a")], {".a.b"}),
    ("difference", [F("a", "b"), F("c")], [F("a", "b")], {".c"}),
    ("intersection", [F("a", "b"), F("c")], [F("a", "b"), F("d")], {".a.b"}),
    ("recursive_difference", [F("a", "b"), F("c")], [F("a")], {".c"}),
], ids=["union", "difference-keeps-children-of-removed-member", "difference-drops-empty",
        "intersection", "recursive-difference-drops-subtree"])
def test_fieldset_operations(op: str, a: list[Any], b: list[Any], want: set[str]) -> None:
    got = getattr(FieldSet.of(*a), op)(FieldSet.of(*b))
    assert {path_string(p) for p in got.paths()} == want
    assert got.empty() is (not want)


def test_fields_v1_member_with_children_gets_dot_and_roundtrips() -> None:
    s = FieldSet.of(F("metadata", "labels"), F("metadata", "labels", "app"), F("spec", "replicas"))
    assert s.to_json() == '{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:replicas":{}}}'
    assert FieldSet.from_fields_v1(s.to_json()) == s


# Upstream sample: POST of a Deployment (manager "curl") then the controller's status write,
# with the managedFields the API server returned (byte for byte).
CREATED = {
    "kind": "Deployment", "apiVersion": "apps/v1",
    "metadata": {"name": "api-test-json", "namespace": "apitest", "uid": "3663daca",
                 "resourceVersion": "307420", "generation": 1,
                 "creationTimestamp": "2021-05-10T03:42:22Z", "labels": {"app": "api-test-json"}},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "api-test-json"}},
             "template": {"metadata": {"creationTimestamp": None, "labels": {"app": "api-test-json"}},
                          "spec": {"containers": [{"name": "nginx-json", "image": "nginx:alpine",
                                                   "resources": {},
                                                   "terminationMessagePath": "/dev/termination-log",
                                                   "terminationMessagePolicy": "File",
                                                   "imagePullPolicy": "IfNotPresent"}],
                                   "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                                   "dnsPolicy": "ClusterFirst", "securityContext": {},
                                   "schedulerName": "default-scheduler"}},
             "strategy": {"type": "RollingUpdate",
                          "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
             "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
    "status": {},
}
CURL_FIELDS = (
    r'{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:progressDeadlineSeconds":{},'
    r'"f:replicas":{},"f:revisionHistoryLimit":{},"f:selector":{},"f:strategy":{"f:rollingUpdate":'
    r'{".":{},"f:maxSurge":{},"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:metadata":'
    r'{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx-json\"}":'
    r'{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:resources":{},'
    r'"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},'
    r'"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},'
    r'"f:terminationGracePeriodSeconds":{}}}}}')
K3S_FIELDS = (
    r'{"f:metadata":{"f:annotations":{".":{},"f:deployment.kubernetes.io/revision":{}}},'
    r'"f:status":{"f:availableReplicas":{},"f:conditions":{".":{},"k:{\"type\":\"Available\"}":'
    r'{".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},"f:message":{},"f:reason":{},'
    r'"f:status":{},"f:type":{}},"k:{\"type\":\"Progressing\"}":{".":{},"f:lastTransitionTime":{},'
    r'"f:lastUpdateTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}},'
    r'"f:observedGeneration":{},"f:readyReplicas":{},"f:replicas":{},"f:updatedReplicas":{}}}')


def _encode(fields_v1: dict[str, Any]) -> str:
    return json.dumps(fields_v1, separators=(",", ":"), ensure_ascii=False)


def test_create_managed_fields_match_upstream_bytes() -> None:
    mf = apply.update_managed_fields(None, CREATED, "curl", "Update", DEPLOY,
                                     "2021-05-10T03:42:22Z", "apps/v1")
    assert [list(e) for e in mf] == [["manager", "operation", "apiVersion", "time", "fieldsType",
                                      "fieldsV1"]]
    assert mf[0]["manager"] == "curl" and mf[0]["operation"] == "Update"
    assert _encode(mf[0]["fieldsV1"]) == CURL_FIELDS
    assert FieldSet.from_fields_v1(CURL_FIELDS).to_json() == CURL_FIELDS


def test_controller_status_update_matches_upstream_bytes() -> None:
    old = copy.deepcopy(CREATED)
    old["metadata"]["managedFields"] = apply.update_managed_fields(
        None, CREATED, "curl", "Update", DEPLOY, "2021-05-10T03:42:22Z", "apps/v1")
    new = copy.deepcopy(old)
    new["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "1"}
    cond = {"status": "True", "lastUpdateTime": "2021-05-10T03:42:35Z",
            "lastTransitionTime": "2021-05-10T03:42:35Z", "reason": "r", "message": "m"}
    new["status"] = {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3,
                     "readyReplicas": 3, "availableReplicas": 3,
                     "conditions": [{"type": "Available", **cond}, {"type": "Progressing", **cond}]}
    mf = apply.update_managed_fields(old, new, "k3s", "Update", DEPLOY, "2021-05-10T03:42:35Z",
                                     "apps/v1")
    assert [(e["manager"], e["time"]) for e in mf] == [("curl", "2021-05-10T03:42:22Z"),
                                                       ("k3s", "2021-05-10T03:42:35Z")]
    assert _encode(mf[0]["fieldsV1"]) == CURL_FIELDS
    assert _encode(mf[1]["fieldsV1"]) == K3S_FIELDS


# --- apply --------------------------------------------------------------------------------
def test_apply_creates_with_apply_entry() -> None:
    cfg = deploy(2, {"app": "web"})
    obj = ssa(None, cfg)
    assert {k: v for k, v in obj.items() if k != "metadata"} == {k: v for k, v in cfg.items()
                                                                if k != "metadata"}
    assert obj["metadata"]["managedFields"] == [{
        "manager": "mgr1", "operation": "Apply", "apiVersion": "apps/v1", "time": T0,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}},
                     "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {
                         "f:metadata": {"f:labels": {"f:app": {}}},
                         "f:spec": {"f:containers": {'k:{"name":"web"}': {
                             ".": {}, "f:image": {}, "f:name": {}}}}}}}}]
    assert cfg == deploy(2, {"app": "web"}), "input mutated"


@pytest.mark.parametrize("first,second,check", [
    (deploy(2, {"a": "1", "b": "2"}), deploy(2, {"a": "1"}),
     lambda o: o["metadata"]["labels"] == {"a": "1"}),
    (deploy(2), deploy(),
     lambda o: "replicas" not in o["spec"]),
    (deploy(containers=[{"name": "web", "image": "nginx:1"}, {"name": "side", "image": "busybox"}]),
     deploy(containers=[{"name": "web", "image": "nginx:1"}]),
     lambda o: [c["name"] for c in o["spec"]["template"]["spec"]["containers"]] == ["web"]),
    (deploy(containers=[{"name": "web", "image": "nginx:1", "args": ["a"]}]),
     deploy(containers=[{"name": "web", "image": "nginx:1"}]),
     lambda o: "args" not in o["spec"]["template"]["spec"]["containers"][0]),
], ids=["removed-label", "removed-scalar", "removed-map-list-item", "removed-atomic-list"])
def test_reapply_without_field_removes_it(first: dict[str, Any], second: dict[str, Any],
                                          check: Any) -> None:
    obj = ssa(ssa(None, first), second, now=T1)
    assert check(obj)
    assert obj["metadata"]["managedFields"][0]["time"] == T1


def test_reapply_keeps_field_another_manager_owns() -> None:
    obj = ssa(None, deploy(2, {"a": "1", "b": "2"}))
    obj = ssa(obj, deploy(2, {"b": "2"}), manager="mgr2", now=T1)
    obj = ssa(obj, deploy(2, {"a": "1"}), now=T2)
    assert obj["metadata"]["labels"] == {"a": "1", "b": "2"}
    assert ".metadata.labels.b" in owned(obj, "mgr2")
    assert ".metadata.labels.b" not in owned(obj, "mgr1")


def test_reapply_keeps_fields_set_by_updaters() -> None:
    obj = ssa(None, deploy(2))
    obj = update(obj, lambda o: o["metadata"].setdefault("annotations", {}).update(x="y"), "ctl")
    obj = ssa(obj, deploy(2), now=T2)
    assert obj["metadata"]["annotations"] == {"x": "y"}


def _csa_owns_replicas() -> dict[str, Any]:
    obj = ssa(None, deploy(2))
    return update(obj, lambda o: o["spec"].update(replicas=5), "kubectl-client-side-apply")


def test_conflict_on_field_owned_by_other_manager() -> None:
    obj = _csa_owns_replicas()
    assert owned(obj, "kubectl-client-side-apply") == {".spec.replicas"}
    assert ".spec.replicas" not in owned(obj, "mgr1")
    with pytest.raises(errors.Conflict) as ei:
        ssa(obj, deploy(3), now=T2)
    st = ei.value.to_status()
    assert (st["code"], st["reason"]) == (409, "Conflict")
    assert st["message"] == ('Apply failed with 1 conflict: conflict with '
                             '"kubectl-client-side-apply" using apps/v1: .spec.replicas')
    assert st["details"]["causes"] == [{
        "reason": "FieldManagerConflict",
        "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
        "field": ".spec.replicas"}]


def test_conflicts_with_appliers_and_several_fields() -> None:
    obj = ssa(None, deploy(2, {"a": "1"}), manager="alice")
    with pytest.raises(errors.Conflict) as ei:
        ssa(obj, deploy(3, {"a": "2"}), manager="bob", now=T1)
    assert ei.value.message == ('Apply failed with 2 conflicts: conflicts with "alice":\n'
                                '- .metadata.labels.a\n- .spec.replicas')
    assert [c.field for c in ei.value.causes] == [".metadata.labels.a", ".spec.replicas"]
    assert ei.value.causes[0].message == 'conflict with "alice"'


def test_conflict_path_inside_map_list() -> None:
    obj = ssa(None, deploy())
    with pytest.raises(errors.Conflict) as ei:
        ssa(obj, deploy(containers=[{"name": "web", "image": "nginx:2"}]), manager="bob")
    assert ei.value.causes[0].field == '.spec.template.spec.containers[name="web"].image'


def test_equal_value_is_shared_not_conflict() -> None:
    obj = _csa_owns_replicas()
    obj = ssa(obj, deploy(5), now=T2)
    assert obj["spec"]["replicas"] == 5
    assert ".spec.replicas" in owned(obj, "mgr1")
    assert owned(obj, "kubectl-client-side-apply") == {".spec.replicas"}


def test_force_moves_ownership() -> None:
    obj = _csa_owns_replicas()
    obj = ssa(obj, deploy(3), force=True, now=T2)
    assert obj["spec"]["replicas"] == 3
    assert ".spec.replicas" in owned(obj, "mgr1")
    assert managers(obj) == [("mgr1", "Apply")]  # the emptied manager entry is dropped


def test_map_list_items_merge_by_key_across_managers() -> None:
    web = {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}]}
    obj = ssa(None, deploy(containers=[web]))
    side = {"name": "side", "image": "busybox", "ports": [{"containerPort": 80, "protocol": "UDP"}]}
    obj = ssa(obj, deploy(containers=[side]), manager="mgr2", now=T1)
    # mgr2 also adds a UDP port to "web": ports are keyed by containerPort+protocol (TCP default)
    obj = ssa(obj, deploy(containers=[side, {"name": "web", "ports": [
        {"containerPort": 80, "protocol": "UDP"}]}]), manager="mgr2", now=T2)
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["side", "web"]  # shared items take rhs order
    web_out = containers[1]
    assert web_out["ports"] == [{"containerPort": 80}, {"containerPort": 80, "protocol": "UDP"}]
    assert web_out["image"] == "nginx:1"
    assert containers[0]["ports"] == [{"containerPort": 80, "protocol": "UDP"}]
    assert ('.spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"]'
            in owned(obj, "mgr1"))
    assert ('.spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="UDP"]'
            ".containerPort" in owned(obj, "mgr2"))


def test_atomic_list_is_replaced_whole() -> None:
    obj = ssa(None, deploy(containers=[{"name": "web", "image": "nginx:1", "args": ["a", "b"]}]))
    obj = ssa(obj, deploy(containers=[{"name": "web", "image": "nginx:1", "args": ["c"]}]), now=T1)
    assert obj["spec"]["template"]["spec"]["containers"][0]["args"] == ["c"]
    assert '.spec.template.spec.containers[name="web"].args' in owned(obj, "mgr1")


def test_set_list_items_are_values() -> None:
    obj = ssa(None, {**deploy(), "metadata": {"name": "web", "finalizers": ["a/x"]}})
    obj = ssa(obj, {**deploy(), "metadata": {"name": "web", "finalizers": ["b/y"]}},
              manager="mgr2", now=T1)
    assert obj["metadata"]["finalizers"] == ["a/x", "b/y"]
    assert owned(obj, "mgr2") >= {'.metadata.finalizers[="b/y"]'}
    assert obj["metadata"]["managedFields"][1]["fieldsV1"]["f:metadata"] == {
        "f:finalizers": {'v:"b/y"': {}}}


def test_reset_fields_are_neither_applied_nor_owned() -> None:
    live = ssa(None, deploy(2))
    live["status"] = {"replicas": 2}
    obj = ssa(live, {**deploy(2), "status": {"replicas": 9}}, now=T1, reset_fields=["status"])
    assert obj["status"] == {"replicas": 2}
    assert not any(p.startswith(".status") for p in owned(obj, "mgr1"))


def test_noop_apply_by_new_manager_shares_fields_without_time() -> None:
    obj = ssa(None, deploy(2))
    obj2 = ssa(obj, deploy(2), manager="mgr2", now=T1)
    assert owned(obj2, "mgr2") == owned(obj, "mgr1")
    entry = [e for e in obj2["metadata"]["managedFields"] if e["manager"] == "mgr2"][0]
    assert "time" not in entry  # managedfieldsupdater: time moves only when the object changes


def test_first_apply_on_untracked_object_keeps_existing_owner() -> None:
    live = deploy(2, {"a": "1"})
    live["metadata"]["uid"] = "u1"
    obj = ssa(live, deploy(2), now=T1)
    assert obj["metadata"]["labels"] == {"a": "1"}
    assert ("before-first-apply", "Update") in managers(obj)
    assert ".metadata.labels.a" in owned(obj, "before-first-apply")


@pytest.mark.parametrize("cfg,exc", [
    ({**deploy(), "metadata": {"name": "web", "managedFields": [{"manager": "x"}]}},
     errors.BadRequest),
    (deploy(containers=[{"image": "nginx"}]), errors.BadRequest),
], ids=["managed-fields-in-config", "map-list-item-without-key"])
def test_apply_rejects_bad_configuration(cfg: dict[str, Any], exc: type) -> None:
    with pytest.raises(exc):
        ssa(None, cfg)


def test_explicit_null_in_config_clears_field() -> None:
    obj = ssa(None, deploy(2))
    obj = ssa(obj, {**deploy(), "spec": {**deploy()["spec"], "replicas": None}}, now=T1)
    assert "replicas" not in obj["spec"]


# --- non-apply writes ---------------------------------------------------------------------
def test_update_takes_changed_fields_from_others() -> None:
    obj = ssa(None, deploy(2, {"a": "1"}))
    obj = update(obj, lambda o: o["spec"].update(replicas=4), "ctl")
    assert ".spec.replicas" not in owned(obj, "mgr1")
    assert owned(obj, "ctl") == {".spec.replicas"}
    assert managers(obj) == [("mgr1", "Apply"), ("ctl", "Update")]


def test_same_update_manager_merges_and_noop_keeps_time() -> None:
    obj = ssa(None, deploy(2))
    obj = update(obj, lambda o: o["spec"].update(replicas=4), "ctl", now=T1)
    obj = update(obj, lambda o: o["metadata"].update(labels={"x": "y"}), "ctl", now=T2)
    assert owned(obj, "ctl") == {".spec.replicas", ".metadata.labels", ".metadata.labels.x"}
    obj = update(obj, lambda o: None, "ctl", now=T3)
    assert [e["time"] for e in obj["metadata"]["managedFields"] if e["manager"] == "ctl"] == [T2]


def test_status_subresource_update_is_its_own_manager() -> None:
    obj = ssa(None, deploy(2))
    obj = update(obj, lambda o: o.update(status={"replicas": 2}), "ctl", now=T1,
                 subresource="status")
    obj = update(obj, lambda o: o["spec"].update(replicas=3), "ctl", now=T2)
    entries = [(e["manager"], e.get("subresource")) for e in obj["metadata"]["managedFields"]]
    assert entries == [("mgr1", None), ("ctl", "status"), ("ctl", None)]


def test_removed_fields_are_dropped_from_every_manager() -> None:
    obj = ssa(None, deploy(2, {"a": "1"}))
    obj = update(obj, lambda o: o["metadata"].pop("labels"), "ctl")
    assert not any(p.startswith(".metadata.labels") for p in owned(obj, "mgr1"))
    assert ".spec.template.metadata.labels.app" in owned(obj, "mgr1")
    assert managers(obj) == [("mgr1", "Apply")]  # ctl took nothing: no entry


@pytest.mark.parametrize("sent,old_tracked,want", [
    ([], True, []),
    ([{}], True, []),
    (None, False, []),
], ids=["empty-list-clears", "single-empty-entry-clears", "untracked-object-stays-untracked"])
def test_update_managed_fields_reset_and_skip(sent: Any, old_tracked: bool, want: Any) -> None:
    old = ssa(None, deploy(2)) if old_tracked else deploy(2)
    old["metadata"]["uid"] = "u1"
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 7
    if sent is None:
        new["metadata"].pop("managedFields", None)
    else:
        new["metadata"]["managedFields"] = sent
    assert apply.update_managed_fields(old, new, "ctl", "Update", DEPLOY, T1, "apps/v1") == want


def test_update_managers_are_capped_into_ancient_changes() -> None:
    obj = ssa(None, deploy(2))
    for i in range(12):
        obj = update(obj, lambda o, i=i: o["metadata"].setdefault("labels", {}).update({f"l{i}": "v"}),
                     f"ctl{i:02d}", now=f"2026-11-25T18:{i:02d}:30Z")
    names = [m for m, op in managers(obj) if op == "Update"]
    assert len(names) == 10 and "ancient-changes" in names
    assert {".metadata.labels.l0", ".metadata.labels.l1", ".metadata.labels.l2"} <= owned(
        obj, "ancient-changes")


def test_pod_create_tracks_required_list_and_defaulted_fields() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80,
                                                                        "protocol": "TCP"}]}]}}
    mf = apply.update_managed_fields(None, pod, "kubectl-create", "Update", POD, T0, "v1")
    assert mf[0]["fieldsV1"] == {"f:spec": {"f:containers": {'k:{"name":"c"}': {
        ".": {}, "f:image": {}, "f:name": {}, "f:ports": {
            ".": {}, 'k:{"containerPort":80,"protocol":"TCP"}': {
                ".": {}, "f:containerPort": {}, "f:protocol": {}}}}}}}


def test_apply_without_schema_deduces_types() -> None:
    cfg = {"apiVersion": "x.io/v1", "kind": "Thing", "metadata": {"name": "t"},
           "spec": {"items": [1, 2], "m": {"a": {"b": 1}}}}
    obj = apply.server_side_apply(None, cfg, "m1", False, "", T0, "x.io/v1")
    assert obj["metadata"]["managedFields"][0]["fieldsV1"] == {
        # deduced maps: every entry is a member (tofieldset.go visitMapItems)
        "f:spec": {".": {}, "f:items": {}, "f:m": {".": {}, "f:a": {".": {}, "f:b": {}}}}}
    obj = apply.server_side_apply(obj, {**cfg, "spec": {"items": [3]}}, "m1", False, "", T1,
                                  "x.io/v1")
    assert obj["spec"] == {"items": [3]}


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _client_side_applied(live_replicas: int) -> dict[str, Any]:
    cfg = deploy(2)
    annotated = copy.deepcopy(cfg)
    annotated["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(cfg)}
    annotated["metadata"]["uid"] = "u1"
    annotated["metadata"]["managedFields"] = apply.update_managed_fields(
        None, annotated, "kubectl-client-side-apply", "Update", DEPLOY, T0, "apps/v1")
    if live_replicas != 2:
        annotated = update(annotated, lambda o: o["spec"].update(replicas=live_replicas),
                           "kubectl-client-side-apply")
    return annotated


@pytest.mark.parametrize("manager,live_replicas,conflicts", [
    ("kubectl", 2, False),
    ("kubectl", 5, True),
    ("other", 2, True),
], ids=["kubectl-takes-over-unchanged-csa-field", "csa-field-drifted-from-last-applied",
        "only-kubectl-upgrades-from-csa"])
def test_upgrade_from_client_side_apply(manager: str, live_replicas: int, conflicts: bool) -> None:
    live = _client_side_applied(live_replicas)
    if conflicts:
        with pytest.raises(errors.Conflict) as ei:
            ssa(live, deploy(3), manager=manager, now=T2)
        assert [c.field for c in ei.value.causes] == [".spec.replicas"]
        return
    obj = ssa(live, deploy(3), manager=manager, now=T2)
    assert obj["spec"]["replicas"] == 3
    assert ".spec.replicas" in owned(obj, "kubectl")
    assert ".spec.replicas" not in owned(obj, "kubectl-client-side-apply")
    # lastappliedupdater: the annotation now records the server-side applied configuration
    assert obj["metadata"]["annotations"][LAST_APPLIED] == (
        json.dumps(deploy(3), sort_keys=True, separators=(",", ":")) + "\n")


def test_nested_reset_field_keeps_live_value() -> None:
    live = ssa(None, deploy(2, {"a": "1"}))
    obj = ssa(live, {**deploy(2, {"a": "2"}), "status": {"replicas": 1}}, manager="status-mgr",
              now=T1, subresource="status", reset_fields=["spec", "metadata.labels"])
    assert obj["metadata"]["labels"] == {"a": "1"} and obj["spec"] == live["spec"]
    assert obj["status"] == {"replicas": 1}
    assert owned(obj, "status-mgr") == {".status.replicas"}
    assert [e.get("subresource") for e in obj["metadata"]["managedFields"]] == [None, "status"]
    assert live["metadata"]["labels"] == {"a": "1"}


def test_managed_fields_sent_with_update_replace_live_ones() -> None:
    old = ssa(None, deploy(2))
    new = copy.deepcopy(old)
    new["metadata"]["managedFields"] = [{
        "manager": "someone", "operation": "Update", "apiVersion": "apps/v1", "time": T0,
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    mf = apply.update_managed_fields(old, new, "ctl", "Update", DEPLOY, T1, "apps/v1")
    assert [(e["manager"], e["fieldsV1"]) for e in mf] == [("someone", {"f:spec": {"f:replicas": {}}})]
