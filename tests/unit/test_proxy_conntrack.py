"""Which UDP conntrack entries are stale (proxy/conntrack.py, after cleanup.go
CleanStaleEntries), and that the proxier cleans after a sync that changed a UDP Service's
frontends or serving endpoints, and only then."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubeproc.proxy import ProxyConfig
from kubeproc.proxy.conntrack import Flow, signature, stale
from kubeproc.proxy.model import ServicePort, service_ports
from kubeproc.proxy.proxier import ServiceProxy
from tests.unit.test_proxy_model import NODE, ep, slice_, svc

DNS = ServicePort(namespace="kube-system", name="dns", port_name="dns", protocol="udp",
                  cluster_ip="10.96.0.10", port=53, node_port=30053, external_ips=("192.0.2.7",),
                  serving_ips=frozenset({"10.250.0.5", "10.250.0.6"}))
EMPTY = ServicePort(namespace="default", name="none", port_name="u", protocol="udp",
                    cluster_ip="10.96.0.11", port=9000)
TCP = ServicePort(namespace="default", name="web", port_name="http", protocol="tcp",
                  cluster_ip="10.96.0.12", port=80, serving_ips=frozenset({"10.250.0.9"}))


@pytest.mark.parametrize("flow, is_stale", [
    (Flow("10.96.0.10", 53, "10.250.0.5"), False),  # to a serving endpoint
    (Flow("10.96.0.10", 53, "10.250.0.7"), True),  # to an endpoint that is gone
    (Flow("10.96.0.10", 53, "10.96.0.10"), True),  # made while the Service had no endpoint
    (Flow("192.0.2.7", 53, "10.250.0.7"), True),  # an external IP of the Service
    (Flow("10.96.0.10", 54, "10.250.0.7"), False),  # another port: not this frontend
    (Flow("203.0.113.1", 30053, "10.250.0.7"), True),  # its NodePort, on any address
    (Flow("203.0.113.1", 30053, "10.250.0.6"), False),
    (Flow("10.96.0.11", 9000, "10.250.0.7"), False),  # no serving endpoint: left alone
    (Flow("10.96.0.12", 80, "10.250.0.1"), False),  # a TCP Service's address: not UDP's business
])
def test_stale_entries(flow: Flow, is_stale: bool) -> None:
    assert stale([flow], [DNS, EMPTY, TCP]) == ([flow] if is_stale else [])


def test_serving_endpoints_count_even_when_not_ready() -> None:
    """Changes to a Service leave existing flows alone: a terminating endpoint still serving
    keeps its entries (cleanup.go takes IsServing, not readiness)."""
    ports = [{"name": "u", "port": 9000, "protocol": "UDP"}]
    got = service_ports(svc(ports=ports), [slice_(ep("10.250.0.5"), ep("10.250.0.6", ready=False,
                                                                       serving=True, terminating=True),
                                                  ep("10.250.0.8", ready=False, serving=False),
                                                  ports=[{"name": "u", "port": 9000, "protocol": "UDP"}])],
                        NODE)
    assert got[0].serving_ips == {"10.250.0.5", "10.250.0.6"}
    assert [e.ip for e in got[0].endpoints] == ["10.250.0.5"]


def test_signature_is_what_the_cleanup_depends_on() -> None:
    assert signature([EMPTY, TCP]) == frozenset()
    assert signature([DNS]) != signature([ServicePort(**{**DNS.__dict__, "serving_ips": frozenset({"10.250.0.5"})})])


class FakeNft:
    def __init__(self) -> None:
        self.scripts: list[str] = []

    def run(self, script: str) -> str:
        self.scripts.append(script)
        return ""


class FakeCleaner:
    def __init__(self) -> None:
        self.calls: list[list[ServicePort]] = []

    def clean(self, ports: Any) -> int:
        self.calls.append(list(ports))
        return 0


def test_the_proxier_cleans_after_a_sync_that_changed_udp_endpoints_only() -> None:
    async def body() -> None:
        cfg = ProxyConfig(instance="tct", pod_cidr="10.250.0.0/24", bridge="kpt0",
                          service_cidr="10.96.0.0/16", node_name=NODE)
        cleaner = FakeCleaner()
        proxy = ServiceProxy(None, cfg, nft=FakeNft(), host_setup=False, cleaner=cleaner)  # type: ignore[arg-type]
        udp = [{"name": "u", "port": 9000, "protocol": "UDP"}]
        proxy._put_service(svc(ports=udp), ("default", "web"))
        proxy._put_slice(slice_(ep("10.250.0.5"), ports=udp), ("default", "web-abc"))
        await proxy.sync(1)
        assert [[sp.serving_ips for sp in call] for call in cleaner.calls] == [[{"10.250.0.5"}]]
        proxy._put_service(svc(ports=udp), ("default", "web"))  # nothing that matters changed
        await proxy.sync(2)
        assert len(cleaner.calls) == 1
        proxy._put_slice(slice_(ep("10.250.0.6"), ports=udp), ("default", "web-abc"))  # the endpoint moved
        await proxy.sync(3)
        assert [sp.serving_ips for sp in cleaner.calls[-1]] == [{"10.250.0.6"}]
        proxy._put_service(svc(), ("default", "web"))  # TCP only now: no UDP to clean
        await proxy.sync(4)
        assert len(cleaner.calls) == 2
    asyncio.run(body())
