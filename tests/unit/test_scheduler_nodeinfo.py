"""The scheduler cache's per-node aggregates (kubeproc.controllers.scheduler.nodeinfo), after
framework.NodeInfo AddPod/RemovePod/UpdatePod: requests, pod count and host ports follow every
add/update/remove exactly, and only pods that hold resources count."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any, Callable

import pytest

from kubeproc.controllers.scheduler.nodeinfo import NodeInfo, PodList, build_infos, host_ports

GiB = 1024 ** 3


def pod(name: str, cpu: str = "1", memory: str = "1Gi", node: str = "n1",
        ports: list[dict[str, Any]] | None = None, phase: str | None = None,
        deleting: bool = False) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "c", "image": "i",
                         "resources": {"requests": {"cpu": cpu, "memory": memory}}}
    if ports:
        c["ports"] = ports
    p: dict[str, Any] = {"metadata": {"name": name, "namespace": "default", "uid": f"u-{name}"},
                         "spec": {"nodeName": node, "containers": [c]}, "status": {}}
    if phase:
        p["status"]["phase"] = phase
    if deleting:
        p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return p


def key(name: str) -> tuple[str, str]:
    return ("default", name)


HP = {"containerPort": 80, "hostPort": 8080}
Step = Callable[[NodeInfo], None]
# (id, steps, expected count, requested, ports)
CASES: list[tuple[str, list[Step], int, dict[str, int], Counter[Any]]] = [
    ("add-sums", [lambda i: i.add(key("a"), pod("a", "1", "1Gi")),
                  lambda i: i.add(key("b"), pod("b", "500m", "2Gi"))],
     2, {"cpu": 1500, "memory": 3 * GiB}, Counter()),
    ("remove-subtracts", [lambda i: i.add(key("a"), pod("a", "1")),
                          lambda i: i.add(key("b"), pod("b", "500m")),
                          lambda i: i.remove(key("a"))],
     1, {"cpu": 500, "memory": GiB}, Counter()),
    ("remove-all-leaves-nothing", [lambda i: i.add(key("a"), pod("a")),
                                   lambda i: i.remove(key("a"))], 0, {}, Counter()),
    ("remove-unknown-is-a-no-op", [lambda i: i.add(key("a"), pod("a")),
                                   lambda i: i.remove(key("zz")),
                                   lambda i: i.remove(key("zz"))],
     1, {"cpu": 1000, "memory": GiB}, Counter()),
    ("remove-twice-subtracts-once", [lambda i: i.add(key("a"), pod("a")),
                                     lambda i: i.add(key("b"), pod("b")),
                                     lambda i: i.remove(key("a")),
                                     lambda i: i.remove(key("a"))],
     1, {"cpu": 1000, "memory": GiB}, Counter()),
    ("double-add-replaces", [lambda i: i.add(key("a"), pod("a", "1")),
                             lambda i: i.add(key("a"), pod("a", "3"))],
     1, {"cpu": 3000, "memory": GiB}, Counter()),
    ("update-replaces-contribution", [lambda i: i.add(key("a"), pod("a", "1", ports=[HP])),
                                      lambda i: i.update(key("a"), pod("a", "2"))],
     1, {"cpu": 2000, "memory": GiB}, Counter()),
    ("succeeded-frees-resources", [lambda i: i.add(key("a"), pod("a", "2")),
                                   lambda i: i.add(key("b"), pod("b", "1")),
                                   lambda i: i.update(key("a"), pod("a", "2",
                                                                    phase="Succeeded"))],
     1, {"cpu": 1000, "memory": GiB}, Counter()),
    ("failed-pod-is-never-added", [lambda i: i.add(key("a"), pod("a", phase="Failed"))],
     0, {}, Counter()),
    ("deleting-pod-still-counts", [lambda i: i.add(key("a"), pod("a", "2")),
                                   lambda i: i.update(key("a"), pod("a", "2", deleting=True))],
     1, {"cpu": 2000, "memory": GiB}, Counter()),
    ("host-ports-counted-per-pod", [lambda i: i.add(key("a"), pod("a", ports=[HP])),
                                    lambda i: i.add(key("b"), pod("b", ports=[HP]))],
     2, {"cpu": 2000, "memory": 2 * GiB}, Counter({("0.0.0.0", "TCP", 8080): 2})),
    ("host-ports-released-on-remove", [lambda i: i.add(key("a"), pod("a", ports=[HP])),
                                       lambda i: i.add(key("b"), pod("b", ports=[HP])),
                                       lambda i: i.remove(key("a")),
                                       lambda i: i.remove(key("b"))],
     0, {}, Counter()),
    ("host-port-released-when-terminal", [
        lambda i: i.add(key("a"), pod("a", ports=[dict(HP, hostIP="10.0.0.1",
                                                       protocol="UDP")])),
        lambda i: i.update(key("a"), pod("a", phase="Succeeded"))],
     0, {}, Counter()),
]


@pytest.mark.parametrize("steps,count,requested,ports", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_node_info_aggregates(steps: list[Step], count: int, requested: dict[str, int],
                              ports: Counter[Any]) -> None:
    info = NodeInfo()
    for step in steps:
        step(info)
    assert (info.count, info.requested, info.ports) == (count, requested, ports)
    assert len(info.pods()) == count


def test_contribution_is_remembered_not_recomputed() -> None:
    # removal subtracts what was added even if the caller's dict changed meanwhile
    p = pod("a", "2")
    info = NodeInfo()
    info.add(key("a"), p)
    p["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "7"
    info.remove(key("a"))
    assert (info.count, info.requested) == (0, {})


def test_inputs_are_not_mutated() -> None:
    p = pod("a", ports=[HP], deleting=True)
    before = copy.deepcopy(p)
    info = NodeInfo()
    info.add(key("a"), p)
    info.update(key("a"), p)
    info.remove(key("a"))
    assert p == before


@pytest.mark.parametrize("count_terminating,count", [(True, 1), (False, 0)],
                         ids=["scheduler-cache-counts-deleting", "live-only"])
def test_count_terminating_follows_counts_on_node(count_terminating: bool, count: int) -> None:
    info = NodeInfo(count_terminating=count_terminating)
    info.add(key("a"), pod("a", deleting=True))
    assert info.count == count


def test_without_uid_copies_only_when_needed() -> None:
    info = NodeInfo()
    info.add(key("a"), pod("a", "1", ports=[HP]))
    info.add(key("b"), pod("b", "2"))
    assert info.without_uid("u-zz") is info
    assert info.without_uid(None) is info
    other = info.without_uid("u-a")
    assert (other.count, other.requested, other.ports) == (1, {"cpu": 2000, "memory": GiB},
                                                           Counter())
    assert info.count == 2  # the original is untouched


def test_build_infos_groups_by_node_and_skips_empty() -> None:
    pods = [pod("a", "1"), pod("b", "2", node="n2"), pod("c", node="n3", phase="Succeeded"),
            {"metadata": {"name": "u", "namespace": "default"}, "spec": {}}]
    infos = build_infos(pods)
    assert sorted(infos) == ["n1", "n2"]
    assert infos["n2"].requested == {"cpu": 2000, "memory": GiB}
    expected = NodeInfo()
    expected.add(key("a"), pods[0])
    assert infos["n1"] == expected
    assert infos["n1"] != infos["n2"]


@pytest.mark.parametrize("spec,expected", [
    ({"containers": [{"ports": [HP]}]}, [("0.0.0.0", "TCP", 8080)]),
    ({"containers": [{"ports": [{"containerPort": 80}]}]}, []),
    ({"containers": [], "initContainers": [{"ports": [dict(HP, hostIP="1.2.3.4",
                                                           protocol="SCTP")]}]},
     [("1.2.3.4", "SCTP", 8080)]),
], ids=["defaults-wildcard-ip-and-tcp", "container-port-only-claims-nothing",
        "init-container-ports-count"])
def test_host_ports(spec: dict[str, Any], expected: list[Any]) -> None:
    assert host_ports({"spec": spec}) == expected


def test_pod_list_reads_like_node_info() -> None:
    pods = [pod("a", "1", ports=[HP]), pod("b", "500m")]
    info = build_infos(pods)["n1"]
    pl = PodList(pods)
    assert (pl.count, dict(pl.requested), Counter(pl.ports)) == \
        (info.count, info.requested, info.ports)
