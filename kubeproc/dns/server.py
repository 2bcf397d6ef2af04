"""Asyncio UDP + TCP cluster DNS server with a bounded upstream forwarder.

Owns the sockets: cluster names are answered synchronously from a
resolver.Resolver (whose table `update` swaps atomically); every other name is
forwarded to the host's nameservers (/etc/resolv.conf) over UDP with a timeout,
retried over TCP when the upstream answer is truncated and the client used TCP.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import struct
from dataclasses import dataclass, field
from typing import Any

from dnslib import DNSError, DNSRecord, QTYPE

from kubeproc.dns.resolver import Resolver, parse_question, truncated

log = logging.getLogger(__name__)

UDP_LIMIT = 512  # no EDNS in our own answers: classic DNS UDP payload limit (RFC 1035 §4.2.1)
TCP_IDLE = 10.0  # seconds a TCP client may stay idle between queries


def host_nameservers(path: str = "/etc/resolv.conf") -> list[tuple[str, int]]:
    """The `nameserver` lines of a resolv.conf as (ip, 53); missing file -> []."""
    out: list[tuple[str, int]] = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.split("#", 1)[0].split(";", 1)[0].split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    out.append((parts[1], 53))
    except OSError:
        pass
    return out


def servfail(query: bytes) -> bytes:
    """SERVFAIL echoing the query's ID and question (no records)."""
    end = parse_question(query)
    question = query[12:end] if end > 0 else b""
    flags = 0x8000 | (query[2] & 0x01) << 8 | 0x0080 | 2  # QR, RD copied, RA, rcode 2
    return query[:2] + struct.pack("!HHHHH", flags, 1 if question else 0, 0, 0, 0) + question


class _UpstreamUDP(asyncio.DatagramProtocol):
    def __init__(self, qid: bytes) -> None:
        self.qid = qid
        self.done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if data[:2] == self.qid and not self.done.done():  # ignore stray/spoofed IDs
            self.done.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


@dataclass
class Forwarder:
    """Forwards raw queries to `upstreams` in order; at most `limit` in flight."""

    upstreams: list[tuple[str, int]]
    timeout: float = 2.0
    limit: int = 256
    _sem: asyncio.Semaphore | None = field(default=None, init=False, repr=False)

    async def forward(self, query: bytes, tcp: bool) -> bytes:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.limit)
        if self._sem.locked():
            return servfail(query)  # bounded: shed load instead of queueing forever
        async with self._sem:
            for upstream in self.upstreams:
                try:
                    resp = await self._udp(query, upstream)
                    if tcp and len(resp) > 2 and resp[2] & 0x02:  # TC: retry the full answer over TCP
                        resp = await self._tcp(query, upstream)
                    return resp
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
                    log.debug("dns upstream %s failed: %r", upstream, exc)
            return servfail(query)

    async def _udp(self, query: bytes, upstream: tuple[str, int]) -> bytes:
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(lambda: _UpstreamUDP(query[:2]), remote_addr=upstream)
        try:
            transport.sendto(query)
            return await asyncio.wait_for(proto.done, self.timeout)
        finally:
            transport.close()

    async def _tcp(self, query: bytes, upstream: tuple[str, int]) -> bytes:
        async def exchange() -> bytes:
            reader, writer = await asyncio.open_connection(*upstream)
            try:
                writer.write(struct.pack("!H", len(query)) + query)
                await writer.drain()
                (size,) = struct.unpack("!H", await reader.readexactly(2))
                return await reader.readexactly(size)
            finally:
                writer.close()
        return await asyncio.wait_for(exchange(), self.timeout)


class _UDPServer(asyncio.DatagramProtocol):
    def __init__(self, server: "DNSServer") -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        # Hot path: cluster names are answered inline, without a task.
        resolver = self.server.resolver
        resp = resolver.answer(data)
        if resp is not None:
            if resolver.has_cnames and (target := resolver.cname_target(data)) is not None:
                self.server.spawn(self._chase(data, resp, target, addr))
                return
            self._send(resp, addr)
        elif len(data) >= 12:
            self.server.spawn(self._forward(data, addr))

    def _send(self, resp: bytes, addr: Any) -> None:
        if len(resp) > UDP_LIMIT:
            resp = truncated(resp)
        assert self.transport is not None
        self.transport.sendto(resp, addr)

    async def _chase(self, data: bytes, resp: bytes, target: str, addr: Any) -> None:
        resp = await self.server.chase(data, resp, target, tcp=False)
        if self.transport is not None and not self.transport.is_closing():
            self._send(resp, addr)

    async def _forward(self, data: bytes, addr: Any) -> None:
        resp = await self.server.forwarder.forward(data, tcp=False)
        if self.transport is not None and not self.transport.is_closing():
            # Upstream answers are passed through unchanged (already sized for UDP by the upstream).
            self.transport.sendto(resp, addr)


class DNSServer:
    """Serves `resolver` on host:port over UDP and TCP; `start()` binds, `port` is the bound port."""

    def __init__(self, resolver: Resolver, host: str = "127.0.0.1", port: int = 53,
                 forwarder: Forwarder | None = None) -> None:
        self.resolver = resolver
        self.host = host
        self.port = port
        self.forwarder = forwarder if forwarder is not None else Forwarder(host_nameservers())
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def update(self, services: Any, slices: Any, namespaces: Any = None) -> None:
        self.resolver.update(services, slices, namespaces)

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def chase(self, query: bytes, resp: bytes, target: str, tcp: bool) -> bytes:
        """Append the target's records to an ExternalName CNAME answer, as CoreDNS does.

        CoreDNS resolves the CNAME target (locally or via its upstream) and returns
        CNAME + target records (plugin/backend_lookup.go A); stub resolvers rely on it.
        """
        end = parse_question(query)
        qtype = int.from_bytes(query[end - 4:end - 2], "big")
        sub = bytes(DNSRecord.question(target, QTYPE.get(qtype)).pack())
        got = self.resolver.answer(sub)
        if got is None:
            got = await self.forwarder.forward(sub, tcp=tcp)
        try:
            upstream, mine = DNSRecord.parse(got), DNSRecord.parse(resp)
        except DNSError:
            return resp
        for rr in upstream.rr:
            mine.add_answer(rr)
        return bytes(mine.pack())

    async def start(self) -> None:
        """Bind UDP first (port 0 picks a free port), then TCP on the same port. With port 0 the
        UDP port the kernel picked may be some connection's TCP port: then another is tried."""
        loop = asyncio.get_running_loop()
        tries = 50 if self.port == 0 else 1
        for attempt in range(tries):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UDPServer(self), local_addr=(self.host, self.port))
            port = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, port)
            except OSError as e:
                transport.close()
                if e.errno != errno.EADDRINUSE or attempt == tries - 1:
                    raise
                continue
            self._udp, self.port = transport, port
            return

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
        for task in list(self._tasks):
            task.cancel()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (size,) = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), TCP_IDLE))
                query = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE)
                resp = self.resolver.answer(query)
                if resp is None:
                    resp = await self.forwarder.forward(query, tcp=True)
                elif (target := self.resolver.cname_target(query)) is not None:
                    resp = await self.chase(query, resp, target, tcp=True)
                writer.write(struct.pack("!H", len(resp)) + resp)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
