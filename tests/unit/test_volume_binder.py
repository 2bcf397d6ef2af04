"""The PV controller's pure decisions (kubeproc.controllers.volume.binder and .sync) against
pv_controller.go and FindMatchingVolume: matching, bind's writes and annotations, the unbound
claim paths (default class, WaitForFirstConsumer, provisioning hand-off, FailedBinding), bound
claims losing their volume, syncVolume's phases and reclaim, and the scheduler helper.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubeproc.controllers.volume import binder as b
from kubeproc.controllers.volume.scheduling import claims_to_select, prefilter_reason, select_node
from kubeproc.controllers.volume.sync import reclaim, sync_claim, sync_volume

NOW = "2026-01-01T00:00:00Z"
PROV = "kubeproc.io/local-path"


def pvc(name: str = "data", cls: str | None = "c", size: str = "1Gi", uid: str = "u1",
        modes: tuple[str, ...] = ("ReadWriteOnce",), anns: dict[str, str] | None = None,
        **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"accessModes": list(modes), "resources": {"requests": {"storage": size}},
                         **spec}
    if cls is not None:
        s["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "ns", "uid": uid, "resourceVersion": "5",
                         "annotations": dict(anns or {})},
            "spec": s, "status": {"phase": "Pending"}}


def pv(name: str, size: str = "1Gi", cls: str = "c", phase: str = "Available",
       modes: tuple[str, ...] = ("ReadWriteOnce",), ref: dict[str, Any] | None = None,
       anns: dict[str, str] | None = None, labels: dict[str, str] | None = None,
       policy: str = "Retain", **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"capacity": {"storage": size}, "accessModes": list(modes),
                         "storageClassName": cls, "persistentVolumeReclaimPolicy": policy,
                         "hostPath": {"path": "/x"}, **spec}
    if ref is not None:
        s["claimRef"] = ref
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "uid": "v-" + name, "annotations": dict(anns or {}),
                         "labels": dict(labels or {})},
            "spec": s, "status": {"phase": phase}}


def sc(name: str = "c", mode: str = "Immediate", default: bool = False,
       created: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    anns = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"metadata": {"name": name, "annotations": anns, "creationTimestamp": created},
            "provisioner": PROV, "volumeBindingMode": mode, "reclaimPolicy": "Delete"}


REF = {"name": "data", "namespace": "ns", "uid": "u1"}


@pytest.mark.parametrize("volumes, delay, node, want", [
    ([pv("big", "5Gi"), pv("small", "2Gi"), pv("tiny", "500Mi")], False, None, "small"),
    ([pv("other-class", "1Gi", cls="d")], False, None, None),
    ([pv("rwx-only", modes=("ReadWriteMany",))], False, None, None),
    ([pv("bound-elsewhere", ref={"name": "x", "namespace": "ns", "uid": "u9"})], False, None, None),
    ([pv("released", phase="Released")], False, None, None),
    ([pv("avail", "1Gi"), pv("prebound", "9Gi", phase="Bound", ref={"name": "data", "namespace": "ns"})],
     False, None, "prebound"),
    ([pv("avail")], True, None, None),
    ([pv("avail")], True, {"kubernetes.io/hostname": "n1"}, "avail"),
    ([pv("elsewhere", local={"path": "/x"}, nodeAffinity={"required": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n2"]}]}]}})],
     True, {"kubernetes.io/hostname": "n1"}, None),
], ids=["smallest-fitting", "class-must-match", "access-modes-must-be-offered", "claimed-by-other",
        "only-available-phase", "prebound-wins", "delayed-without-node-waits", "delayed-with-node",
        "node-affinity-excludes"])
def test_find_best_match(volumes: list[dict[str, Any]], delay: bool,
                         node: dict[str, str] | None, want: str | None) -> None:
    got = b.find_best_match(pvc(), volumes, delay, node)
    assert (got["metadata"]["name"] if got else None) == want


def test_find_best_match_honours_selector() -> None:
    claim = pvc(selector={"matchLabels": {"tier": "db"}})
    got = b.find_best_match(claim, [pv("a"), pv("b", labels={"tier": "db"})], False)
    assert got is not None and got["metadata"]["name"] == "b"


def writes(actions: list[Any]) -> list[tuple[str, str, str]]:
    return [(a.obj["kind"], a.obj["metadata"]["name"], a.subresource)
            for a in actions if isinstance(a, b.Write)]


def events(actions: list[Any]) -> list[tuple[str, str, str]]:
    return [(a.type, a.reason, a.message) for a in actions if isinstance(a, b.Emit)]


def test_bind_writes_volume_then_claim_with_annotations() -> None:
    claim, vol = pvc(), pv("v1", "2Gi")
    actions = b.bind(vol, claim, NOW)
    assert writes(actions) == [("PersistentVolume", "v1", ""), ("PersistentVolume", "v1", "status"),
                               ("PersistentVolumeClaim", "data", ""),
                               ("PersistentVolumeClaim", "data", "status")]
    new_pv, pv_status, new_claim, claim_status = (a.obj for a in actions)
    assert new_pv["spec"]["claimRef"] == {"kind": "PersistentVolumeClaim", "namespace": "ns",
                                          "name": "data", "uid": "u1", "apiVersion": "v1",
                                          "resourceVersion": "5"}
    assert new_pv["metadata"]["annotations"] == {b.ANN_BOUND_BY_CONTROLLER: "yes"}
    assert pv_status["status"] == {"phase": "Bound", "lastPhaseTransitionTime": NOW}
    assert new_claim["spec"]["volumeName"] == "v1"
    assert new_claim["metadata"]["annotations"] == {b.ANN_BOUND_BY_CONTROLLER: "yes",
                                                    b.ANN_BIND_COMPLETED: "yes"}
    assert claim_status["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                                      "capacity": {"storage": "2Gi"}}
    assert claim["spec"].get("volumeName") is None and vol["spec"].get("claimRef") is None


def test_bind_of_user_prebound_pair_adds_no_bound_by_controller() -> None:
    claim = pvc(volumeName="v1")
    vol = pv("v1", ref=dict(REF))
    new_claim = next(a.obj for a in b.bind(vol, claim, NOW)
                     if isinstance(a, b.Write) and a.obj["kind"] == "PersistentVolumeClaim")
    assert new_claim["metadata"]["annotations"] == {b.ANN_BIND_COMPLETED: "yes"}
    assert writes(b.bind(vol, claim, NOW))[0] == ("PersistentVolume", "v1", "status")


CLASSES = {"c": sc(), "w": sc("w", "WaitForFirstConsumer"), "dflt": sc("dflt", default=True)}


@pytest.mark.parametrize("claim, volumes, classes, want_writes, want_reason", [
    (pvc(cls=None), {}, CLASSES, [("PersistentVolumeClaim", "data", "")], None),
    (pvc(cls="w"), {}, CLASSES, [], "WaitForFirstConsumer"),
    (pvc(cls="c"), {}, CLASSES, [("PersistentVolumeClaim", "data", "")], "ExternalProvisioning"),
    (pvc(cls="c", anns={b.ANN_STORAGE_PROVISIONER: PROV, b.ANN_BETA_STORAGE_PROVISIONER: PROV}),
     {}, CLASSES, [], "ExternalProvisioning"),
    (pvc(cls="gone"), {}, CLASSES, [], "ProvisioningFailed"),
    (pvc(cls=""), {}, CLASSES, [], "FailedBinding"),
    (pvc(cls="c", volumeName="missing"), {}, CLASSES, [], None),
    (pvc(cls="c", volumeName="v1"), {"v1": pv("v1", "500Mi")}, CLASSES, [], "VolumeMismatch"),
], ids=["retroactive-default-class", "wait-for-first-consumer", "hand-to-provisioner",
        "provisioner-already-annotated", "class-not-found", "no-class-no-volume",
        "requested-volume-missing-stays-pending", "requested-volume-too-small"])
def test_sync_unbound_claim(claim: dict[str, Any], volumes: dict[str, Any], classes: dict[str, Any],
                            want_writes: list[Any], want_reason: str | None) -> None:
    actions = sync_claim(claim, volumes, classes, [], NOW)
    assert writes(actions) == want_writes
    assert [r for _, r, _ in events(actions)] == ([want_reason] if want_reason else [])


def test_default_class_write_names_the_default() -> None:
    actions = sync_claim(pvc(cls=None), {}, CLASSES, [], NOW)
    assert actions[0].obj["spec"]["storageClassName"] == "dflt"  # type: ignore[union-attr]


def test_handover_sets_both_provisioner_annotations_and_message() -> None:
    actions = sync_claim(pvc(cls="c"), {}, CLASSES, [], NOW)
    anns = actions[0].obj["metadata"]["annotations"]  # type: ignore[union-attr]
    assert anns == {b.ANN_STORAGE_PROVISIONER: PROV, b.ANN_BETA_STORAGE_PROVISIONER: PROV}
    assert events(actions)[0][2] == (
        "Waiting for a volume to be created either by the external provisioner 'kubeproc.io/local-path' "
        "or manually by the system administrator. If volume creation is delayed, please verify that "
        "the provisioner is running and correctly registered.")


@pytest.mark.parametrize("pods, want", [
    ([], ("WaitForFirstConsumer", "waiting for first consumer to be created before binding")),
    (["web"], ("WaitForPodScheduled", "waiting for pod web to be scheduled")),
    (["b", "a"], ("WaitForPodScheduled", "waiting for pods a,b to be scheduled")),
], ids=["no-pod", "one-pod", "pods-sorted"])
def test_wait_event_names_unscheduled_pods(pods: list[str], want: tuple[str, str]) -> None:
    objs = [{"metadata": {"name": n, "namespace": "ns"},
             "spec": {"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]}}
            for n in pods]
    (_, reason, message), = events(sync_claim(pvc(cls="w"), {}, CLASSES, objs, NOW))
    assert (reason, message) == want


def test_selected_node_lets_static_volume_bind() -> None:
    claim = pvc(cls="w", anns={b.ANN_SELECTED_NODE: "n1"})
    actions = sync_claim(claim, {"v": pv("v", cls="w")}, CLASSES, [], NOW)
    assert ("PersistentVolumeClaim", "data", "status") in writes(actions)


@pytest.mark.parametrize("claim, volumes, want_phase, want_reason", [
    (pvc(anns={b.ANN_BIND_COMPLETED: "yes"}), {}, "Lost", "ClaimLost"),
    (pvc(anns={b.ANN_BIND_COMPLETED: "yes"}, volumeName="v1"), {}, "Lost", "ClaimLost"),
    (pvc(anns={b.ANN_BIND_COMPLETED: "yes"}, volumeName="v1"),
     {"v1": pv("v1", ref={"name": "data", "namespace": "ns", "uid": "other"})}, "Lost", "ClaimMisbound"),
    (pvc(anns={b.ANN_BIND_COMPLETED: "yes"}, volumeName="v1"),
     {"v1": pv("v1", phase="Bound", ref=dict(REF))}, "Bound", None),
], ids=["lost-reference", "volume-gone", "misbound", "rebinds-status"])
def test_sync_bound_claim(claim: dict[str, Any], volumes: dict[str, Any], want_phase: str,
                          want_reason: str | None) -> None:
    actions = sync_claim(claim, volumes, CLASSES, [], NOW)
    status = [a.obj["status"]["phase"] for a in actions
              if isinstance(a, b.Write) and a.subresource == "status" and a.obj["kind"] == "PersistentVolumeClaim"]
    assert status == [want_phase]
    assert [r for _, r, _ in events(actions)] == ([want_reason] if want_reason else [])


PROVISIONED = {b.ANN_DYNAMICALLY_PROVISIONED: PROV}


@pytest.mark.parametrize("vol, claim, want", [
    (pv("v", phase="Pending"), None, [("status", "Available")]),
    (pv("v", phase="Pending", ref={"name": "data", "namespace": "ns"}), None, [("status", "Available")]),
    (pv("v", phase="Pending", ref=dict(REF)), pvc(volumeName="v"), [("status", "Bound")]),
    (pv("v", phase="Bound", ref=dict(REF)), pvc(), [("enqueue", "data")]),
    (pv("v", phase="Bound", ref=dict(REF)), None, [("status", "Released")]),
    (pv("v", phase="Bound", ref=dict(REF)), pvc(uid="u2"), [("status", "Released")]),
    (pv("v", phase="Bound", ref=dict(REF), policy="Delete", anns=PROVISIONED), None,
     [("status", "Released"), ("delete", "v")]),
    (pv("v", phase="Bound", ref=dict(REF), policy="Delete"), None,
     [("status", "Released"), ("status", "Failed"), ("event", "VolumeFailedDelete")]),
    (pv("v", phase="Bound", ref=dict(REF), policy="Delete", anns={b.ANN_DYNAMICALLY_PROVISIONED: "other"}),
     None, [("status", "Released")]),
    (pv("v", phase="Bound", ref=dict(REF), anns={b.ANN_BOUND_BY_CONTROLLER: "yes"}),
     pvc(volumeName="elsewhere"), [("spec", "no-claimRef"), ("status", "Available")]),
    (pv("v", phase="Bound", ref=dict(REF)), pvc(volumeName="elsewhere"),
     [("spec", "prebound-by-name"), ("status", "Available")]),
], ids=["unused-available", "prebound-available", "bound", "claim-not-finished-enqueued",
        "claim-gone-released-retain", "claim-recreated-released", "delete-ours",
        "delete-no-plugin-fails", "delete-other-provisioner-waits", "unbind-controller-binding",
        "unbind-user-prebinding-keeps-name"])
def test_sync_volume(vol: dict[str, Any], claim: dict[str, Any] | None, want: list[tuple[str, str]]) -> None:
    got: list[tuple[str, str]] = []
    for a in sync_volume(vol, claim, NOW, PROV):
        if isinstance(a, b.Write) and a.subresource == "status":
            got.append(("status", a.obj["status"]["phase"]))
        elif isinstance(a, b.Write):
            ref = a.obj["spec"].get("claimRef")
            got.append(("spec", "no-claimRef" if ref is None else
                        "prebound-by-name" if "uid" not in ref else "bound"))
        elif isinstance(a, b.EnqueueClaim):
            got.append(("enqueue", a.name))
        elif isinstance(a, b.DeleteProvisioned):
            got.append(("delete", a.volume["metadata"]["name"]))
        elif isinstance(a, b.Emit):
            got.append(("event", a.reason))
    assert got == want


def test_released_phase_records_transition_time() -> None:
    (w,) = sync_volume(pv("v", phase="Bound", ref=dict(REF)), None, NOW, PROV)
    assert w.obj["status"] == {"phase": "Released", "lastPhaseTransitionTime": NOW}  # type: ignore[union-attr]


def test_retain_reclaims_nothing() -> None:
    assert reclaim(pv("v", phase="Released"), NOW, PROV) == []


@pytest.mark.parametrize("classes, want", [
    ([sc("a"), sc("b")], None),
    ([sc("a", default=True), sc("b")], "a"),
    ([sc("old", default=True, created="2025-01-01T00:00:00Z"), sc("new", default=True)], "new"),
    ([sc("y", default=True), sc("x", default=True)], "x"),
], ids=["none-default", "one-default", "newest-default-wins", "tie-by-name"])
def test_default_class_name(classes: list[dict[str, Any]], want: str | None) -> None:
    assert b.default_class_name(classes) == want


def _pod(*claims: str, ephemeral: str = "") -> dict[str, Any]:
    vols: list[dict[str, Any]] = [{"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims]
    if ephemeral:
        vols.append({"name": ephemeral, "ephemeral": {"volumeClaimTemplate": {}}})
    return {"metadata": {"name": "web", "namespace": "ns"}, "spec": {"volumes": vols}}


@pytest.mark.parametrize("pod, claims, want", [
    (_pod("a"), {("ns", "a"): pvc("a", cls="w")}, ["a"]),
    (_pod("a"), {("ns", "a"): pvc("a", cls="c")}, []),
    (_pod("a"), {("ns", "a"): pvc("a", cls="w", volumeName="v")}, []),
    (_pod("a"), {("ns", "a"): pvc("a", cls="w", anns={b.ANN_SELECTED_NODE: "n1"})}, []),
    (_pod("a"), {("ns", "a"): pvc("a", cls="w", anns={b.ANN_SELECTED_NODE: "n2"})}, ["a"]),
    (_pod("a"), {}, []),
    (_pod("a", ephemeral="scratch"), {("ns", "web-scratch"): pvc("web-scratch", cls="w"),
                                      ("ns", "a"): pvc("a", cls="w")}, ["a", "web-scratch"]),
    (_pod("a"), {("other", "a"): pvc("a", cls="w")}, []),
], ids=["unbound-delayed", "immediate-class", "already-bound", "already-selected",
        "selected-other-node", "missing-claim", "generic-ephemeral", "other-namespace"])
def test_claims_to_select(pod: dict[str, Any], claims: dict[Any, Any], want: list[str]) -> None:
    assert claims_to_select(pod, claims, CLASSES, "n1") == want


def test_select_node_sets_annotation() -> None:
    claim = pvc(anns=None)
    assert select_node(claim, "n1")["metadata"]["annotations"] == {b.ANN_SELECTED_NODE: "n1"}


@pytest.mark.parametrize("claims, want", [
    ({("ns", "a"): pvc("a", cls="w")}, None),
    ({("ns", "a"): pvc("a", cls="c", volumeName="v")}, None),
    ({}, 'persistentvolumeclaim "a" not found'),
    ({("ns", "a"): {**pvc("a", cls="w"), "metadata": {"name": "a", "namespace": "ns",
                                                      "deletionTimestamp": NOW}}},
     'persistentvolumeclaim "a" is being deleted'),
    ({("ns", "a"): pvc("a", cls="c")}, "pod has unbound immediate PersistentVolumeClaims"),
], ids=["delayed-claim-ok", "bound-claim-ok", "missing-claim", "claim-being-deleted",
        "unbound-immediate-claim"])
def test_prefilter_reason(claims: dict[Any, Any], want: str | None) -> None:
    assert prefilter_reason(_pod("a"), claims, CLASSES) == want
