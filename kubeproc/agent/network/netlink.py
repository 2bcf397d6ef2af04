"""Batched rtnetlink requests: pyroute2 encodes the messages, we send them on a plain socket.

Owns the wire: message builders (link, address, route), `request()` that pipelines a batch in
one `send` and collects one ack per message, and `wait_until()` that sleeps on link events.
pyroute2's `IPRoute` costs ~0.4 ms per call (an asyncio loop per request) and its netns helpers
fork; a pipelined batch on a raw socket costs tens of µs per message and never forks.
"""

from __future__ import annotations

import errno
import itertools
import os
import select
import socket
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST
from pyroute2.netlink.rtnl import RTM_DELLINK, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

IFF_UP = 0x1
NLMSG_ERROR = 2
RTMGRP_LINK = 0x1
CREATE = NLM_F_CREATE | NLM_F_EXCL
REPLACE = NLM_F_CREATE | NLM_F_REPLACE

Request = tuple[Any, int, int]  # (pyroute2 message, nlmsg type, extra flags)
# Sequence numbers never repeat in a process (next() on a count is atomic under the GIL): a
# socket shared by threads may hold acks of an interrupted batch, which must not match another's.
_SEQ = itertools.count(1)


class NetlinkError(OSError):
    """A request of a batch failed; `errno` is the kernel's, `op` says which request."""

    def __init__(self, code: int, op: str) -> None:
        super().__init__(code, f"{op}: {os.strerror(code)}")
        self.op = op


def open_socket(groups: int = 0) -> socket.socket:
    """An rtnetlink socket bound to the calling thread's current network namespace."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((0, groups))
    return s


def link(
    index: int = 0, ifname: str | None = None, up: bool | None = None, attrs: Sequence[tuple[str, Any]] = ()
) -> Any:
    msg = ifinfmsg()
    msg["family"] = socket.AF_UNSPEC
    msg["index"] = index
    if up is not None:
        msg["flags"] = IFF_UP if up else 0
        msg["change"] = IFF_UP
    nlas: list[Any] = [("IFLA_IFNAME", ifname)] if ifname else []
    nlas.extend(attrs)
    msg["attrs"] = nlas
    return msg


def linkinfo(kind: str, data: Sequence[tuple[str, Any]] = ()) -> tuple[str, Any]:
    nlas: list[Any] = [("IFLA_INFO_KIND", kind)]
    if data:
        nlas.append(("IFLA_INFO_DATA", {"attrs": list(data)}))
    return ("IFLA_LINKINFO", {"attrs": nlas})


IN6_ADDR_GEN_MODE_NONE = 1


def no_ipv6_link_local() -> tuple[str, Any]:
    """A link attribute: the kernel generates no IPv6 link-local address on the link (`ip link
    set DEV addrgenmode none`), so it sends no DAD, MLD or router solicitation packets."""
    return ("IFLA_AF_SPEC", {"attrs": [("AF_INET6", {"attrs": [
        ("IFLA_INET6_ADDR_GEN_MODE", IN6_ADDR_GEN_MODE_NONE)]})]})


def bridge_port(data: Sequence[tuple[str, Any]]) -> tuple[str, Any]:
    """A link attribute setting bridge port options (IFLA_BRPORT_*) of a bridge's port, as
    `ip link set DEV type bridge_slave ...` does; the kernel takes the RTNL lock (a write to the
    port's sysfs files only tries it, and restarts the write while another holds it)."""
    return ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_SLAVE_KIND", "bridge"),
                                        ("IFLA_INFO_SLAVE_DATA", {"attrs": list(data)})]})


def veth_peer(attrs: Sequence[tuple[str, Any]]) -> tuple[str, Any]:
    return ("VETH_INFO_PEER", {"attrs": list(attrs)})


def address(index: int, ip: str, prefixlen: int) -> Any:
    msg = ifaddrmsg()
    msg["family"] = socket.AF_INET
    msg["prefixlen"] = prefixlen
    msg["index"] = index
    msg["scope"] = 0  # RT_SCOPE_UNIVERSE
    msg["attrs"] = [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip)]
    return msg


def default_route(gateway: str, oif: int) -> Any:
    msg = rtmsg()
    msg["family"] = socket.AF_INET
    msg["dst_len"] = 0
    msg["table"] = 254  # RT_TABLE_MAIN
    msg["proto"] = 4  # RTPROT_STATIC, as `ip route add` sets
    msg["scope"] = 0  # RT_SCOPE_UNIVERSE
    msg["type"] = 1  # RTN_UNICAST
    msg["attrs"] = [("RTA_TABLE", 254), ("RTA_GATEWAY", gateway), ("RTA_OIF", oif)]
    return msg


def request(sock: socket.socket, batch: Sequence[Request], ignore: Sequence[int] = ()) -> None:
    """Send every message in one `send`, wait for all acks; raise the first error not in
    `ignore` (errno values that mean "already done", e.g. EEXIST for an idempotent add)."""
    data = bytearray()
    seqs: dict[int, int] = {}  # sequence number -> index in the batch
    for i, (msg, kind, flags) in enumerate(batch):
        seq = next(_SEQ) & 0xFFFFFFFF or next(_SEQ)  # a u32 on the wire
        seqs[seq] = i
        msg["header"]["type"] = kind
        msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | flags
        msg["header"]["sequence_number"] = seq
        msg.encode()
        data += msg.data
    sock.send(bytes(data))
    pending = set(seqs)
    failure: tuple[int, int] | None = None
    while pending:
        buf = sock.recv(1 << 16)
        off = 0
        while off + 16 <= len(buf):
            length, kind, _flags, seq, _pid = struct.unpack_from("=IHHII", buf, off)
            if kind == NLMSG_ERROR and seq in pending:
                (code,) = struct.unpack_from("=i", buf, off + 16)
                pending.discard(seq)
                if code and -code not in ignore and (failure is None or seqs[seq] < failure[0]):
                    failure = (seqs[seq], -code)
            off += max((length + 3) & ~3, 16)
    if failure is not None:
        index, code = failure
        msg, kind, _ = batch[index]
        raise NetlinkError(code, _describe(kind, msg))


def _describe(kind: int, msg: Any) -> str:
    names = {RTM_NEWLINK: "add/set link", RTM_DELLINK: "delete link", RTM_NEWADDR: "add address",
             RTM_NEWROUTE: "add route"}
    if kind in (RTM_NEWLINK, RTM_DELLINK):
        target = msg.get_attr("IFLA_IFNAME") or f"index {msg['index']}"
    elif kind == RTM_NEWADDR:
        target = msg.get_attr("IFA_LOCAL")
    else:
        target = f"via {msg.get_attr('RTA_GATEWAY')}"
    return f"{names.get(kind, kind)} {target}"


def delete_link(sock: socket.socket, ifname: str) -> bool:
    """Delete a link by name; False if it did not exist."""
    try:
        request(sock, [(link(ifname=ifname), RTM_DELLINK, 0)])
    except NetlinkError as e:
        if e.errno == errno.ENODEV:
            return False
        raise
    return True


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Block until `predicate()` is true, re-checking on every link event of the caller's
    netns (no polling interval); False on timeout."""
    with open_socket(RTMGRP_LINK) as events:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select([events], [], [], remaining)
            if ready:
                try:
                    while events.recv(1 << 16, socket.MSG_DONTWAIT):
                        pass
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as e:  # ENOBUFS: events were dropped; just re-check
                    if e.errno != errno.ENOBUFS:
                        raise
        return True
