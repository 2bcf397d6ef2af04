"""conntrack.Cleaner in the real kernel (root): entries are made over ctnetlink with addresses
of this test only, and what the cleanup leaves is read back; every entry made is removed in a
finally (they would expire within a minute anyway)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from pyroute2 import Conntrack
from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple

from kubeproc.proxy.conntrack import Cleaner
from kubeproc.proxy.model import ServicePort

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="changes the conntrack table: run as root")

CLIENT, FRONTEND, OTHER, NODE_IP = "10.250.129.50", "10.251.77.10", "10.251.77.11", "198.51.100.1"
SERVING, GONE = "10.250.129.5", "10.250.129.6"


def flow(sport: int, dst: str, dport: int, backend: str) -> tuple[NFCTAttrTuple, NFCTAttrTuple]:
    orig = NFCTAttrTuple(saddr=CLIENT, daddr=dst, proto=socket.IPPROTO_UDP, sport=sport, dport=dport)
    reply = NFCTAttrTuple(saddr=backend, daddr=CLIENT, proto=socket.IPPROTO_UDP, sport=5353, dport=sport)
    return orig, reply


FLOWS = {
    "to a serving endpoint": flow(40001, FRONTEND, 5353, SERVING),
    "to a gone endpoint": flow(40002, FRONTEND, 5353, GONE),
    "NodePort to a gone endpoint": flow(40003, NODE_IP, 30999, GONE),
    "no Service's frontend": flow(40004, OTHER, 5353, GONE),
}


def ours(ct: Conntrack) -> set[str]:
    left = {(e.tuple_orig.sport, e.tuple_orig.daddr) for e in ct.dump_entries()
            if e.tuple_orig.saddr == CLIENT and e.tuple_orig.proto == socket.IPPROTO_UDP}
    return {name for name, (orig, _) in FLOWS.items() if (orig.sport, orig.daddr) in left}


@pytest.fixture
def ct() -> Iterator[Conntrack]:
    c = Conntrack()
    try:
        for orig, reply in FLOWS.values():
            c.entry("add", timeout=60, tuple_orig=orig, tuple_reply=reply)
        yield c
    finally:
        for orig, _ in FLOWS.values():
            try:
                c.entry("del", tuple_orig=orig)
            except Exception:
                pass
        c.close()


def test_the_cleanup_deletes_only_entries_to_endpoints_that_no_longer_serve(ct: Conntrack) -> None:
    assert ours(ct) == set(FLOWS)
    dns = ServicePort(namespace="t", name="dns", port_name="dns", protocol="udp", cluster_ip=FRONTEND,
                      port=5353, node_port=30999, serving_ips=frozenset({SERVING}))
    assert Cleaner().clean([dns]) == 2
    assert ours(ct) == {"to a serving endpoint", "no Service's frontend"}
    assert Cleaner().clean([dns]) == 0  # idempotent
