"""Answer DNS queries from a records.Table (pure, no I/O).

Owns the response semantics of CoreDNS's `kubernetes` plugin (NXDOMAIN vs NODATA,
SOA in authority, SRV additionals) and the hot path: the question is parsed by
hand, encoded answers are cached per table keyed by (lowercased qname, qtype,
qclass) and only the ID / RD bit / question case are patched per query.
Answers are built with dnslib off the hot path (first query for a key).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Iterable, Mapping

from dnslib import AAAA as _AAAA, A as _A, CNAME as _CNAME, PTR as _PTR, SOA as _SOA
from dnslib import SRV as _SRV, TXT as _TXT, DNSHeader, DNSLabel, DNSQuestion, DNSRecord, RR

from kubeproc.dns import records as r

NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3
CLASS_IN = 1
CACHE_LIMIT = 50_000  # random in-zone names would otherwise grow the cache without bound
_FORWARD = b""  # cached marker: "not ours, forward"
_REVERSE = ("in-addr.arpa.", "ip6.arpa.")


def parse_question(query: bytes) -> int:
    """Offset just past the single question (qname+qtype+qclass), or -1 if not a plain query."""
    n = len(query)
    if n < 17 or query[2] & 0xF8 or query[4:6] != b"\x00\x01":  # QR set or opcode != QUERY
        return -1
    i = 12
    while i < n:
        length = query[i]
        if length == 0:
            return i + 5 if i + 5 <= n else -1
        if length & 0xC0:  # no compression in a question
            return -1
        i += length + 1
    return -1


def _patch(query: bytes, end: int, cached: bytes) -> bytes:
    # Copy ID, RD bit and the question as asked (0x20 case randomisation survives).
    return query[:2] + bytes((cached[2] & 0xFE | query[2] & 0x01,)) + cached[3:12] + query[12:end] + cached[end:]


def answer(query: bytes, table: r.Table, ttl: int) -> bytes | None:
    """Encoded response for `query`, or None when the name is not ours (forward it)."""
    end = parse_question(query)
    if end < 0:
        return None
    key = query[12:end - 4].lower() + query[end - 4:end]
    cache = table.cache
    hit = cache.get((key, ttl))
    if hit is None:
        hit = _encode(key, end, table, ttl)
        if len(cache) >= CACHE_LIMIT:
            cache.clear()
        cache[(key, ttl)] = hit
    if hit is _FORWARD or not hit:
        return None
    return _patch(query, end, hit)


def truncated(response: bytes) -> bytes:
    """The UDP form of an over-long response: header with TC set and the question only."""
    end = parse_question(bytes((response[0], response[1], 0)) + response[3:])
    end = end if end > 0 else 12
    return response[:2] + bytes((response[2] | 0x02, response[3])) + b"\x00\x01\x00\x00\x00\x00\x00\x00" + response[12:end]


def _labels(wire_name: bytes) -> list[bytes]:
    out, i = [], 0
    while wire_name[i]:
        out.append(wire_name[i + 1:i + 1 + wire_name[i]])
        i += wire_name[i] + 1
    return out


def _encode(key: bytes, end: int, table: r.Table, ttl: int) -> bytes:
    labels = _labels(key[:-4])
    qtype = int.from_bytes(key[-4:-2], "big")
    qclass = int.from_bytes(key[-2:], "big")
    name = ".".join(lab.decode("latin-1") for lab in labels) + "."
    zone = table.zone
    in_zone = name == zone or name.endswith("." + zone)
    if not in_zone:
        if qclass == CLASS_IN and qtype == r.PTR and name in table.ptr:
            return _build(labels, qtype, qclass, NOERROR, [(r.PTR, t) for t in table.ptr[name]], [], table, ttl, end)
        # Unknown reverse names fall through to the upstream (CoreDNS `fallthrough in-addr.arpa ip6.arpa`).
        return _FORWARD
    if qclass != CLASS_IN:
        return _FORWARD
    rrsets = table.names.get(name)
    if rrsets is None:
        rrsets = _pod_rrsets(name, table)
    if rrsets is None or (name in table.strict and qtype not in rrsets):
        return _build(labels, qtype, qclass, NXDOMAIN, [], [], table, ttl, end)
    answers: list[tuple[int, Any]] = []
    extra: list[tuple[str, int, Any]] = []
    if qtype in rrsets:
        answers = [(qtype, rd) for rd in rrsets[qtype]]
    elif qtype in (r.A, r.AAAA) and r.CNAME in rrsets:
        answers = [(r.CNAME, rd) for rd in rrsets[r.CNAME]]  # §2.5 ExternalName
    elif qtype == r.SOA and name == zone:
        answers = [(r.SOA, None)]
    if qtype == r.SRV:
        # §2.3.2 / §2.4.2: "The Additional section of the response may include the A records"
        for _, _, _, target in rrsets.get(r.SRV, ()):
            for t in (r.A, r.AAAA):
                extra += [(target, t, ip) for ip in table.names.get(target, {}).get(t, ())]
    return _build(labels, qtype, qclass, NOERROR, answers, extra, table, ttl, end)


def _pod_rrsets(name: str, table: r.Table) -> r.RRSets | None:
    """Spec §2.6 (deprecated, still required): <a>-<b>-<c>-<d>.<ns>.pod.<zone> A <a>.<b>.<c>.<d>."""
    suffix = ".pod." + table.zone
    if not name.endswith(suffix):
        return None
    parts = name[: -len(suffix)].split(".")
    if len(parts) != 2 or parts[1] not in table.namespaces:
        return None
    dashed = parts[0]
    # plugin/kubernetes/kubernetes.go findPods (pods insecure)
    text = dashed.replace("-", ".") if dashed.count("-") == 3 and "--" not in dashed else dashed.replace("-", ":")
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return {r.A if ip.version == 4 else r.AAAA: (str(ip),)}


def _rdata(rtype: int, rd: Any, table: r.Table, ttl: int) -> Any:
    if rtype == r.A:
        return _A(rd)
    if rtype == r.AAAA:
        return _AAAA(rd)
    if rtype == r.CNAME:
        return _CNAME(rd)
    if rtype == r.PTR:
        return _PTR(rd)
    if rtype == r.TXT:
        return _TXT(rd)
    if rtype == r.SRV:
        prio, weight, port, target = rd
        return _SRV(priority=prio, weight=weight, port=port, target=target)
    return _soa(table, ttl)


def _soa(table: r.Table, ttl: int) -> Any:
    # Shape of CoreDNS's SOA for the cluster zone (plugin/backend_lookup.go SOA).
    return _SOA(mname="ns.dns." + table.zone, rname="hostmaster." + table.zone,
                times=(table.serial, 7200, 1800, 86400, ttl))


def _build(labels: list[bytes], qtype: int, qclass: int, rcode: int, answers: list[tuple[int, Any]],
           extra: Iterable[tuple[str, int, Any]], table: r.Table, ttl: int, end: int) -> bytes:
    qname = DNSLabel(labels)
    rec = DNSRecord(DNSHeader(id=0, qr=1, aa=1, ra=0, rcode=rcode), q=DNSQuestion(qname, qtype, qclass))
    for rtype, rd in answers:
        rttl = r.VERSION_TTL if rtype == r.TXT else ttl
        rec.add_answer(RR(qname, rtype, qclass, rttl, _rdata(rtype, rd, table, ttl)))
    for target, rtype, rd in extra:
        rec.add_ar(RR(target, rtype, qclass, ttl, _rdata(rtype, rd, table, ttl)))
    if not answers:
        rec.add_auth(RR(table.zone, r.SOA, qclass, ttl, _soa(table, ttl)))
    return bytes(rec.pack())


def cname_target(query: bytes, table: r.Table) -> str | None:
    """For an A/AAAA query on an ExternalName name, the CNAME target to chase (§2.5), else None."""
    end = parse_question(query)
    if end < 0 or int.from_bytes(query[end - 4:end - 2], "big") not in (r.A, r.AAAA):
        return None
    name = ".".join(lab.decode("latin-1") for lab in _labels(query[12:end - 4].lower())) + "."
    targets = table.names.get(name, {}).get(r.CNAME)
    return targets[0] if targets else None


class Resolver:
    """Holds the current table; `update` swaps it atomically (one reference assignment)."""

    def __init__(self, zone: str = "cluster.local", ttl: int = 30) -> None:
        self.zone = zone
        self.ttl = ttl
        self._serial = 1
        self.table = r.build([], [], zone, serial=self._serial)
        self.has_cnames = False

    def update(self, services: Iterable[Mapping[str, Any]], slices: Iterable[Mapping[str, Any]],
               namespaces: Iterable[str] | None = None) -> None:
        self._serial += 1
        table = r.build(services, slices, self.zone, namespaces, serial=self._serial)
        self.has_cnames = any(r.CNAME in rrsets for rrsets in table.names.values())
        self.table = table

    def answer(self, query: bytes) -> bytes | None:
        return answer(query, self.table, self.ttl)

    def cname_target(self, query: bytes) -> str | None:
        return cname_target(query, self.table) if self.has_cnames else None
