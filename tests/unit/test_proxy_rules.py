"""kubeproc.proxy.rules: what one Service's ports put into the table (`service_state`, after
pkg/proxy/nftables/proxier.go syncProxyRules) and the partial-sync scripts (`diff_script`),
including the order of commands inside one transaction.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubeproc.proxy import ProxyConfig
from kubeproc.proxy.model import Endpoint, ServicePort
from kubeproc.proxy.rules import (CLUSTER_IPS, DROP, NO_ENDPOINT_NODEPORTS, NO_ENDPOINT_SERVICES, REJECT,
                                  SERVICE_IPS, SERVICE_NODEPORTS, State, affinity_set, diff_script,
                                  endpoint_chain, external_chain, full_script, local_chain, service_chain,
                                  service_state)

CFG = ProxyConfig(instance="t0", pod_cidr="10.250.128.0/24", bridge="kpt0",
                  service_cidr="10.251.0.0/16", node_name="n1")
T = "ip kubeproc-t0"
E1, E2, E3 = (Endpoint("10.250.128.5", 8080), Endpoint("10.250.128.6", 8080),
              Endpoint("10.250.128.7", 8080, local=False))


def port(*eps: Endpoint, **kw: Any) -> ServicePort:
    base: dict[str, Any] = dict(namespace="default", name="web", port_name="http", protocol="tcp",
                                cluster_ip="10.251.0.10", port=80, endpoints=eps)
    base.update(kw)
    return ServicePort(**base)


VIP = "10.251.0.10 . tcp . 80"


# ---- the elements a Service puts in the shared maps and sets -----------------------------------

def sc(sp: ServicePort) -> str:
    return f"goto {service_chain(sp)}"


def xc(sp: ServicePort) -> str:
    return f"goto {external_chain(sp)}"


CASES: list[tuple[str, ServicePort, dict[str, dict[str, str]]]] = [
    ("no-endpoints-reject", port(), {CLUSTER_IPS: {"10.251.0.10": ""}, NO_ENDPOINT_SERVICES: {VIP: REJECT}}),
    ("endpoints-service-ips", port(E1), {CLUSTER_IPS: {"10.251.0.10": ""}, SERVICE_IPS: {VIP: sc(port(E1))}}),
    # internalTrafficPolicy Local with endpoints only on other nodes: dropped, not rejected
    ("internal-local-none-here-drop", port(E3, internal_local=True),
     {CLUSTER_IPS: {"10.251.0.10": ""}, NO_ENDPOINT_SERVICES: {VIP: DROP}}),
    ("internal-local-no-endpoints-reject", port(internal_local=True),
     {CLUSTER_IPS: {"10.251.0.10": ""}, NO_ENDPOINT_SERVICES: {VIP: REJECT}}),
    ("nodeport", port(E1, node_port=30080),
     {CLUSTER_IPS: {"10.251.0.10": ""}, SERVICE_IPS: {VIP: sc(port(E1))},
      SERVICE_NODEPORTS: {"tcp . 30080": xc(port(E1))}}),
    ("nodeport-no-endpoints-reject", port(node_port=30080),
     {CLUSTER_IPS: {"10.251.0.10": ""}, NO_ENDPOINT_SERVICES: {VIP: REJECT},
      NO_ENDPOINT_NODEPORTS: {"tcp . 30080": REJECT}}),
    # externalTrafficPolicy Local with no local endpoint: external traffic dropped, cluster served
    ("external-local-none-here-drop", port(E3, node_port=30080, external_local=True),
     {CLUSTER_IPS: {"10.251.0.10": ""}, SERVICE_IPS: {VIP: sc(port(E3))},
      NO_ENDPOINT_NODEPORTS: {"tcp . 30080": DROP}}),
    ("external-ips", port(E1, external_ips=("192.0.2.7",)),
     {CLUSTER_IPS: {"10.251.0.10": ""},
      SERVICE_IPS: {VIP: sc(port(E1)), "192.0.2.7 . tcp . 80": xc(port(E1))}}),
    ("external-ips-no-endpoints", port(external_ips=("192.0.2.7",)),
     {CLUSTER_IPS: {"10.251.0.10": ""},
      NO_ENDPOINT_SERVICES: {VIP: REJECT, "192.0.2.7 . tcp . 80": REJECT}}),
    ("udp", port(E1, protocol="udp", node_port=30053),
     {CLUSTER_IPS: {"10.251.0.10": ""}, SERVICE_IPS: {"10.251.0.10 . udp . 80": sc(port(E1, protocol="udp"))},
      SERVICE_NODEPORTS: {"udp . 30053": xc(port(E1, protocol="udp"))}}),
]


@pytest.mark.parametrize("sp,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_elements(sp: ServicePort, expected: dict[str, dict[str, str]]) -> None:
    assert service_state([sp], CFG).elements == expected


# ---- chains --------------------------------------------------------------------------------

def ep_rules(sp: ServicePort, e: Endpoint, proto: str = "tcp") -> tuple[str, ...]:
    return (f"ip saddr {e.ip} jump mark-for-masquerade",  # hairpin
            *((f"update @{affinity_set(sp, e)} {{ ip saddr }}",) if sp.affinity_seconds else ()),
            f"meta l4proto {proto} dnat to {e.ip}:{e.port}")


def test_no_endpoints_no_chains() -> None:
    st = service_state([port(node_port=30080, external_ips=("192.0.2.7",))], CFG)
    assert (st.chains, st.sets) == ({}, {})


@pytest.mark.parametrize("eps,cascade", [
    ((E1,), ["goto {0}"]),
    ((E1, E2), ["numgen random mod 2 0 goto {0}", "goto {1}"]),
    ((E1, E2, E3), ["numgen random mod 3 0 goto {0}", "numgen random mod 2 0 goto {1}", "goto {2}"]),
], ids=["one-endpoint-plain-goto", "two-endpoints-half", "three-endpoints-third-then-half"])
def test_numgen_cascade_and_endpoint_chains(eps: tuple[Endpoint, ...], cascade: list[str]) -> None:
    sp = port(*eps)
    st = service_state([sp], CFG)
    names = [endpoint_chain(sp, e) for e in eps]
    assert st.chains[service_chain(sp)] == tuple(r.format(*names) for r in cascade)
    assert {n: st.chains[n] for n in names} == {endpoint_chain(sp, e): ep_rules(sp, e) for e in eps}
    assert set(st.chains) == {service_chain(sp), *names}
    assert st.sets == {}


def test_udp_dnat_rule() -> None:
    sp = port(E1, protocol="udp")
    assert service_state([sp], CFG).chains[endpoint_chain(sp, E1)][-1] == "meta l4proto udp dnat to 10.250.128.5:8080"


def test_affinity_sets_and_update() -> None:
    sp = port(E1, E2, affinity_seconds=60)
    st = service_state([sp], CFG)
    a1, a2 = affinity_set(sp, E1), affinity_set(sp, E2)
    c1, c2 = endpoint_chain(sp, E1), endpoint_chain(sp, E2)
    assert st.sets == {a1: "type ipv4_addr; flags dynamic,timeout; timeout 60s;",
                       a2: "type ipv4_addr; flags dynamic,timeout; timeout 60s;"}
    # the affinity lookups come before the random choice
    assert st.chains[service_chain(sp)] == (f"ip saddr @{a1} goto {c1}", f"ip saddr @{a2} goto {c2}",
                                            f"numgen random mod 2 0 goto {c1}", f"goto {c2}")
    assert st.chains[c1] == ("ip saddr 10.250.128.5 jump mark-for-masquerade",
                             f"update @{a1} {{ ip saddr }}", "meta l4proto tcp dnat to 10.250.128.5:8080")


def test_affinity_set_name_follows_timeout() -> None:
    # a set's timeout cannot change: a new timeout must be a new set
    assert affinity_set(port(E1, affinity_seconds=60), E1) != affinity_set(port(E1, affinity_seconds=61), E1)
    assert affinity_set(port(E1, affinity_seconds=60), E1) == affinity_set(port(E1, E2, affinity_seconds=60), E1)


@pytest.mark.parametrize("sp,ext_rules,balancer", [
    (port(E1, node_port=30080), ("jump mark-for-masquerade", "goto {svc}"), None),
    (port(E1, node_port=30080, external_local=True), ("goto {svc}",), None),
    # Local with endpoints on other nodes too: its own balancer over the local ones only
    (port(E1, E3, node_port=30080, external_local=True), ("goto {local}",), ("goto {e1}",)),
    (port(E1, external_ips=("192.0.2.7",)), ("jump mark-for-masquerade", "goto {svc}"), None),
], ids=["cluster-policy-masquerades", "local-keeps-client-ip", "local-subset-own-chain", "external-ip"])
def test_external_chain(sp: ServicePort, ext_rules: tuple[str, ...], balancer: tuple[str, ...] | None) -> None:
    st = service_state([sp], CFG)
    names = {"svc": service_chain(sp), "local": local_chain(sp), "e1": endpoint_chain(sp, E1)}
    assert st.chains[external_chain(sp)] == tuple(r.format(**names) for r in ext_rules)
    if balancer is None:
        assert local_chain(sp) not in st.chains
    else:
        assert st.chains[local_chain(sp)] == tuple(r.format(**names) for r in balancer)
        # the cluster side still balances over every endpoint
        assert len(st.chains[service_chain(sp)]) == len(sp.endpoints)


def test_two_ports_of_one_service() -> None:
    a, b = port(E1), port(E1, port_name="https", port=443)
    st = service_state([a, b], CFG)
    assert st.elements[SERVICE_IPS] == {VIP: sc(a), "10.251.0.10 . tcp . 443": sc(b)}
    assert service_chain(a) != service_chain(b) and endpoint_chain(a, E1) != endpoint_chain(b, E1)
    assert len(st.chains) == 4


# ---- diff_script -------------------------------------------------------------------------

def lines(script: str) -> list[str]:
    return script.splitlines()


def index(script_lines: list[str], prefix: str) -> int:
    return next(i for i, line in enumerate(script_lines) if line.startswith(prefix))


def test_diff_nothing_changed() -> None:
    a = service_state([port(E1, E2, affinity_seconds=60, node_port=30080)], CFG)
    b = service_state([port(E1, E2, affinity_seconds=60, node_port=30080)], CFG)
    assert diff_script(CFG, a, b) == ""
    assert diff_script(CFG, State(), State()) == ""


def test_diff_endpoint_added() -> None:
    old, new = port(E1), port(E1, E2)
    got = lines(diff_script(CFG, service_state([old], CFG), service_state([new], CFG)))
    svc, e2 = service_chain(new), endpoint_chain(new, E2)
    assert got == [
        f"add chain {T} {e2}",
        f"add rule {T} {e2} ip saddr 10.250.128.6 jump mark-for-masquerade",
        f"add rule {T} {e2} meta l4proto tcp dnat to 10.250.128.6:8080",
        f"flush chain {T} {svc}",
        f"add rule {T} {svc} numgen random mod 2 0 goto {endpoint_chain(new, E1)}",
        f"add rule {T} {svc} goto {e2}",
    ]


def test_diff_endpoint_removed() -> None:
    old, new = port(E1, E2), port(E1)
    got = lines(diff_script(CFG, service_state([old], CFG), service_state([new], CFG)))
    svc, e2 = service_chain(new), endpoint_chain(old, E2)
    assert got == [
        f"flush chain {T} {svc}",
        f"add rule {T} {svc} goto {endpoint_chain(new, E1)}",
        f"flush chain {T} {e2}",
        f"delete chain {T} {e2}",
    ]


def test_diff_first_endpoint_moves_service_out_of_no_endpoints() -> None:
    old, new = port(), port(E1)
    got = lines(diff_script(CFG, service_state([old], CFG), service_state([new], CFG)))
    assert f"delete element {T} {NO_ENDPOINT_SERVICES} {{ {VIP} }}" in got
    add = f"add element {T} {SERVICE_IPS} {{ {VIP} : goto {service_chain(new)} }}"
    assert add in got
    # the element refers to the chain: the chain and its rules come first
    assert index(got, f"add chain {T} {service_chain(new)}") < got.index(add)
    assert index(got, f"add rule {T} {service_chain(new)}") < got.index(add)
    assert not any("cluster-ips" in line for line in got)  # unchanged element left alone


def test_diff_service_removed() -> None:
    sp = port(E1, E2, affinity_seconds=60, node_port=30080)
    old = service_state([sp], CFG)
    got = lines(diff_script(CFG, old, State()))
    chains = sorted(old.chains)
    assert got[:3] == [f"delete element {T} {CLUSTER_IPS} {{ 10.251.0.10 }}",
                       f"delete element {T} {SERVICE_IPS} {{ {VIP} }}",
                       f"delete element {T} {SERVICE_NODEPORTS} {{ tcp . 30080 }}"]
    # every chain flushed before any is deleted (they refer to each other), sets deleted last
    assert got[3:] == ([f"flush chain {T} {c}" for c in chains] + [f"delete chain {T} {c}" for c in chains]
                       + [f"delete set {T} {s}" for s in sorted(old.sets)])
    assert len(chains) == 4 and len(old.sets) == 2


def test_diff_affinity_timeout_change() -> None:
    old, new = port(E1, affinity_seconds=60), port(E1, affinity_seconds=120)
    got = lines(diff_script(CFG, service_state([old], CFG), service_state([new], CFG)))
    a_old, a_new = affinity_set(old, E1), affinity_set(new, E1)
    assert got[0] == f"add set {T} {a_new} {{ type ipv4_addr; flags dynamic,timeout; timeout 120s; }}"
    assert got[-1] == f"delete set {T} {a_old}"
    body = "\n".join(got[1:-1])
    assert f"@{a_new}" in body and f"@{a_old}" not in body
    # both the endpoint chain (update @set) and the service chain (lookup) were rewritten
    assert f"flush chain {T} {endpoint_chain(new, E1)}" in got
    assert f"flush chain {T} {service_chain(new)}" in got


def test_diff_element_value_changed_is_deleted_then_added() -> None:
    # the Service gets its first endpoint through externalTrafficPolicy: the nodeport moves maps
    old = service_state([port(E3, node_port=30080, external_local=True)], CFG)
    new = service_state([port(E1, E3, node_port=30080, external_local=True)], CFG)
    got = lines(diff_script(CFG, old, new))
    d = got.index(f"delete element {T} {NO_ENDPOINT_NODEPORTS} {{ tcp . 30080 }}")
    a = got.index(f"add element {T} {SERVICE_NODEPORTS} {{ tcp . 30080 : goto {external_chain(port())} }}")
    assert d < a
    assert index(got, f"add rule {T} {external_chain(port())}") < a


def test_diff_endpoint_chains_before_service_chains() -> None:
    # a changed service chain jumps to added endpoint chains: those must have rules first
    old = service_state([port(E1)], CFG)
    new = service_state([port(E2, E3)], CFG)
    got = lines(diff_script(CFG, old, new))
    first_service = index(got, f"flush chain {T} {service_chain(port())}")
    for e in (E2, E3):
        assert index(got, f"add rule {T} {endpoint_chain(port(), e)}") < first_service
    assert got[-2:] == [f"flush chain {T} {endpoint_chain(port(), E1)}",
                        f"delete chain {T} {endpoint_chain(port(), E1)}"]


# ---- full_script -------------------------------------------------------------------------

def test_full_script_declares_before_use() -> None:
    st = service_state([port(E1, E2, affinity_seconds=60, node_port=30080, external_ips=("192.0.2.7",))], CFG)
    got = lines(full_script(CFG, st))
    assert got[:2] == [f"add table {T}", f"delete table {T}"]
    for name in st.chains:
        assert index(got, f"add chain {T} {name}") < index(got, f"add rule {T} {name} ")
    for name in st.sets:
        assert index(got, f"add set {T} {name} ") < index(got, "add rule")
    first_element = index(got, "add element")
    assert all(not line.startswith(("add rule", "add chain")) for line in got[first_element:])
    assert f"add element {T} {SERVICE_IPS} {{ {VIP} : goto {service_chain(port())}, " \
           f"192.0.2.7 . tcp . 80 : goto {external_chain(port())} }}" in got
    assert f"add rule {T} services ip daddr @cluster-ips ip saddr != 10.250.128.0/24 jump mark-for-masquerade" in got
