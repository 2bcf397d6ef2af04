"""Cluster DNS server over real UDP/TCP sockets on 127.0.0.1, with a local fake upstream."""

from __future__ import annotations

import asyncio
import errno
import struct
import threading

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest
from dnslib import A as _A, RR, DNSRecord

from kubeproc.dns.resolver import Resolver
from kubeproc.dns.server import DNSServer, Forwarder, host_nameservers, servfail

SERVICES = [
    {"metadata": {"name": "web", "namespace": "default"},
     "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": [{"name": "http", "port": 80}]}},
    {"metadata": {"name": "db", "namespace": "default"}, "spec": {"clusterIP": "None"}},
    {"metadata": {"name": "ext", "namespace": "default"}, "spec": {"type": "ExternalName", "externalName": "example.test"}},
]
SLICES = [
    {"metadata": {"name": "db-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "db"}},
     "addressType": "IPv4", "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
     "endpoints": [{"addresses": [f"10.1.{i // 250}.{i % 250 + 1}"], "hostname": f"db-{i}", "conditions": {"ready": True}}
                   for i in range(60)]},  # 60 A records: > 512 bytes, so UDP must truncate
]


class FakeUpstream(asyncio.DatagramProtocol):
    """Answers A for any name with 192.0.2.99; `big.example.test` is truncated over UDP, full over TCP."""

    def connection_made(self, transport):
        self.transport = transport

    @staticmethod
    def reply(data: bytes, tcp: bool) -> bytes:
        q = DNSRecord.parse(data)
        resp = q.reply()
        resp.header.ra = 1
        if str(q.q.qname).startswith("big.") and not tcp:
            resp.header.tc = 1
        else:
            resp.add_answer(RR(q.q.qname, 1, 1, 60, _A("192.0.2.99")))
        return resp.pack()

    def datagram_received(self, data, addr):
        self.transport.sendto(self.reply(data, tcp=False), addr)


async def _upstream_tcp(reader, writer):
    (size,) = struct.unpack("!H", await reader.readexactly(2))
    resp = FakeUpstream.reply(await reader.readexactly(size), tcp=True)
    writer.write(struct.pack("!H", len(resp)) + resp)
    await writer.drain()
    writer.close()


@pytest.fixture(scope="module")
def server():
    """Runs upstream + DNSServer in a background loop; yields (server, loop)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box = {}

    async def setup():
        # the upstream answers UDP and TCP on one port: take a port free for both (a random UDP
        # port may be another process's TCP port; that failed a CI run)
        for _ in range(50):
            t, _ = await loop.create_datagram_endpoint(FakeUpstream, local_addr=("127.0.0.1", 0))
            up_port = t.get_extra_info("sockname")[1]
            try:
                box["up_tcp"] = await asyncio.start_server(_upstream_tcp, "127.0.0.1", up_port)
                break
            except OSError:
                t.close()
        resolver = Resolver()
        resolver.update(SERVICES, SLICES)
        srv = DNSServer(resolver, "127.0.0.1", 0, Forwarder([("127.0.0.1", up_port)], timeout=2.0))
        await srv.start()
        box["srv"], box["up"] = srv, t

    def run():
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(setup())
        except BaseException as e:  # shown by the assertion below instead of a bare timeout
            box["error"] = e
            ready.set()
            return
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10) and "error" not in box, box.get("error")
    yield box["srv"]
    asyncio.run_coroutine_threadsafe(box["srv"].stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def udp(server, name, rtype):
    return dns.query.udp(dns.message.make_query(name, rtype), "127.0.0.1", port=server.port, timeout=5)


def tcp(server, name, rtype):
    return dns.query.tcp(dns.message.make_query(name, rtype), "127.0.0.1", port=server.port, timeout=5)


@pytest.mark.parametrize("via", [udp, tcp], ids=["udp", "tcp"])
@pytest.mark.parametrize("name,rtype,rcode,want", [
    ("web.default.svc.cluster.local", "A", "NOERROR", ["10.96.0.10"]),
    ("web.default.svc.cluster.local", "AAAA", "NOERROR", []),
    ("_http._tcp.web.default.svc.cluster.local", "SRV", "NOERROR", ["0 100 80 web.default.svc.cluster.local."]),
    ("10.0.96.10.in-addr.arpa", "PTR", "NOERROR", ["web.default.svc.cluster.local."]),
    ("ext.default.svc.cluster.local", "CNAME", "NOERROR", ["example.test."]),
    ("dns-version.cluster.local", "TXT", "NOERROR", ['"1.1.0"']),
    ("db-7.db.default.svc.cluster.local", "A", "NOERROR", ["10.1.0.8"]),
    ("ext.default.svc.cluster.local", "A", "NOERROR", ["example.test.", "192.0.2.99"]),
    ("nope.default.svc.cluster.local", "A", "NXDOMAIN", []),
    ("default.svc.cluster.local", "A", "NOERROR", []),
    ("forwarded.example.test", "A", "NOERROR", ["192.0.2.99"]),
], ids=["a", "nodata", "srv", "ptr", "cname", "txt", "statefulset-hostname", "externalname-cname-chased",
        "nxdomain", "namespace-nodata",
        "forwarded"])
def test_answers(server, via, name, rtype, rcode, want):
    m = via(server, name, rtype)
    assert dns.rcode.to_text(m.rcode()) == rcode
    got = [rd.to_text() for rrset in m.answer for rd in rrset]
    assert got == want


def test_big_answer_truncated_over_udp_full_over_tcp(server):
    m = dns.query.udp(dns.message.make_query("db.default.svc.cluster.local", "A"), "127.0.0.1",
                      port=server.port, timeout=5, ignore_trailing=True)
    assert m.flags & dns.flags.TC and not m.answer
    m = tcp(server, "db.default.svc.cluster.local", "A")
    assert len(m.answer[0]) == 60


def test_forward_truncated_upstream_retries_tcp_for_tcp_clients(server):
    assert udp(server, "big.example.test", "A").flags & dns.flags.TC
    m = tcp(server, "big.example.test", "A")
    assert [rd.address for rd in m.answer[0]] == ["192.0.2.99"]


def test_update_swaps_table(server):
    server.update(SERVICES + [{"metadata": {"name": "new", "namespace": "default"},
                               "spec": {"clusterIP": "10.96.0.99", "ports": [{"port": 1}]}}], SLICES)
    try:
        assert udp(server, "new.default.svc.cluster.local", "A").answer[0][0].address == "10.96.0.99"
    finally:
        server.update(SERVICES, SLICES)
    assert udp(server, "new.default.svc.cluster.local", "A").rcode() == dns.rcode.NXDOMAIN


def test_no_upstream_gives_servfail():
    async def go():
        return await Forwarder([]).forward(dns.message.make_query("x.test", "A").to_wire(), tcp=False)
    m = dns.message.from_wire(asyncio.run(go()))
    assert m.rcode() == dns.rcode.SERVFAIL and str(m.question[0].name) == "x.test."


def test_servfail_keeps_id_and_rd():
    q = dns.message.make_query("a.test", "A")
    m = dns.message.from_wire(servfail(q.to_wire()))
    assert m.id == q.id and m.flags & dns.flags.RD and m.flags & dns.flags.QR


@pytest.mark.parametrize("text,want", [
    ("nameserver 10.0.0.2\nsearch x\n", [("10.0.0.2", 53)]),
    ("# c\nnameserver 1.1.1.1 # x\nnameserver fe80::1%eth0\noptions ndots:5\n", [("1.1.1.1", 53), ("fe80::1%eth0", 53)]),
    ("", []),
], ids=["single", "comments-and-scope", "empty"])
def test_host_nameservers(tmp_path, text, want):
    p = tmp_path / "resolv.conf"
    p.write_text(text)
    assert host_nameservers(str(p)) == want


def test_host_nameservers_missing_file(tmp_path):
    assert host_nameservers(str(tmp_path / "nope")) == []


def test_port_zero_tries_another_port_when_tcp_is_taken(monkeypatch):
    """With port 0 the UDP port the kernel picks may be some connection's TCP port (that failed
    a CI run): the server closes that UDP socket and binds both on another port."""
    from kubeproc.dns import server as dns_server
    real = asyncio.start_server
    refused: list[int] = []

    async def start_server(cb, host, port):
        if not refused:
            refused.append(port)
            raise OSError(errno.EADDRINUSE, "address already in use")
        return await real(cb, host, port)
    monkeypatch.setattr(dns_server.asyncio, "start_server", start_server)

    async def body():
        srv = DNSServer(Resolver(), "127.0.0.1", 0, Forwarder([], timeout=1.0))
        await srv.start()
        try:
            tcp_port = srv._tcp.sockets[0].getsockname()[1]
            assert len(refused) == 1  # one refusal, then a second pair of sockets
            assert srv.port == tcp_port == srv._udp.get_extra_info("sockname")[1]
        finally:
            await srv.stop()
    asyncio.run(body())
