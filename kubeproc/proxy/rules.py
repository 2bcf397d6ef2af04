"""The instance's nftables table as data, and the scripts that install it or move it (pure).

The layout follows kube-proxy's nftables mode (pkg/proxy/nftables/proxier.go and its README):
DNAT in `prerouting`/`output` through a verdict map keyed by `daddr . proto . dport`
(`service-ips`) and one by `proto . dport` for node-local addresses (`service-nodeports`); a
chain per service port that picks an endpoint with `numgen random` (after the ClientIP affinity
sets) and a chain per endpoint that DNATs; connections to ports without endpoints rejected from
`input`/`forward`/`output` before they could hang; hairpin and off-cluster traffic marked and
masqueraded in `postrouting`. Each Service contributes a `State`; `full_script` replaces the
whole table and `diff_script` moves it from one state to another, both one transaction.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass, field
from typing import Iterable

from kubeproc.proxy import ProxyConfig
from kubeproc.proxy.model import Endpoint, ServicePort

MASQ_MARK = "0x4000"  # kube-proxy's masquerade bit
SERVICE_IPS = "service-ips"
SERVICE_NODEPORTS = "service-nodeports"
NO_ENDPOINT_SERVICES = "no-endpoint-services"
NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports"
CLUSTER_IPS = "cluster-ips"
REJECT = "goto reject-chain"
DROP = "drop"


@dataclass
class State:
    """Chains (name → rules), dynamic sets (name → declaration) and the elements this state puts
    into the shared maps and sets (map → key → value; "" for a plain set)."""

    chains: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sets: dict[str, str] = field(default_factory=dict)
    elements: dict[str, dict[str, str]] = field(default_factory=dict)

    def add_element(self, container: str, key: str, value: str = "") -> None:
        self.elements.setdefault(container, {})[key] = value

    def merge(self, other: "State") -> None:
        self.chains.update(other.chains)
        self.sets.update(other.sets)
        for name, elems in other.elements.items():
            self.elements.setdefault(name, {}).update(elems)


@functools.lru_cache(maxsize=65536)
def _hash(text: str) -> str:
    # kube-proxy prefixes chain names with a short hash so they stay unique if ever truncated
    return base64.b32encode(hashlib.sha256(text.encode()).digest()[:5]).decode()


def service_chain(sp: ServicePort) -> str:
    return f"service-{_hash(sp.key)}-{sp.key}"


def external_chain(sp: ServicePort) -> str:
    return f"external-{_hash(sp.key)}-{sp.key}"


def local_chain(sp: ServicePort) -> str:
    return f"local-{_hash(sp.key)}-{sp.key}"


def endpoint_chain(sp: ServicePort, ep: Endpoint) -> str:
    tail = f"{sp.key}__{ep.ip}/{ep.port}"
    return f"endpoint-{_hash(tail)}-{tail}"


def affinity_set(sp: ServicePort, ep: Endpoint) -> str:
    # the timeout is part of the hash: a new timeout is a new set (a set's timeout is fixed)
    tail = f"{sp.key}__{ep.ip}/{ep.port}"
    return f"affinity-{_hash(f'{tail}/{sp.affinity_seconds}')}-{tail}"


def service_state(ports: Iterable[ServicePort], cfg: ProxyConfig) -> State:
    """What the ports of one Service put into the table."""
    st = State()
    for sp in ports:
        _add_port(st, sp, cfg)
    return st


def _add_port(st: State, sp: ServicePort, cfg: ProxyConfig) -> None:
    proto, vip_key = sp.protocol, f"{sp.cluster_ip} . {sp.protocol} . {sp.port}"
    st.add_element(CLUSTER_IPS, sp.cluster_ip)
    cluster = sp.cluster_endpoints()
    if cluster:
        chain = service_chain(sp)
        _add_balancer(st, sp, chain, cluster, ())
        st.add_element(SERVICE_IPS, vip_key, f"goto {chain}")
    else:
        # no usable endpoint: reject at once (drop when the Local policy found none locally)
        st.add_element(NO_ENDPOINT_SERVICES, vip_key, DROP if sp.internal_local and sp.endpoints else REJECT)
    if not (sp.node_port or sp.external_ips):
        return
    external = sp.external_endpoints()
    if not external:
        verdict = DROP if sp.external_local and sp.endpoints else REJECT
        if sp.node_port:
            st.add_element(NO_ENDPOINT_NODEPORTS, f"{proto} . {sp.node_port}", verdict)
        for ip in sp.external_ips:
            st.add_element(NO_ENDPOINT_SERVICES, f"{ip} . {proto} . {sp.port}", verdict)
        return
    if external == cluster:
        target = service_chain(sp)
    else:
        target = local_chain(sp)
        _add_balancer(st, sp, target, external, ())
    if sp.external_local:
        # externalTrafficPolicy Local keeps the client's address: no masquerade
        rules: tuple[str, ...] = (f"goto {target}",)
    else:
        rules = ("jump mark-for-masquerade", f"goto {target}")
    ext = external_chain(sp)
    st.chains[ext] = rules
    if sp.node_port:
        st.add_element(SERVICE_NODEPORTS, f"{proto} . {sp.node_port}", f"goto {ext}")
    for ip in sp.external_ips:
        st.add_element(SERVICE_IPS, f"{ip} . {proto} . {sp.port}", f"goto {ext}")


def _add_balancer(st: State, sp: ServicePort, chain: str, eps: tuple[Endpoint, ...],
                  first: tuple[str, ...]) -> None:
    """A chain that sends a connection to one of `eps`: to the endpoint its client used last while
    the affinity lasts, else one at random; and a chain per endpoint that DNATs to it."""
    rules = list(first)
    targets = []
    for ep in eps:
        ep_chain = endpoint_chain(sp, ep)
        targets.append(ep_chain)
        ep_rules = [f"ip saddr {ep.ip} jump mark-for-masquerade"]  # hairpin: a pod reaching itself
        if sp.affinity_seconds:
            aset = affinity_set(sp, ep)
            st.sets[aset] = f"type ipv4_addr; flags dynamic,timeout; timeout {sp.affinity_seconds}s;"
            rules.append(f"ip saddr @{aset} goto {ep_chain}")
            ep_rules.append(f"update @{aset} {{ ip saddr }}")
        ep_rules.append(f"meta l4proto {sp.protocol} dnat to {ep.ip}:{ep.port}")
        st.chains[ep_chain] = tuple(ep_rules)
    # Endpoint i of n is taken with probability 1/(n-i) once 0..i-1 were not: uniform overall.
    # (A `numgen ... vmap { }` would make an anonymous map per service: 3x slower to load.)
    for i, target in enumerate(targets):
        left = len(targets) - i
        rules.append(f"goto {target}" if left == 1 else f"numgen random mod {left} 0 goto {target}")
    st.chains[chain] = tuple(rules)


# ---- the fixed part of the table -----------------------------------------------------------

MAPS = {
    SERVICE_IPS: "type ipv4_addr . inet_proto . inet_service : verdict;",
    NO_ENDPOINT_SERVICES: "type ipv4_addr . inet_proto . inet_service : verdict;",
    SERVICE_NODEPORTS: "type inet_proto . inet_service : verdict;",
    NO_ENDPOINT_NODEPORTS: "type inet_proto . inet_service : verdict;",
}
SETS = {CLUSTER_IPS: "type ipv4_addr;"}
LOCAL_DST = "fib daddr type local ip daddr != 127.0.0.0/8"  # node addresses, not localhost


def base_chains(cfg: ProxyConfig) -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, base-chain declaration or "", rules) of the chains every table has."""
    return [
        ("mark-for-masquerade", "", (f"meta mark set meta mark or {MASQ_MARK}",)),
        ("masquerading", "", (f"meta mark & {MASQ_MARK} == 0 return",
                              f"meta mark set meta mark xor {MASQ_MARK}",
                              "masquerade fully-random")),
        ("reject-chain", "", ("reject",)),
        # proxier.go: traffic to a ClusterIP from outside the pod network is masqueraded so the
        # replies come back through this host to be un-DNATed (one rule, not one per service)
        ("services", "", (f"ip daddr @{CLUSTER_IPS} ip saddr != {cfg.pod_cidr} jump mark-for-masquerade",
                          f"ip daddr . meta l4proto . th dport vmap @{SERVICE_IPS}",
                          f"{LOCAL_DST} meta l4proto . th dport vmap @{SERVICE_NODEPORTS}")),
        ("service-endpoints-check", "", (f"ip daddr . meta l4proto . th dport vmap @{NO_ENDPOINT_SERVICES}",)),
        ("nodeport-endpoints-check", "", (f"{LOCAL_DST} meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}",)),
        # a ClusterIP on a port no Service defines: rejected; an unallocated one: dropped
        ("cluster-ips-check", "", (f"ip daddr @{CLUSTER_IPS} reject", f"ip daddr {cfg.service_cidr} drop")),
        ("nat-prerouting", "type nat hook prerouting priority dstnat; policy accept;", ("jump services",)),
        ("nat-output", "type nat hook output priority -100; policy accept;", ("jump services",)),
        ("nat-postrouting", "type nat hook postrouting priority srcnat; policy accept;", (
            "jump masquerading",
            *(() if cfg.bridge_nf else (
                # without br_netfilter a reply between two pods of the bridge skips the host's
                # conntrack and could not be un-DNATed: masquerade pod-to-Service traffic instead
                f"ct status dnat ip saddr {cfg.pod_cidr} ip daddr {cfg.pod_cidr} masquerade",)),
            # pods reach the outside world through the host's address
            f'ip saddr {cfg.pod_cidr} ip daddr != {cfg.pod_cidr} oifname != "{cfg.bridge}" masquerade fully-random',
        )),
        ("filter-input", "type filter hook input priority -110; policy accept;", (
            "ct state new jump nodeport-endpoints-check", "ct state new jump service-endpoints-check")),
        ("filter-forward", "type filter hook forward priority -110; policy accept;", (
            "ct state new jump service-endpoints-check", "ct state new jump cluster-ips-check")),
        ("filter-output", "type filter hook output priority -110; policy accept;", (
            "ct state new jump service-endpoints-check",)),
        # after the output DNAT (dstnat = -100): what is still addressed to a ClusterIP is unserved
        ("filter-output-post-dnat", "type filter hook output priority -90; policy accept;", (
            "ct state new jump cluster-ips-check",)),
    ]


