"""kubeproc.proxy.model: which Services are proxied, and the service ports built from a Service
and its EndpointSlices (servicechangetracker.go / serviceport.go, endpointslicecache.go,
topology.go CategorizeEndpoints), checked case by case on plain dicts.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeproc.proxy.model import Endpoint, ServicePort, is_proxied, service_ports

NODE = "n1"


def svc(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"type": "ClusterIP", "clusterIP": "10.96.0.10",
                            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"}, "spec": base}


def ep(ip: str, node: str | None = NODE, **cond: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"addresses": [ip], "conditions": cond}
    if node is not None:
        out["nodeName"] = node
    return out


def slice_(*eps: dict[str, Any], ports: list[dict[str, Any]] | None = None,
           name: str = "web-abc", address_type: str = "IPv4") -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": address_type,
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}] if ports is None else ports,
            "endpoints": list(eps)}


def ips(sp: ServicePort) -> list[tuple[str, int]]:
    return [(e.ip, e.port) for e in sp.endpoints]


# ---- which Services get rules ----------------------------------------------------------------

@pytest.mark.parametrize("service,expected", [
    (svc(), True),
    (svc(type="NodePort"), True),
    (svc(type="ExternalName", externalName="example.com", clusterIP=""), False),
    (svc(type="ExternalName", externalName="example.com"), False),  # even with a clusterIP left
    (svc(clusterIP="None"), False),
    (svc(clusterIP=""), False),
    ({"metadata": {"name": "x", "namespace": "d"}, "spec": {}}, False),
    (svc(clusterIP="fd00::10"), False),
    (svc(clusterIP="not-an-ip"), False),
], ids=["clusterip", "nodeport", "externalname", "externalname-with-ip", "headless", "no-ip",
        "no-spec-fields", "ipv6-skipped", "garbage-ip"])
def test_is_proxied(service: dict[str, Any], expected: bool) -> None:
    assert is_proxied(service) is expected


@pytest.mark.parametrize("service", [
    svc(type="ExternalName", externalName="example.com"), svc(clusterIP="None"), svc(clusterIP="fd00::1"),
], ids=["externalname", "headless", "ipv6"])
def test_unproxied_services_have_no_ports(service: dict[str, Any]) -> None:
    assert service_ports(service, [slice_(ep("10.250.0.5"))], NODE) == []


# ---- ports and their endpoints -----------------------------------------------------------------

TWO_PORTS = [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}]


@pytest.mark.parametrize("service,slices,expected", [
    # the slice port named like the service port, same protocol, gives the target port
    (svc(), [slice_(ep("10.250.0.5"))], {"default/web/tcp/http": [("10.250.0.5", 8080)]}),
    # a slice port with another name serves nothing of this service port
    (svc(), [slice_(ep("10.250.0.5"), ports=[{"name": "metrics", "port": 9090, "protocol": "TCP"}])],
     {"default/web/tcp/http": []}),
    # same name, other protocol: not a match
    (svc(), [slice_(ep("10.250.0.5"), ports=[{"name": "http", "port": 8080, "protocol": "UDP"}])],
     {"default/web/tcp/http": []}),
    # protocol missing on both sides means TCP
    (svc(ports=[{"name": "http", "port": 80}]), [slice_(ep("10.250.0.5"), ports=[{"name": "http", "port": 8080}])],
     {"default/web/tcp/http": [("10.250.0.5", 8080)]}),
    # an unnamed single port matches the unnamed slice port
    (svc(ports=[{"port": 80}]), [slice_(ep("10.250.0.5"), ports=[{"port": 8081}])],
     {"default/web/tcp/": [("10.250.0.5", 8081)]}),
    # two service ports, each with its own slice port (TCP and UDP)
    (svc(ports=TWO_PORTS),
     [slice_(ep("10.250.0.5"), ports=[{"name": "http", "port": 8080, "protocol": "TCP"},
                                      {"name": "dns", "port": 5353, "protocol": "UDP"}])],
     {"default/web/tcp/http": [("10.250.0.5", 8080)], "default/web/udp/dns": [("10.250.0.5", 5353)]}),
    # the same endpoint listed by two slices counts once; endpoints of both slices are merged
    (svc(), [slice_(ep("10.250.0.5"), ep("10.250.0.6"), name="a"),
             slice_(ep("10.250.0.6"), ep("10.250.0.7"), name="b")],
     {"default/web/tcp/http": [("10.250.0.5", 8080), ("10.250.0.6", 8080), ("10.250.0.7", 8080)]}),
    # endpoints are ordered by address (numerically), whatever the slice order
    (svc(), [slice_(ep("10.250.0.10"), ep("10.250.0.9"))],
     {"default/web/tcp/http": [("10.250.0.9", 8080), ("10.250.0.10", 8080)]}),
    # invalid addresses and IPv6 ones are ignored; only the first address of an endpoint is used
    (svc(), [slice_(ep("bogus"), ep("fd00::5"), ep("10.250.0.5"),
                    {"addresses": ["10.250.0.8", "10.250.0.9"], "conditions": {}})],
     {"default/web/tcp/http": [("10.250.0.5", 8080), ("10.250.0.8", 8080)]}),
    # an IPv6 slice contributes nothing
    (svc(), [slice_(ep("10.250.0.5"), address_type="IPv6")], {"default/web/tcp/http": []}),
    # a slice port without a port number is skipped
    (svc(), [slice_(ep("10.250.0.5"), ports=[{"name": "http", "protocol": "TCP"}])], {"default/web/tcp/http": []}),
    # no slices at all: the port exists, without endpoints
    (svc(), [], {"default/web/tcp/http": []}),
], ids=["match-by-name", "other-name", "other-protocol", "default-tcp", "unnamed-port", "tcp-and-udp",
        "dedup-across-slices", "sorted-by-ip", "invalid-and-v6-ips-ignored", "ipv6-slice-ignored",
        "portless-slice-port", "no-slices"])
def test_endpoints_matched_to_ports(service: dict[str, Any], slices: list[dict[str, Any]],
                                    expected: dict[str, list[tuple[str, int]]]) -> None:
    got = service_ports(service, slices, NODE)
    assert {sp.key: ips(sp) for sp in got} == expected


@pytest.mark.parametrize("endpoints,expected", [
    ([ep("10.250.0.5", ready=True), ep("10.250.0.6", ready=False)], ["10.250.0.5"]),
    ([ep("10.250.0.5")], ["10.250.0.5"]),  # ready missing counts as ready
    ([ep("10.250.0.5", ready=True),
      ep("10.250.0.6", ready=False, serving=True, terminating=True)], ["10.250.0.5"]),
    # no ready endpoint: the serving and terminating ones keep the service up
    ([ep("10.250.0.5", ready=False, serving=False, terminating=True),
      ep("10.250.0.6", ready=False, serving=True, terminating=True)], ["10.250.0.6"]),
    # not ready, serving but not terminating: not used
    ([ep("10.250.0.6", ready=False, serving=True, terminating=False)], []),
    ([ep("10.250.0.5", ready=False), ep("10.250.0.6", ready=False)], []),
], ids=["ready-only", "ready-missing-is-ready", "ready-beats-terminating",
        "serving-terminating-fallback", "serving-not-terminating-unused", "none-ready"])
def test_ready_then_serving_terminating(endpoints: list[dict[str, Any]], expected: list[str]) -> None:
    (sp,) = service_ports(svc(), [slice_(*endpoints)], NODE)
    assert [e.ip for e in sp.endpoints] == expected


# endpointslicecache.go: serving=nil means true (API contract)
def test_serving_missing_means_serving_for_terminating_fallback() -> None:
    (sp,) = service_ports(svc(), [slice_(ep("10.250.0.6", ready=False, terminating=True))], NODE)
    assert [e.ip for e in sp.endpoints] == ["10.250.0.6"]


# ---- service-level settings -------------------------------------------------------------------

@pytest.mark.parametrize("spec,expected", [
    ({}, 0),
    ({"sessionAffinity": "None"}, 0),
    ({"sessionAffinity": "ClientIP"}, 10800),
    ({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {}}}, 10800),
    ({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}, 60),
    # a timeout without ClientIP affinity means nothing
    ({"sessionAffinity": "None", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}, 0),
], ids=["none-by-default", "none", "clientip-default-10800", "clientip-empty-config", "clientip-explicit",
        "timeout-without-clientip"])
def test_session_affinity(spec: dict[str, Any], expected: int) -> None:
    (sp,) = service_ports(svc(**spec), [], NODE)
    assert sp.affinity_seconds == expected


@pytest.mark.parametrize("type_,expected", [
    ("ClusterIP", 0), ("NodePort", 30080), ("LoadBalancer", 30080),
], ids=["clusterip-no-nodeport", "nodeport", "loadbalancer"])
def test_node_port_only_for_nodeport_and_loadbalancer(type_: str, expected: int) -> None:
    spec = {"type": type_, "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]}
    (sp,) = service_ports(svc(**spec), [], NODE)
    assert (sp.node_port, sp.cluster_ip, sp.port, sp.protocol) == (expected, "10.96.0.10", 80, "tcp")


@pytest.mark.parametrize("external,expected", [
    ([], ()),
    (["192.0.2.7"], ("192.0.2.7",)),
    (["192.0.2.7", "2001:db8::7", "nonsense", "198.51.100.1"], ("192.0.2.7", "198.51.100.1")),
], ids=["none", "one", "ipv4-only-kept"])
def test_external_ips(external: list[str], expected: tuple[str, ...]) -> None:
    (sp,) = service_ports(svc(externalIPs=external), [], NODE)
    assert sp.external_ips == expected


def test_unknown_protocol_port_skipped() -> None:
    ports = [{"name": "x", "port": 1, "protocol": "ICMP"}, {"name": "http", "port": 80, "protocol": "TCP"}]
    assert [sp.key for sp in service_ports(svc(ports=ports), [], NODE)] == ["default/web/tcp/http"]


MIXED = [ep("10.250.0.5", node=NODE), ep("10.250.0.6", node="n2"), ep("10.250.0.7", node=None)]


@pytest.mark.parametrize("spec,cluster,external", [
    ({}, ["10.250.0.5", "10.250.0.6", "10.250.0.7"], ["10.250.0.5", "10.250.0.6", "10.250.0.7"]),
    ({"internalTrafficPolicy": "Local"}, ["10.250.0.5"], ["10.250.0.5", "10.250.0.6", "10.250.0.7"]),
    ({"externalTrafficPolicy": "Local", "type": "NodePort"},
     ["10.250.0.5", "10.250.0.6", "10.250.0.7"], ["10.250.0.5"]),
    ({"internalTrafficPolicy": "Cluster", "externalTrafficPolicy": "Cluster"},
     ["10.250.0.5", "10.250.0.6", "10.250.0.7"], ["10.250.0.5", "10.250.0.6", "10.250.0.7"]),
], ids=["cluster-policies", "internal-local-by-nodename", "external-local-by-nodename", "explicit-cluster"])
def test_traffic_policy_local(spec: dict[str, Any], cluster: list[str], external: list[str]) -> None:
    (sp,) = service_ports(svc(**spec), [slice_(*MIXED)], NODE)
    assert [e.ip for e in sp.endpoints] == ["10.250.0.5", "10.250.0.6", "10.250.0.7"]
    assert [e.local for e in sp.endpoints] == [True, False, False]  # no nodeName: not local
    assert [e.ip for e in sp.cluster_endpoints()] == cluster
    assert [e.ip for e in sp.external_endpoints()] == external


def test_empty_node_name_matches_nothing() -> None:
    (sp,) = service_ports(svc(), [slice_(ep("10.250.0.5", node=""))], "")
    assert sp.endpoints == (Endpoint("10.250.0.5", 8080, local=False),)


# topology.go CategorizeEndpoints: the Local policy falls back to local serving+terminating
# endpoints when no *local* one is ready, even if a remote one is ready
def test_local_policy_falls_back_to_local_terminating() -> None:
    eps = [ep("10.250.0.5", node="n2", ready=True),
           ep("10.250.0.6", node=NODE, ready=False, serving=True, terminating=True)]
    (sp,) = service_ports(svc(internalTrafficPolicy="Local"), [slice_(*eps)], NODE)
    assert [e.ip for e in sp.cluster_endpoints()] == ["10.250.0.6"]


def test_inputs_not_mutated_and_fields_complete() -> None:
    service = svc(type="NodePort", externalIPs=["192.0.2.7"], sessionAffinity="ClientIP",
                  ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}])
    slices = [slice_(ep("10.250.0.5"))]
    before = copy.deepcopy((service, slices))
    got = service_ports(service, slices, NODE)
    assert (service, slices) == before
    assert got == [ServicePort(namespace="default", name="web", port_name="http", protocol="tcp",
                               cluster_ip="10.96.0.10", port=80, node_port=30080, external_ips=("192.0.2.7",),
                               affinity_seconds=10800, endpoints=(Endpoint("10.250.0.5", 8080, True),),
                               serving_ips=frozenset({"10.250.0.5"}))]
