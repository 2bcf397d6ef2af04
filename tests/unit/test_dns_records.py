"""Cluster DNS record table and pure resolver, per DNS spec 1.1.0 rule and CoreDNS rcode rule."""

from __future__ import annotations

import copy

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from kubeproc.dns import records as r
from kubeproc.dns.resolver import answer, truncated

Z = "cluster.local."


def svc(name, ns="default", **spec):
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def eps(svc_name, endpoints, ports=None, ns="default", name=None):
    return {"metadata": {"name": name or svc_name + "-abc", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": svc_name}},
            "addressType": "IPv4", "endpoints": endpoints, "ports": ports}


def ep(ip, ready=True, hostname=None, **cond):
    e = {"addresses": [ip], "conditions": {"ready": ready, **cond}}
    if ready is None:
        e["conditions"] = {}
    if hostname:
        e["hostname"] = hostname
    return e


PG = [{"name": "pg", "port": 5432, "protocol": "TCP"}]
SERVICES = [
    svc("web", clusterIP="10.96.0.10", clusterIPs=["10.96.0.10"],
        ports=[{"name": "http", "port": 80, "protocol": "TCP"}, {"port": 81, "protocol": "UDP"}]),
    svc("dual", clusterIP="10.96.0.11", clusterIPs=["10.96.0.11", "fd00::11"], ports=[{"port": 80}]),
    svc("db", clusterIP="None", ports=[{"name": "pg", "port": 5432}]),
    svc("empty", clusterIP="None"),
    svc("pub", clusterIP="None", publishNotReadyAddresses=True),
    svc("ext", type="ExternalName", externalName="www.Example.com."),
    svc("extip", type="ExternalName", externalName="192.0.2.1"),
    svc("noports", clusterIP="10.96.0.12"),
    svc("web", ns="other", clusterIP="10.96.1.10", ports=[{"port": 80}]),
]
SLICES = [
    eps("db", [ep("10.1.0.5", hostname="db-0"), ep("10.1.0.6", ready=False, hostname="db-1"),
               ep("10.1.0.7", ready=None), ep("10.1.0.8", ready=False, serving=True, terminating=True)], PG),
    eps("db", [ep("10.1.0.5", hostname="db-0")], PG, name="db-dup"),  # same endpoint in two slices
    eps("empty", [ep("10.2.0.1", ready=False)]),
    eps("pub", [ep("10.3.0.1", ready=False, hostname="p-0")]),
    eps("web", [ep("10.4.0.1", hostname="w-0")], [{"name": "http", "port": 8080, "protocol": "TCP"}]),
]
TABLE = r.build(SERVICES, SLICES)


def rrs(name, rtype):
    return sorted(TABLE.names.get(name, {}).get(rtype, ()), key=str)


@pytest.mark.parametrize("name,rtype,want", [
    ("dns-version." + Z, r.TXT, ["1.1.0"]),
    ("web.default.svc." + Z, r.A, ["10.96.0.10"]),
    ("dual.default.svc." + Z, r.AAAA, ["fd00::11"]),
    ("dual.default.svc." + Z, r.A, ["10.96.0.11"]),
    ("web.other.svc." + Z, r.A, ["10.96.1.10"]),
    ("_http._tcp.web.default.svc." + Z, r.SRV, [(0, 100, 80, "web.default.svc." + Z)]),
    ("web.default.svc." + Z, r.SRV, [(0, 50, 80, "web.default.svc." + Z), (0, 50, 81, "web.default.svc." + Z)]),
    ("db.default.svc." + Z, r.A, ["10.1.0.5", "10.1.0.7"]),
    ("db-0.db.default.svc." + Z, r.A, ["10.1.0.5"]),
    ("10-1-0-7.db.default.svc." + Z, r.A, ["10.1.0.7"]),
    ("_pg._tcp.db.default.svc." + Z, r.SRV,
     [(0, 50, 5432, "10-1-0-7.db.default.svc." + Z), (0, 50, 5432, "db-0.db.default.svc." + Z)]),
    ("pub.default.svc." + Z, r.A, ["10.3.0.1"]),
    ("p-0.pub.default.svc." + Z, r.A, ["10.3.0.1"]),
    ("w-0.web.default.svc." + Z, r.A, ["10.4.0.1"]),
    ("ext.default.svc." + Z, r.CNAME, ["www.example.com."]),
], ids=[
    "2.2-dns-version-txt", "2.3.1-clusterip-a-without-endpoints", "2.3.1-dualstack-aaaa", "2.3.1-dualstack-a",
    "2.3.1-per-namespace", "2.3.2-srv-named-port-targets-service", "coredns-bare-name-srv-all-ports",
    "2.4.1-headless-a-ready-only-dedup", "2.4.1-hostname-a", "coredns-dashed-ip-endpoint-name",
    "2.4.2-srv-per-ready-endpoint", "2.1-publishNotReadyAddresses-includes-not-ready",
    "2.4.1-publish-not-ready-hostname", "coredns-endpoint-name-on-clusterip-service", "2.5-externalname-cname",
])
def test_records(name, rtype, want):
    assert rrs(name, rtype) == sorted(want, key=str)


@pytest.mark.parametrize("name", [
    "empty.default.svc." + Z,           # headless, no ready endpoints -> NXDOMAIN (spec 2.4.1)
    "db-1.db.default.svc." + Z,         # not-ready endpoint has no name
    "10-1-0-8.db.default.svc." + Z,     # terminating+serving but not ready: excluded
    "extip.default.svc." + Z,           # ExternalName that is an IP: CoreDNS serves nothing
    "noports.default.svc." + Z,         # ClusterIP without ports: CoreDNS findServices errNoItems
    "_81._udp.web.default.svc." + Z,    # unnamed ports have no SRV name (spec 2.3.2)
], ids=["headless-no-ready", "not-ready-hostname", "terminating-not-ready", "externalname-ip",
        "clusterip-no-ports", "unnamed-port-no-srv"])
def test_names_absent(name):
    assert name not in TABLE.names


@pytest.mark.parametrize("ip,target", [
    ("10.96.0.10", "web.default.svc." + Z),
    ("fd00::11", "dual.default.svc." + Z),
    ("10.1.0.5", "db-0.db.default.svc." + Z),
    ("10.1.0.7", "10-1-0-7.db.default.svc." + Z),
    ("10.4.0.1", "w-0.web.default.svc." + Z),
], ids=["2.3.3-clusterip-ptr", "2.3.3-ipv6-ptr", "2.4.3-headless-hostname-ptr", "2.4.3-headless-dashed-ptr",
        "coredns-clusterip-endpoint-ptr"])
def test_ptr(ip, target):
    assert TABLE.ptr[r.reverse_name(ip)] == (target,)


def test_not_ready_endpoint_has_no_ptr():
    assert r.reverse_name("10.1.0.6") not in TABLE.ptr


def test_clusterip_ptr_wins_over_endpoint_ptr():
    t = r.build([svc("a", clusterIP="10.9.0.1", ports=[{"port": 1}]), svc("b", clusterIP="None")],
                [eps("b", [ep("10.9.0.1", hostname="h")])])
    assert t.ptr[r.reverse_name("10.9.0.1")] == ("a.default.svc." + Z,)


def test_reverse_name_format():
    assert r.reverse_name("10.3.0.1") == "1.0.3.10.in-addr.arpa."


def test_inputs_not_mutated():
    before = copy.deepcopy((SERVICES, SLICES))
    r.build(SERVICES, SLICES)
    assert (SERVICES, SLICES) == before


def test_namespace_filter_hides_services_of_missing_namespaces():
    t = r.build(SERVICES, SLICES, namespaces=["default"])
    assert "web.other.svc." + Z not in t.names and "other.svc." + Z not in t.names


def test_configurable_zone():
    t = r.build(SERVICES, SLICES, zone="Corp.Example")
    assert t.names["web.default.svc.corp.example."][r.A] == ("10.96.0.10",)


def ask(name, rtype, table=TABLE, ttl=30):
    q = dns.message.make_query(name, rtype)
    wire = answer(q.to_wire(), table, ttl)
    return None if wire is None else (q, dns.message.from_wire(wire))


@pytest.mark.parametrize("name,rtype,rcode,n_answers", [
    ("web.default.svc.cluster.local", "A", "NOERROR", 1),
    ("web.default.svc.cluster.local", "AAAA", "NOERROR", 0),
    ("web.default.svc.cluster.local", "TXT", "NOERROR", 0),
    ("web.default.svc.cluster.local", "MX", "NOERROR", 0),
    ("default.svc.cluster.local", "A", "NOERROR", 0),
    ("nons.svc.cluster.local", "A", "NXDOMAIN", 0),
    ("svc.cluster.local", "A", "NOERROR", 0),
    ("cluster.local", "SOA", "NOERROR", 1),
    ("missing.default.svc.cluster.local", "A", "NXDOMAIN", 0),
    ("empty.default.svc.cluster.local", "A", "NXDOMAIN", 0),
    ("_nope._tcp.web.default.svc.cluster.local", "SRV", "NXDOMAIN", 0),
    ("a.b.c.web.default.svc.cluster.local", "A", "NXDOMAIN", 0),
    ("foo.cluster.local", "A", "NXDOMAIN", 0),
    ("dns-version.cluster.local", "TXT", "NOERROR", 1),
    ("dns-version.cluster.local", "A", "NXDOMAIN", 0),
    ("ext.default.svc.cluster.local", "A", "NOERROR", 1),
    ("ext.default.svc.cluster.local", "SRV", "NOERROR", 0),
    ("10-244-0-5.default.pod.cluster.local", "A", "NOERROR", 1),
    ("10-244-0-5.nons.pod.cluster.local", "A", "NXDOMAIN", 0),
    ("10.0.96.10.in-addr.arpa", "PTR", "NOERROR", 1),
], ids=[
    "a", "wrong-type-nodata", "txt-on-service-nodata", "other-type-nodata", "existing-namespace-nodata",
    "missing-namespace-nxdomain", "svc-apex-nodata", "zone-soa", "unknown-service-nxdomain",
    "headless-no-endpoints-nxdomain", "unknown-port-nxdomain", "too-long-nxdomain", "not-svc-or-pod-nxdomain",
    "dns-version", "dns-version-other-type-nxdomain", "externalname-a-gives-cname", "externalname-srv-nodata",
    "2.6-pod-a", "2.6-pod-missing-namespace", "ptr-clusterip",
])
def test_rcodes(name, rtype, rcode, n_answers):
    q, m = ask(name, rtype)
    assert dns.rcode.to_text(m.rcode()) == rcode
    assert sum(len(rr) for rr in m.answer) == n_answers
    assert m.id == q.id and m.flags & dns.flags.AA and m.flags & dns.flags.QR
    if n_answers == 0:
        assert [rr.rdtype for rr in m.authority] == [dns.rdatatype.SOA]


@pytest.mark.parametrize("name,rtype", [
    ("example.com", "A"), ("99.99.99.99.in-addr.arpa", "PTR"), ("10.0.96.10.in-addr.arpa", "A"),
], ids=["outside-zone", "unknown-reverse-falls-through", "reverse-non-ptr"])
def test_not_ours(name, rtype):
    assert ask(name, rtype) is None


def test_cache_patches_id_rd_and_question_case():
    table = r.build(SERVICES, SLICES)
    q1 = dns.message.make_query("web.default.svc.cluster.local", "A")
    q2 = dns.message.make_query("WEB.Default.svc.cluster.local", "A")
    q2.flags &= ~dns.flags.RD
    a1 = dns.message.from_wire(answer(q1.to_wire(), table, 30))
    a2 = dns.message.from_wire(answer(q2.to_wire(), table, 30))
    assert len(table.cache) == 1
    assert (a1.id, a2.id) == (q1.id, q2.id)
    assert a1.flags & dns.flags.RD and not a2.flags & dns.flags.RD
    assert a2.question[0].name.to_text() == "WEB.Default.svc.cluster.local."
    assert a2.answer[0][0].address == "10.96.0.10"


def test_srv_additional_has_targets():
    _, m = ask("_pg._tcp.db.default.svc.cluster.local", "SRV")
    extra = sorted((rr.name.to_text(), rr[0].address) for rr in m.additional)
    assert extra == [("10-1-0-7.db.default.svc.cluster.local.", "10.1.0.7"),
                     ("db-0.db.default.svc.cluster.local.", "10.1.0.5")]


def test_ttl_and_version_ttl():
    _, m = ask("web.default.svc.cluster.local", "A", ttl=7)
    assert m.answer[0].ttl == 7
    _, m = ask("dns-version.cluster.local", "TXT", ttl=7)
    assert m.answer[0].ttl == r.VERSION_TTL


def test_truncated_keeps_question_sets_tc():
    q, m = ask("db.default.svc.cluster.local", "A")
    t = dns.message.from_wire(truncated(m.to_wire()))
    assert t.flags & dns.flags.TC and not t.answer and t.question == m.question and t.id == q.id


@pytest.mark.parametrize("wire", [b"", b"\x00" * 11, b"\x12\x34\x80\x00" + b"\x00" * 8, b"\x12\x34\x01\x00\x00\x02" + b"\x00" * 6],
                         ids=["empty", "short", "response-bit", "two-questions"])
def test_malformed_is_not_answered(wire):
    assert answer(wire, TABLE, 30) is None