def full_script(cfg: ProxyConfig, state: State) -> str:
    """Replace the whole table with `state` (one transaction: the table never appears empty)."""
    t = f"ip {cfg.table}"
    out = [f"add table {t}", f"delete table {t}",
           f'add table {t} {{ comment "kubeproc instance {cfg.instance}: Service proxy"; }}']
    for name, decl in {**MAPS, **SETS}.items():
        kind = "map" if name in MAPS else "set"
        out.append(f"add {kind} {t} {name} {{ {decl} }}")
    for name, decl in sorted(state.sets.items()):
        out.append(f"add set {t} {name} {{ {decl} }}")
    base = base_chains(cfg)
    for name, decl, _ in base:
        out.append(f"add chain {t} {name}" + (f" {{ {decl} }}" if decl else ""))
    for name in sorted(state.chains):
        out.append(f"add chain {t} {name}")
    for name, _, rules in base:
        out.extend(f"add rule {t} {name} {r}" for r in rules)
    for name in sorted(state.chains):
        out.extend(f"add rule {t} {name} {r}" for r in state.chains[name])
    for name, elems in sorted(state.elements.items()):
        out.extend(_elements("add", t, name, elems))
    return "\n".join(out) + "\n"


def diff_script(cfg: ProxyConfig, old: State, new: State) -> str:
    """Commands that turn the table from `old` into `new`; "" when nothing changes. Order
    matters inside the transaction: what a rule or element refers to exists before it, and a
    chain or set is deleted only after every reference to it is gone."""
    t = f"ip {cfg.table}"
    out = [f"add set {t} {n} {{ {d} }}" for n, d in sorted(new.sets.items()) if old.sets.get(n) != d and n not in old.sets]
    added = sorted(set(new.chains) - set(old.chains))
    changed = sorted(n for n in set(new.chains) & set(old.chains) if new.chains[n] != old.chains[n])
    removed = sorted(set(old.chains) - set(new.chains))
    out += [f"add chain {t} {n}" for n in added]
    # endpoint chains first: a changed service chain may jump to an added endpoint chain
    for n in sorted(added + changed, key=lambda c: not c.startswith("endpoint-")):
        if n in old.chains:
            out.append(f"flush chain {t} {n}")
        out.extend(f"add rule {t} {n} {r}" for r in new.chains[n])
    for name in sorted(set(old.elements) | set(new.elements)):
        before, after = old.elements.get(name, {}), new.elements.get(name, {})
        gone = {k: v for k, v in before.items() if after.get(k) != v}
        if gone:
            out.extend(_elements("delete", t, name, gone, keys_only=True))
        fresh = {k: v for k, v in after.items() if before.get(k) != v}
        if fresh:
            out.extend(_elements("add", t, name, fresh))
    out += [f"flush chain {t} {n}" for n in removed]
    out += [f"delete chain {t} {n}" for n in removed]
    out += [f"delete set {t} {n}" for n in sorted(set(old.sets) - set(new.sets))]
    return "\n".join(out) + "\n" if out else ""


def _elements(verb: str, t: str, name: str, elems: dict[str, str], keys_only: bool = False,
              chunk: int = 1000) -> list[str]:
    items = sorted(elems.items())
    out = []
    for i in range(0, len(items), chunk):
        part = items[i:i + chunk]
        body = ", ".join(k if keys_only or not v else f"{k} : {v}" for k, v in part)
        out.append(f"{verb} element {t} {name} {{ {body} }}")
    return out


def delete_script(cfg: ProxyConfig) -> str:
    """Remove the table whether or not it exists."""
    return f"add table ip {cfg.table}\ndelete table ip {cfg.table}\n"
