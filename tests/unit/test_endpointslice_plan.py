"""kubeproc.controllers.endpointslice.plan: pod -> endpoint conditions, hostname, port
resolution (by number and by name), grouping by port set, packing, the placeholder slice,
create-to-update recycling, and the trigger-time tracker.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubeproc.controllers.endpointslice import plan as P


def svc(name: str = "web", ports: list[dict[str, Any]] | None = None, **spec: Any
        ) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "uid": "svc-uid",
                         "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"app": "web"}},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.10",
                     "ipFamilies": ["IPv4"],
                     "ports": ports if ports is not None else
                     [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
                     **spec}}


def pod(name: str, ip: str = "10.244.0.5", ready: bool = True, deleting: bool = False,
        cports: list[dict[str, Any]] | None = None, phase: str = "Running",
        **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}",
                            "labels": {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    return {"metadata": meta,
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": cports or []}],
                     **spec},
            "status": {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}] if ip else [],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                       "lastTransitionTime": "2026-01-01T00:00:30Z"}]}}


@pytest.mark.parametrize("ready,deleting,publish,want", [
    (True, False, False, (True, True, False)),
    (False, False, False, (False, False, False)),
    (True, True, False, (False, True, True)),
    (False, True, False, (False, False, True)),
    (False, False, True, (True, False, False)),
    (True, True, True, (True, True, True)),
], ids=["ready", "not-ready", "terminating-serving", "terminating-not-serving",
        "publish-not-ready", "publish-terminating"])
def test_endpoint_conditions(ready: bool, deleting: bool, publish: bool,
                             want: tuple[bool, bool, bool]) -> None:
    s = svc(publishNotReadyAddresses=publish)
    c = P.pod_to_endpoint(pod("a", ready=ready, deleting=deleting), s, "IPv4")["conditions"]
    assert (c["ready"], c["serving"], c["terminating"]) == want


def test_endpoint_shape() -> None:
    ep = P.pod_to_endpoint(pod("a"), svc(), "IPv4")
    assert ep == {"addresses": ["10.244.0.5"],
                  "conditions": {"ready": True, "serving": True, "terminating": False},
                  "targetRef": {"kind": "Pod", "namespace": "default", "name": "a",
                                "uid": "uid-a"},
                  "nodeName": "n1"}


@pytest.mark.parametrize("spec,want", [
    ({"hostname": "web-0", "subdomain": "web"}, "web-0"),
    ({"hostname": "web-0", "subdomain": "other"}, None),
    ({"subdomain": "web"}, None),
], ids=["statefulset-hostname", "other-subdomain", "no-hostname"])
def test_hostname(spec: dict[str, Any], want: str | None) -> None:
    assert P.pod_to_endpoint(pod("a", **spec), svc(), "IPv4").get("hostname") == want


@pytest.mark.parametrize("target,cports,want", [
    (8080, [], 8080),
    ("web", [{"name": "web", "containerPort": 9000}], 9000),
    ("web", [{"name": "web", "containerPort": 9000, "protocol": "UDP"}], None),
    ("web", [{"name": "other", "containerPort": 9000}], None),
    (None, [], 80),
], ids=["number", "named", "named-wrong-protocol", "named-missing", "defaults-to-port"])
def test_find_port(target: Any, cports: list[dict[str, Any]], want: int | None) -> None:
    sp: dict[str, Any] = {"port": 80, "protocol": "TCP"}
    if target is not None:
        sp["targetPort"] = target
    assert P.find_port(pod("a", cports=cports), sp) == want


@pytest.mark.parametrize("p,included", [
    (pod("a", ip=""), False),
    (pod("a", phase="Succeeded"), False),
    (pod("a", deleting=True), True),
    (pod("a", ready=False), True),
], ids=["no-ip", "terminal", "terminating-kept", "not-ready-kept"])
def test_which_pods(p: dict[str, Any], included: bool) -> None:
    out = P.reconcile(svc(), [p], [])
    eps = [e for s in out.create for e in s["endpoints"] or ()]
    assert len(eps) == (1 if included else 0)


def test_new_slice_shape_and_ports() -> None:
    out = P.reconcile(svc(), [pod("a"), pod("b", ip="10.244.0.6")], [], "2026-01-01T00:00:30Z")
    assert len(out.create) == 1 and not out.update and not out.delete
    s = out.create[0]
    assert s["metadata"]["generateName"] == "web-"
    assert s["metadata"]["labels"] == {"app": "web", "kubernetes.io/service-name": "web",
                                       "endpointslice.kubernetes.io/managed-by":
                                       "endpointslice-controller.k8s.io"}
    assert s["metadata"]["ownerReferences"] == [{
        "apiVersion": "v1", "kind": "Service", "name": "web", "uid": "svc-uid",
        "controller": True, "blockOwnerDeletion": True}]
    assert s["metadata"]["annotations"] == {P.TRIGGER_TIME: "2026-01-01T00:00:30Z"}
    assert s["addressType"] == "IPv4"
    assert s["ports"] == [{"name": "http", "protocol": "TCP", "port": 8080}]
    assert [e["addresses"] for e in s["endpoints"]] == [["10.244.0.5"], ["10.244.0.6"]]


def test_named_port_groups_pods_separately() -> None:
    s = svc(ports=[{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}])
    pods = [pod("a", cports=[{"name": "web", "containerPort": 8080}]),
            pod("b", ip="10.244.0.6", cports=[{"name": "web", "containerPort": 9090}]),
            pod("c", ip="10.244.0.7")]
    out = P.reconcile(s, pods, [])
    got = sorted((str(x["ports"]), [e["targetRef"]["name"] for e in x["endpoints"]])
                 for x in out.create)
    assert got == sorted([
        (str([{"name": "http", "protocol": "TCP", "port": 8080}]), ["a"]),
        (str([{"name": "http", "protocol": "TCP", "port": 9090}]), ["b"]),
        ("None", ["c"])])


def test_headless_label() -> None:
    out = P.reconcile(svc(clusterIP="None"), [pod("a")], [])
    assert out.create[0]["metadata"]["labels"][P.LABEL_HEADLESS] == ""


def stored(s: dict[str, Any], name: str) -> dict[str, Any]:
    s = {**s, "metadata": {**s["metadata"], "name": name, "resourceVersion": "5"}}
    s["metadata"].pop("generateName", None)
    s["metadata"].pop("annotations", None)
    return s


def test_no_pods_makes_one_placeholder_then_keeps_it() -> None:
    out = P.reconcile(svc(), [], [])
    assert len(out.create) == 1
    assert out.create[0]["endpoints"] is None and out.create[0]["ports"] is None
    again = P.reconcile(svc(), [], [stored(out.create[0], "web-abcde")])
    assert (again.create, again.update, again.delete) == ([], [], [])


def test_last_pod_gone_recycles_slice_as_placeholder() -> None:
    first = P.reconcile(svc(), [pod("a")], [])
    out = P.reconcile(svc(), [], [stored(first.create[0], "web-abcde")])
    assert not out.create and not out.delete
    assert out.update[0]["metadata"]["name"] == "web-abcde"
    assert out.update[0]["endpoints"] is None


def test_150_pods_pack_into_two_slices_then_are_stable() -> None:
    pods = [pod(f"p{i:03}", ip=f"10.244.{i // 200}.{i % 200 + 1}") for i in range(150)]
    out = P.reconcile(svc(), pods, [])
    assert sorted(len(s["endpoints"]) for s in out.create) == [50, 100]
    existing = [stored(s, f"web-{i}") for i, s in enumerate(out.create)]
    again = P.reconcile(svc(), pods, existing)
    assert (again.create, again.update, again.delete) == ([], [], [])


def test_changed_endpoint_updates_in_place() -> None:
    first = P.reconcile(svc(), [pod("a"), pod("b", ip="10.244.0.6")], [])
    existing = [stored(first.create[0], "web-x")]
    out = P.reconcile(svc(), [pod("a", ready=False), pod("b", ip="10.244.0.6")], existing)
    assert not out.create and not out.delete and len(out.update) == 1
    conds = {e["targetRef"]["name"]: e["conditions"]["ready"] for e in out.update[0]["endpoints"]}
    assert conds == {"a": False, "b": True}


def test_new_pods_fill_unchanged_slice_with_room() -> None:
    first = P.reconcile(svc(), [pod("a")], [])
    existing = [stored(first.create[0], "web-x")]
    out = P.reconcile(svc(), [pod("a"), pod("b", ip="10.244.0.6")], existing)
    assert not out.create and [s["metadata"]["name"] for s in out.update] == ["web-x"]
    assert len(out.update[0]["endpoints"]) == 2


def test_foreign_and_wrong_family_slices_are_deleted() -> None:
    first = P.reconcile(svc(), [pod("a")], [])
    good = stored(first.create[0], "web-x")
    foreign = stored(first.create[0], "web-old")
    foreign["metadata"]["ownerReferences"] = [{"kind": "Service", "uid": "old"}]
    v6 = {**stored(first.create[0], "web-v6"), "addressType": "IPv6"}
    out = P.reconcile(svc(), [pod("a")], [good, foreign, v6])
    assert sorted(s["metadata"]["name"] for s in out.delete) == ["web-old", "web-v6"]
    assert not out.create and not out.update


def test_trigger_time_tracker() -> None:
    t = P.TriggerTimeTracker()
    s = svc()
    assert t.compute(s, [pod("a")]) == "2026-01-01T00:00:00Z"  # new Service: its creation
    assert t.compute(s, [pod("a")]) == ""  # nothing changed
    later = pod("a")
    later["status"]["conditions"][0]["lastTransitionTime"] = "2026-01-01T00:05:00Z"
    assert t.compute(s, [later]) == "2026-01-01T00:05:00Z"


@pytest.mark.parametrize("publish,want", [(False, ["a"]), (True, ["a", "b"])],
                         ids=["unknown-node-skipped", "published-kept-anyway"])
def test_pods_on_unknown_nodes(publish: bool, want: list[str]) -> None:
    out = P.reconcile(svc(publishNotReadyAddresses=publish),
                      [pod("a"), pod("b", ip="10.244.0.6", nodeName="gone")], [], nodes={"n1"})
    assert [e["targetRef"]["name"] for e in out.create[0]["endpoints"]] == want
    assert out.skipped == ([] if publish else ["b"])


@pytest.mark.parametrize("labels,updated", [
    ({"app": "web", "tier": "front"}, True),
    ({"app": "web", P.LABEL_HEADLESS: "x"}, False),
], ids=["service-label-added-updates", "reserved-label-ignored"])
def test_label_changes(labels: dict[str, str], updated: bool) -> None:
    first = P.reconcile(svc(), [pod("a")], [])
    existing = [stored(first.create[0], "web-x")]
    s = svc()
    s["metadata"]["labels"] = labels
    out = P.reconcile(s, [pod("a")], existing)
    assert len(out.update) == (1 if updated else 0)
    if updated:
        assert out.update[0]["metadata"]["labels"]["tier"] == "front"
