"""Stale UDP conntrack entries of Services: which ones (pure) and their removal (ctnetlink).

UDP has no connection to break: a client that keeps sending from one port keeps the conntrack
entry, and with it the endpoint the first packet was DNATed to, after that endpoint is gone (or
the entry made while the Service had no endpoint, which DNATed nothing). kube-proxy removes
them after each sync; this ports pkg/proxy/conntrack/cleanup.go CleanStaleEntries: an entry
whose original destination is a UDP Service's frontend (ClusterIP or external IP, and port), or
whose original destination port is its NodePort, and whose reply source is none of the
Service's serving endpoints, is deleted; Services without serving endpoints are left alone.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kubeproc.proxy.model import ServicePort
from pyroute2 import Conntrack
from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Flow:
    """What the rule looks at in one UDP conntrack entry (`entry`: the entry itself)."""

    orig_dst: str
    orig_dport: int
    reply_src: str
    entry: Any = None


def stale(flows: Iterable[Flow], ports: Iterable[ServicePort]) -> list[Flow]:
    by_frontend: dict[tuple[str, int], frozenset[str]] = {}
    by_node_port: dict[int, frozenset[str]] = {}
    for sp in ports:
        if sp.protocol != "udp" or not sp.serving_ips:
            continue  # only UDP; a Service without serving endpoints needs no cleaning
        for ip in (sp.cluster_ip, *sp.external_ips):
            by_frontend[(ip, sp.port)] = sp.serving_ips
        if sp.node_port:
            by_node_port[sp.node_port] = sp.serving_ips
    out = []
    for f in flows:
        ips = by_frontend.get((f.orig_dst, f.orig_dport))
        if ips is not None and f.reply_src not in ips:
            out.append(f)
            continue
        ips = by_node_port.get(f.orig_dport)
        if ips is not None and f.reply_src not in ips:
            out.append(f)
    return out


def signature(ports: Iterable[ServicePort]) -> frozenset[tuple[Any, ...]]:
    """What the cleanup depends on: a sync that leaves it unchanged has nothing new to clean."""
    return frozenset((sp.cluster_ip, sp.external_ips, sp.port, sp.node_port, sp.serving_ips)
                     for sp in ports if sp.protocol == "udp" and sp.serving_ips)


class Cleaner:
    """Deletes the stale entries of the calling thread's netns (blocking: call it in a thread)."""

    def clean(self, ports: Sequence[ServicePort]) -> int:
        if not signature(ports):
            return 0
        ct = Conntrack()
        try:
            flows = [Flow(e.tuple_orig.daddr, int(e.tuple_orig.dport or 0), e.tuple_reply.saddr, e)
                     for e in ct.dump_entries(tuple_orig=NFCTAttrTuple(proto=socket.IPPROTO_UDP))
                     if e.tuple_orig.proto == socket.IPPROTO_UDP]
            gone = 0
            for f in stale(flows, ports):
                try:
                    ct.delete(f.entry)
                    gone += 1
                except Exception as e:  # NetlinkError ENOENT: it expired meanwhile
                    log.debug("conntrack entry %s: %s", f.entry, e)
            return gone
        finally:
            ct.close()
