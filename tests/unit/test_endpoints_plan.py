"""kubeproc.controllers.endpoints.plan: subsets with addresses / notReadyAddresses, repacking
by port set, headless without ports, publishNotReadyAddresses, terminating pods, labels,
the trigger-time annotation and the no-op when nothing changed.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubeproc.controllers.endpoints.plan import desired_endpoints, subsets_for
from kubeproc.controllers.endpointslice.plan import LABEL_HEADLESS, TRIGGER_TIME
from tests.unit.test_endpointslice_plan import pod, svc

HTTP = {"name": "http", "protocol": "TCP", "port": 8080}


def ips(subset: dict[str, Any], field: str) -> list[str]:
    return [a["ip"] for a in subset.get(field) or ()]


def test_ready_and_not_ready_share_a_subset() -> None:
    (subset,) = subsets_for(svc(), [pod("b", ip="10.0.0.2", ready=False), pod("a", ip="10.0.0.1")])
    assert ips(subset, "addresses") == ["10.0.0.1"]
    assert ips(subset, "notReadyAddresses") == ["10.0.0.2"]
    assert subset["ports"] == [HTTP]
    assert subset["addresses"][0] == {"ip": "10.0.0.1", "nodeName": "n1", "targetRef": {
        "kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"}}


@pytest.mark.parametrize("p,publish,field", [
    (pod("a", deleting=True), False, None),
    (pod("a", deleting=True), True, "addresses"),
    (pod("a", ready=False), True, "addresses"),
    (pod("a", phase="Failed"), False, None),
    (pod("a", ip=""), False, None),
], ids=["terminating-dropped", "terminating-published", "not-ready-published", "terminal",
        "no-ip"])
def test_which_pods(p: dict[str, Any], publish: bool, field: str | None) -> None:
    subsets = subsets_for(svc(publishNotReadyAddresses=publish), [p])
    if field is None:
        assert subsets == []
    else:
        assert ips(subsets[0], field) == ["10.244.0.5"]


def test_named_ports_split_subsets() -> None:
    s = svc(ports=[{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}])
    subsets = subsets_for(s, [pod("a", ip="10.0.0.1", cports=[{"name": "web", "containerPort": 1}]),
                              pod("b", ip="10.0.0.2", cports=[{"name": "web", "containerPort": 2}]),
                              pod("c", ip="10.0.0.3")])
    got = sorted((ips(x, "addresses"), [p["port"] for p in x["ports"]]) for x in subsets)
    assert got == [(["10.0.0.1"], [1]), (["10.0.0.2"], [2])]


def test_two_ports_one_subset() -> None:
    s = svc(ports=[{"name": "a", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                   {"name": "b", "port": 81, "targetPort": 8081, "protocol": "TCP"}])
    (subset,) = subsets_for(s, [pod("a")])
    assert [p["name"] for p in subset["ports"]] == ["a", "b"]


@pytest.mark.parametrize("cluster_ip,want", [("None", 1), ("10.96.0.1", 0)],
                         ids=["headless-no-ports-keeps-address", "clusterip-no-ports-empty"])
def test_no_ports(cluster_ip: str, want: int) -> None:
    subsets = subsets_for(svc(ports=[], clusterIP=cluster_ip), [pod("a")])
    assert len(subsets) == want and all("ports" not in x for x in subsets)


def test_hostname_for_subdomain() -> None:
    (subset,) = subsets_for(svc(), [pod("a", hostname="web-0", subdomain="web")])
    assert subset["addresses"][0]["hostname"] == "web-0"


def test_create_then_noop_then_update() -> None:
    s = svc(clusterIP="None")
    new = desired_endpoints(s, [pod("a")], None, "2026-01-01T00:00:00Z")
    assert new is not None
    assert new["metadata"] == {"name": "web", "namespace": "default",
                               "annotations": {TRIGGER_TIME: "2026-01-01T00:00:00Z"},
                               "labels": {"app": "web", LABEL_HEADLESS: ""}}
    stored = {**new, "metadata": {**new["metadata"], "resourceVersion": "7"}}
    assert desired_endpoints(s, [pod("a")], stored, "") is None
    changed = desired_endpoints(s, [pod("a", ready=False)], stored, "")
    assert changed is not None and changed["metadata"]["resourceVersion"] == "7"
    assert TRIGGER_TIME not in changed["metadata"].get("annotations", {})
    assert ips(changed["subsets"][0], "notReadyAddresses") == ["10.244.0.5"]


def test_over_capacity_truncates() -> None:
    pods = [pod(f"p{i}", ip=f"10.1.{i // 250}.{i % 250 + 1}") for i in range(1001)]
    new = desired_endpoints(svc(), pods, None)
    assert new is not None
    assert new["metadata"]["annotations"]["endpoints.kubernetes.io/over-capacity"] == "truncated"
    assert sum(len(x.get("addresses") or ()) for x in new["subsets"]) == 1000


def test_no_pods_omits_subsets_and_clusterip_has_no_headless_label() -> None:
    new = desired_endpoints(svc(), [], None)
    assert new is not None and "subsets" not in new
    assert new["metadata"]["labels"] == {"app": "web"}
    assert "annotations" not in new["metadata"]
    assert desired_endpoints(svc(), [], {**new, "subsets": None}) is None
