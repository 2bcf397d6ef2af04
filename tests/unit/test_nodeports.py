"""NodePort allocation (portallocator + storage alloc.go) and the Service update path's rules
for allocated fields (storage.go patchAllocatedValues, strategy.go dropTypeDependentFields),
for the allocator alone and through a registry over a real store."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from kubeproc.api import errors, resources
from kubeproc.registry import nodeports
from kubeproc.registry.nodeports import NodePorts
from kubeproc.registry.registry import WriteOptions
from kubeproc.registry.serviceips import prepare_update
from tests.unit.service_registry import create, running_registry

SVC = resources.by_kind("", "Service")


def _svc(name: str, ports: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "d"},
            "spec": {"type": "NodePort", "ports": ports or [{"port": 80, "protocol": "TCP"}], **spec}}


def _node_ports(svc: dict[str, Any]) -> list[int | None]:
    return [p.get("nodePort") for p in svc["spec"]["ports"]]


# ---- the allocator alone -------------------------------------------------------------------
@pytest.mark.parametrize("text,want", [
    ("30000-32767", (30000, 2768)),
    ("30000+10", (30000, 11)),
    ("31000", (31000, 1)),
    (" 20000-20099 ", (20000, 100)),
], ids=["dash", "plus", "single", "spaces"])
def test_parse_port_range(text: str, want: tuple[int, int]) -> None:
    assert nodeports.parse_port_range(text) == want


@pytest.mark.parametrize("text", ["abc", "32767-30000", "30000-70000", ""],
                         ids=["word", "reversed", "beyond-65535", "empty"])
def test_parse_port_range_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        nodeports.parse_port_range(text)


@pytest.mark.parametrize("size,band", [(2768, 86), (100, 16), (16, 0), (10000, 128), (17, 16)],
                         ids=["default-range", "min-16", "tiny-none", "max-128", "just-above-min"])
def test_static_band_follows_calculate_range_offset(size: int, band: int) -> None:
    assert nodeports.static_band(size) == band


def test_dynamic_allocation_prefers_the_upper_band_then_falls_back() -> None:
    alloc = NodePorts("30000-30099", rand=random.Random(7))  # band = 16: 30000..30015 static
    used: set[int] = set()
    for _ in range(84):
        port = alloc.pick(used)
        assert port is not None and 30016 <= port <= 30099
        used.add(port)
    lower = alloc.pick(used)
    assert lower is not None and 30000 <= lower < 30016
    used.update(range(30000, 30016))
    assert alloc.pick(used) is None


CREATE_CASES = [
    ("auto-every-port", [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP", "name": "b"}],
     {}, lambda nps: len(set(nps)) == 2 and all(30000 <= n <= 32767 for n in nps)),
    ("explicit-kept", [{"port": 80, "protocol": "TCP", "nodePort": 30007}], {},
     lambda nps: nps == [30007]),
    ("tcp-udp-same-number-share", [{"port": 53, "protocol": "TCP", "name": "a"},
                                   {"port": 53, "protocol": "UDP", "name": "b"}], {},
     lambda nps: nps[0] == nps[1] and nps[0] is not None),
    ("later-port-names-the-shared-one", [{"port": 53, "protocol": "TCP", "name": "a"},
                                         {"port": 53, "protocol": "UDP", "name": "b", "nodePort": 30053}],
     {}, lambda nps: nps == [30053, 30053]),
    ("lb-without-node-ports-allocates-none", [{"port": 80, "protocol": "TCP"}],
     {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": False}, lambda nps: nps == [None]),
    ("lb-allocates", [{"port": 80, "protocol": "TCP"}], {"type": "LoadBalancer"},
     lambda nps: nps[0] is not None),
    ("cluster-ip-gets-none", [{"port": 80, "protocol": "TCP"}], {"type": "ClusterIP"},
     lambda nps: nps == [None]),
]


@pytest.mark.parametrize("ports,spec,check", [c[1:] for c in CREATE_CASES],
                         ids=[c[0] for c in CREATE_CASES])
def test_allocate_create(ports, spec, check) -> None:
    svc = _svc("s", ports, **spec)
    NodePorts().allocate_create(svc, [])
    assert check(_node_ports(svc))


@pytest.mark.parametrize("port,msg", [
    (30080, "provided port is already allocated"),
    (29999, "provided port is not in the valid range. The range of valid ports is 30000-32767"),
    (32768, "provided port is not in the valid range. The range of valid ports is 30000-32767"),
], ids=["taken", "below-range", "above-range"])
def test_allocate_create_refuses_with_the_field(port: int, msg: str) -> None:
    stored = [_svc("other", [{"port": 80, "nodePort": 30080}])]
    svc = _svc("s", [{"port": 443, "name": "a"}, {"port": 80, "name": "b", "nodePort": port}])
    with pytest.raises(errors.Invalid) as e:
        NodePorts().allocate_create(svc, stored)
    assert e.value.code == 422
    assert f'Service "s" is invalid: spec.ports[1].nodePort: Invalid value: {port}: {msg}' == str(e.value)


def test_configured_range_is_used_for_checks_and_messages() -> None:
    alloc = NodePorts("20000-20009")
    svc = _svc("s", [{"port": 80}])
    alloc.allocate_create(svc, [])
    assert 20000 <= svc["spec"]["ports"][0]["nodePort"] <= 20009
    with pytest.raises(errors.Invalid, match="The range of valid ports is 20000-20009"):
        alloc.allocate_create(_svc("t", [{"port": 80, "nodePort": 30000}]), [])


def test_full_range_is_an_internal_error() -> None:
    alloc = NodePorts("20000-20001")
    stored = [_svc("a", [{"port": 80, "nodePort": 20000}, {"port": 81, "name": "x", "nodePort": 20001}])]
    with pytest.raises(errors.InternalError, match="failed to allocate a nodePort: range is full"):
        alloc.allocate_create(_svc("s"), stored)


def test_recent_hand_outs_count_until_stored_and_forget_frees_them() -> None:
    alloc = NodePorts("20000-20000")  # one port: the second create must see the first's
    first = _svc("a")
    alloc.allocate_create(first, [])
    with pytest.raises(errors.InternalError):
        alloc.allocate_create(_svc("b"), [])  # a's create is not stored yet
    alloc.forget("d", "a")
    alloc.allocate_create(_svc("b"), [])


def test_dry_run_reserves_nothing() -> None:
    alloc = NodePorts("20000-20000")
    alloc.allocate_create(_svc("a"), [], dry_run=True)
    alloc.allocate_create(_svc("b"), [])


@pytest.mark.parametrize("spec,want_hc", [
    ({"type": "LoadBalancer", "externalTrafficPolicy": "Local"}, True),
    ({"type": "LoadBalancer", "externalTrafficPolicy": "Cluster"}, False),
    ({"type": "NodePort", "externalTrafficPolicy": "Local"}, False),
], ids=["lb-local", "lb-cluster", "nodeport-local"])
def test_health_check_node_port(spec: dict[str, Any], want_hc: bool) -> None:
    svc = _svc("s", **spec)
    NodePorts().allocate_create(svc, [])
    hc = svc["spec"].get("healthCheckNodePort")
    assert (hc is not None) == want_hc
    if want_hc:
        assert 30000 <= hc <= 32767 and hc != svc["spec"]["ports"][0]["nodePort"]


def test_update_keeps_old_ports_and_checks_new_ones() -> None:
    old = _svc("s", [{"port": 80, "name": "a", "nodePort": 30080}])
    other = _svc("o", [{"port": 80, "nodePort": 30090}])
    new = _svc("s", [{"port": 80, "name": "a", "nodePort": 30080}, {"port": 81, "name": "b"}])
    NodePorts().allocate_update(new, old, [old, other])  # 30080 is its own: no conflict
    assert new["spec"]["ports"][0]["nodePort"] == 30080
    assert new["spec"]["ports"][1]["nodePort"] not in (None, 30080, 30090)
    taken = _svc("s", [{"port": 80, "name": "a", "nodePort": 30090}])
    with pytest.raises(errors.Invalid, match=r"spec.ports\[0\].nodePort: Invalid value: 30090: "
                                             "provided port is already allocated"):
        NodePorts().allocate_update(taken, old, [old, other])


# ---- the update rules on the spec ----------------------------------------------------------
_NP_OLD = {"type": "NodePort", "clusterIP": "10.96.5.5", "clusterIPs": ["10.96.5.5"],
           "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "externalTrafficPolicy": "Cluster",
           "ports": [{"name": "web", "port": 80, "protocol": "TCP", "nodePort": 30080}]}
_LB_OLD = dict(_NP_OLD, type="LoadBalancer", externalTrafficPolicy="Local", healthCheckNodePort=31111)
UPDATE_CASES = [
    ("omitted-values-are-kept", _NP_OLD, {"type": "NodePort", "ports": [{"name": "web", "port": 80}]},
     {"clusterIP": "10.96.5.5", "clusterIPs": ["10.96.5.5"], "ipFamilies": ["IPv4"],
      "ipFamilyPolicy": "SingleStack", "ports": [{"name": "web", "port": 80, "nodePort": 30080}]}),
    ("node-ports-match-by-name", _NP_OLD, {"type": "NodePort", "ports": [{"name": "other", "port": 80}]},
     {"ports": [{"name": "other", "port": 80}]}),
    ("node-port-reused-elsewhere-is-not-patched", dict(_NP_OLD, ports=[
        {"name": "a", "port": 80, "nodePort": 30080}, {"name": "b", "port": 81, "nodePort": 30081}]),
     {"type": "NodePort", "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81, "nodePort": 30080}]},
     {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81, "nodePort": 30080}]}),
    ("to-cluster-ip-drops-node-ports", _NP_OLD,
     {"type": "ClusterIP", "ports": [{"name": "web", "port": 80, "protocol": "TCP", "nodePort": 30080}]},
     {"clusterIP": "10.96.5.5", "ports": [{"name": "web", "port": 80, "protocol": "TCP"}]}),
    ("to-cluster-ip-keeps-a-changed-node-port", _NP_OLD,
     {"type": "ClusterIP", "ports": [{"name": "web", "port": 80, "nodePort": 30099}]},
     {"ports": [{"name": "web", "port": 80, "nodePort": 30099}]}),
    ("to-external-name-drops-cluster-ips", _NP_OLD,
     dict(copy.deepcopy(_NP_OLD), type="ExternalName", externalName="example.com"),
     {"clusterIP": None, "clusterIPs": None, "ipFamilies": None, "ipFamilyPolicy": None,
      "ports": [{"name": "web", "port": 80, "protocol": "TCP"}]}),
    ("lb-local-keeps-health-check-port", _LB_OLD,
     {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"name": "web", "port": 80}]},
     {"healthCheckNodePort": 31111}),
    ("lb-to-cluster-policy-drops-health-check-port", _LB_OLD,
     dict(copy.deepcopy(_LB_OLD), externalTrafficPolicy="Cluster"), {"healthCheckNodePort": None}),
    ("external-name-to-cluster-ip-gets-families", {"type": "ExternalName", "externalName": "x.io"},
     {"type": "ClusterIP", "ports": [{"port": 80}]},
     {"clusterIP": None, "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"}),
    ("singular-cluster-ip-change-mirrors-plural", _NP_OLD,
     dict(copy.deepcopy(_NP_OLD), clusterIP="10.96.6.6"), {"clusterIPs": ["10.96.6.6"]}),
    ("to-cluster-ip-drops-external-traffic-policy", _NP_OLD, dict(copy.deepcopy(_NP_OLD), type="ClusterIP"),
     {"externalTrafficPolicy": None}),
    ("to-cluster-ip-with-external-ips-keeps-policy", _NP_OLD,
     dict(copy.deepcopy(_NP_OLD), type="ClusterIP", externalIPs=["1.2.3.4"]), {"externalTrafficPolicy": "Cluster"}),
    ("changed-policy-is-kept-for-validation", _NP_OLD,
     dict(copy.deepcopy(_NP_OLD), type="ClusterIP", externalTrafficPolicy="Local"), {"externalTrafficPolicy": "Local"}),
    ("lb-to-node-port-drops-lb-fields", dict(_LB_OLD, allocateLoadBalancerNodePorts=True, loadBalancerClass="x/y"),
     dict(copy.deepcopy(_LB_OLD), type="NodePort", allocateLoadBalancerNodePorts=True, loadBalancerClass="x/y"),
     {"allocateLoadBalancerNodePorts": None, "loadBalancerClass": None, "healthCheckNodePort": None,
      "externalTrafficPolicy": "Local"}),
]


@pytest.mark.parametrize("old,new,want", [c[1:] for c in UPDATE_CASES], ids=[c[0] for c in UPDATE_CASES])
def test_prepare_update(old: dict[str, Any], new: dict[str, Any], want: dict[str, Any]) -> None:
    old_obj = {"spec": copy.deepcopy(old), "status": {"loadBalancer": {"ingress": [{"ip": "1.1.1.1"}]}}}
    stored = copy.deepcopy(old_obj)
    new_obj = {"spec": copy.deepcopy(new), "status": old_obj["status"]}  # shared, as on PUT
    prepare_update(new_obj, old_obj)
    assert old_obj == stored  # the stored object is never touched
    spec, old_copy = new_obj["spec"], old_obj["spec"]
    want_lb = stored["status"]["loadBalancer"] if spec.get("type") == "LoadBalancer" else {}
    assert new_obj["status"]["loadBalancer"] == want_lb
    for key, value in want.items():
        assert spec.get(key) == value, key
    if spec.get("clusterIPs") is not None and old.get("clusterIPs") is not None:
        assert spec["clusterIPs"] is not old_copy["clusterIPs"]


# ---- through the registry ------------------------------------------------------------------
@pytest.fixture
def reg(tmp_path):
    yield from running_registry(str(tmp_path / "db"), node_port_range="30000-30049")


_create = create


def _update(reg, obj):
    registry, loop = reg
    return loop.run_until_complete(registry.update(SVC, "d", obj["metadata"]["name"], obj,
                                                   WriteOptions(field_manager="t")))[0]


def _delete(reg, name):
    registry, loop = reg
    return loop.run_until_complete(registry.delete(SVC, "d", name, {}))


def test_registry_create_resubmit_and_type_changes(reg) -> None:
    created = _create(reg, _svc("s"))
    port, ip = created["spec"]["ports"][0]["nodePort"], created["spec"]["clusterIP"]
    assert 30000 <= port <= 30049
    again = _update(reg, _svc("s"))  # the creating YAML again: allocated values stay
    assert again["spec"]["ports"][0]["nodePort"] == port and again["spec"]["clusterIP"] == ip
    as_cip = copy.deepcopy(again)
    as_cip["spec"]["type"] = "ClusterIP"
    down = _update(reg, as_cip)
    assert "nodePort" not in down["spec"]["ports"][0] and down["spec"]["clusterIP"] == ip
    up = _update(reg, dict(down, spec=dict(down["spec"], type="NodePort")))
    assert 30000 <= up["spec"]["ports"][0]["nodePort"] <= 30049
    ext = _update(reg, dict(up, spec=dict(up["spec"], type="ExternalName", externalName="x.io")))
    assert "clusterIP" not in ext["spec"] and "nodePort" not in ext["spec"]["ports"][0]
    back = _update(reg, dict(ext, spec={"type": "ClusterIP", "ports": [{"port": 80}]}))
    assert back["spec"]["clusterIP"] and back["spec"]["clusterIPs"] == [back["spec"]["clusterIP"]]
    assert back["spec"]["ipFamilies"] == ["IPv4"]


def test_registry_conflict_immutability_and_delete_frees(reg) -> None:
    first = _create(reg, _svc("a", [{"port": 80, "nodePort": 30001}]))
    assert first["spec"]["ports"][0]["nodePort"] == 30001
    with pytest.raises(errors.Invalid, match="provided port is already allocated"):
        _create(reg, _svc("b", [{"port": 80, "nodePort": 30001}]))
    moved = copy.deepcopy(first)
    moved["spec"]["clusterIP"] = moved["spec"]["clusterIPs"][0] = "10.96.200.200"
    with pytest.raises(errors.Invalid, match=r"spec.clusterIPs\[0\].*may not change once set"):
        _update(reg, moved)
    _delete(reg, "a")
    assert _create(reg, _svc("b", [{"port": 80, "nodePort": 30001}]))["spec"]["ports"][0]["nodePort"] == 30001
