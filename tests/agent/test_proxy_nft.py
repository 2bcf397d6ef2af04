"""Partial syncs converge to what a full sync makes, in the real kernel (root, nftables).

A private table gets `full_script` of a first state, then `diff_script(old, new)` for each next
state (as the proxier's partial syncs do); after every step its `nft list table` must equal
that of a fresh table loaded with `full_script(new)` (table name normalised). Both tables are
removed in a finally.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from kubeproc.proxy import ProxyConfig
from kubeproc.proxy.model import Endpoint, ServicePort
from kubeproc.proxy.nft import Nft
from kubeproc.proxy.rules import State, delete_script, diff_script, full_script, service_state

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="loads nftables tables: run as root"),
    pytest.mark.skipif(shutil.which("nft") is None, reason="nft (Debian package nftables) not installed"),
]


def config() -> ProxyConfig:
    return ProxyConfig(instance="t" + uuid.uuid4().hex[:6], pod_cidr="10.250.128.0/24", bridge="kpt0",
                       service_cidr="10.251.0.0/16", node_name="n1")


def ep(last: int, local: bool = True) -> Endpoint:
    return Endpoint(f"10.250.128.{last}", 8080, local)


def sp(name: str, ip: str, *eps: Endpoint, **kw: object) -> ServicePort:
    base: dict[str, object] = dict(namespace="default", name=name, port_name="http", protocol="tcp",
                                   cluster_ip=ip, port=80, endpoints=eps)
    base.update(kw)
    return ServicePort(**base)  # type: ignore[arg-type]


# Each step: the service ports of every Service (name → ports).
STEPS: list[dict[str, list[ServicePort]]] = [
    {},
    {"a": [sp("a", "10.251.0.10", ep(5), ep(6), node_port=30080)],
     "b": [sp("b", "10.251.0.11")],
     "c": [sp("c", "10.251.0.12", ep(7), affinity_seconds=60, external_ips=("192.0.2.7",))]},
    # an endpoint added, a first endpoint, an affinity timeout changed, a UDP port added
    {"a": [sp("a", "10.251.0.10", ep(5), ep(6), ep(8), node_port=30080)],
     "b": [sp("b", "10.251.0.11", ep(9))],
     "c": [sp("c", "10.251.0.12", ep(7), affinity_seconds=120, external_ips=("192.0.2.7",)),
           sp("c", "10.251.0.12", ep(7), port_name="dns", protocol="udp", port=53, affinity_seconds=120)]},
    # endpoints gone, Local policies with remote-only and mixed endpoints, a Service removed
    {"a": [sp("a", "10.251.0.10", node_port=30080)],
     "b": [sp("b", "10.251.0.11", ep(9, local=False), node_port=30081, external_local=True,
              internal_local=True)],
     "d": [sp("d", "10.251.0.13", ep(10), ep(11, local=False), node_port=30082, external_local=True,
              affinity_seconds=30)]},
    # endpoints swapped for others, node port moved
    {"a": [sp("a", "10.251.0.10", ep(12), node_port=30090)],
     "d": [sp("d", "10.251.0.13", ep(11, local=False), ep(13), node_port=30082, external_local=True,
              affinity_seconds=30)]},
    {},
]


def state_of(services: dict[str, list[ServicePort]], cfg: ProxyConfig) -> State:
    whole = State()
    for ports in services.values():
        whole.merge(service_state(ports, cfg))
    return whole


def listing(cfg: ProxyConfig) -> dict[str, tuple[tuple[str, ...], frozenset[str]]]:
    """The table as `nft list table` prints it, normalised: each chain, set and map (by header
    line) → (its other lines in order, its elements). The kernel lists chains in creation order
    and elements in hash order, neither of which means anything."""
    out = subprocess.run(["nft", "list", "table", "ip", cfg.table], check=True, capture_output=True,
                         text=True).stdout.replace(cfg.instance, "<instance>")
    blocks: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {}
    header, body = "", []
    for line in out.splitlines():
        if line.startswith("\t") and not line.startswith("\t\t") and line.endswith("{"):
            header, body = line.strip(), []
        elif line == "\t}":
            text = "\n".join(body)
            elements: frozenset[str] = frozenset()
            if "elements = {" in text:
                before, _, rest = text.partition("elements = {")
                inside, _, after = rest.partition("}")
                elements = frozenset(e.strip() for e in inside.split(",") if e.strip())
                text = before + after
            blocks[header] = (tuple(x.strip() for x in text.splitlines() if x.strip()), elements)
            header = ""
        elif header:
            body.append(line)
        elif line.strip() and line.strip() != "}":
            blocks.setdefault("table", ((), frozenset()))
            blocks["table"] = (blocks["table"][0] + (line.strip(),), frozenset())
    return blocks


@pytest.fixture
def nft() -> Iterator[Nft]:
    n = Nft()
    yield n
    n.close()


def test_diffs_converge_to_full_sync(nft: Nft) -> None:
    partial, full = config(), config()
    try:
        prev = state_of(STEPS[0], partial)
        nft.run(full_script(partial, prev))
        for i, services in enumerate(STEPS[1:], 1):
            new = state_of(services, partial)
            script = diff_script(partial, prev, new)
            assert script, f"step {i} changes something"
            before = listing(partial)
            nft.run(script)
            nft.run(full_script(full, new))
            assert listing(partial) == listing(full) != before, f"step {i}"
            prev = new
        assert diff_script(partial, prev, state_of(STEPS[-1], partial)) == ""
    finally:
        nft.run(delete_script(partial))
        nft.run(delete_script(full))


def test_per_service_diffs_converge(nft: Nft) -> None:
    """As the proxier does: one diff per changed Service, each its own transaction."""
    partial, full = config(), config()
    try:
        applied: dict[str, State] = {}
        nft.run(full_script(partial, State()))
        for i, services in enumerate(STEPS[1:], 1):
            for name in sorted(set(applied) | set(services)):
                new = service_state(services.get(name, []), partial)
                script = diff_script(partial, applied.get(name, State()), new)
                if script:
                    nft.run(script)
                applied[name] = new
            nft.run(full_script(full, state_of(services, full)))
            assert listing(partial) == listing(full), f"step {i}"
    finally:
        nft.run(delete_script(partial))
        nft.run(delete_script(full))


def test_full_script_replaces_a_table_atomically(nft: Nft) -> None:
    cfg = config()
    try:
        nft.run(full_script(cfg, state_of(STEPS[2], cfg)))
        nft.run(full_script(cfg, state_of(STEPS[1], cfg)))
        first = listing(cfg)
        nft.run(delete_script(cfg))
        nft.run(full_script(cfg, state_of(STEPS[1], cfg)))
        assert listing(cfg) == first
        rules = {line for lines, _ in first.values() for line in lines}
        assert any(r.startswith("numgen random mod 2 0 goto endpoint-") for r in rules)
        assert "timeout 1m" in rules
    finally:
        nft.run(delete_script(cfg))
    assert subprocess.run(["nft", "list", "table", "ip", cfg.table], capture_output=True).returncode != 0
