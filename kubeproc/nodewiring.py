"""Wiring of the node half of an instance: the agent, its Node and Lease, and the scheduler.

Started by `server.Instance` unless the instance runs the API alone (`--no-agent`).
Refuses with one sentence (agent/preflight.py) when the machine cannot run pods.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from kubeproc.agent import backoff as bo
from kubeproc.agent.agent import Agent
from kubeproc.agent.context import AgentConfig
from kubeproc.agent.heartbeat import NodeHeartbeat
from kubeproc.agent.network import NetworkConfig
from kubeproc.agent.network.linux import LinuxNetwork
from kubeproc.agent.node import machine_info
from kubeproc.agent.nsholder import MonitorHolder
from kubeproc.agent import dynmods, podns, preflight
from kubeproc.agent.runtime.runc import RuncRuntime
from kubeproc.agent.streams import AgentStreams
from kubeproc.apiserver.discovery import version_info
from kubeproc.client.local import LocalClient
from kubeproc.controllers.scheduler.reconciler import Scheduler
from kubeproc.dns import endpoints as dns_endpoints
from kubeproc.dns.feed import ClusterDNS
from kubeproc.machinery.events import EventRecorder
from kubeproc.proxy import ProxyConfig, hostnet
from kubeproc.proxy.nft import Nft, NftError
from kubeproc.proxy.proxier import ServiceProxy
from kubeproc.registry.registry import Registry

log = logging.getLogger(__name__)


def host_ip() -> str:
    """The address of the interface of the default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


@dataclass
class NodeParts:
    agent: Agent
    parts: list[Any]  # components with `run()`: heartbeat, agent, scheduler, DNS, proxy
    streams: AgentStreams  # the node's PodStreams (log/exec/attach/portforward)
    dns: ClusterDNS
    proxy: ServiceProxy
    cluster_dns: str  # the address pods' resolv.conf names

    async def shutdown(self) -> None:
        """Stop every pod, then remove the proxy's table; the bridge (and the service route on
        it) goes with the agent's cleanup. The last instance to stop puts back the host's cgroup
        option (dynmods.py)."""
        try:
            await self.agent.shutdown()
        finally:
            others = await asyncio.to_thread(self.proxy.teardown)
            try:
                await asyncio.to_thread(dynmods.restore, others)
            except OSError as e:
                log.warning("could not turn %s off again: %s", dynmods.OPTION, e)


async def start_node(cfg: Any, registry: Registry) -> NodeParts:
    """The agent and every node component, wired; the host's bridge, route and nftables table
    ready. Refuses with one sentence when the machine cannot run pods."""
    problem = preflight.problem()
    if problem:
        raise SystemExit(f"kubeproc: {problem}")
    node_name = cfg.node_name or socket.gethostname().lower()  # as server.node_name
    netcfg = NetworkConfig.for_data_dir(cfg.data_dir, cfg.pod_cidr or None)
    info = machine_info(cfg.data_dir)
    ip = host_ip()
    gateway = str(next(netcfg.network.hosts()))  # the DNS server listens here
    runtime = RuncRuntime(os.path.join(cfg.data_dir, "runc"), runc=preflight.runc_path() or preflight.RUNC)
    holder = MonitorHolder(runtime)  # the pods' namespaces live in the container monitor
    network = LinuxNetwork(netcfg)
    try:  # refuse before touching the host
        nft = Nft()
        await asyncio.to_thread(hostnet.check_free, netcfg.bridge, cfg.service_cidr)
        await asyncio.to_thread(hostnet.check_pod_cidr_free, netcfg.bridge, netcfg.pod_cidr)
    except (hostnet.HostNetError, NftError) as e:
        raise SystemExit(f"kubeproc: {e}")
    await asyncio.to_thread(network.ensure_bridge)
    try:
        await asyncio.to_thread(hostnet.ensure, netcfg.bridge, cfg.service_cidr, gateway)
        await asyncio.to_thread(hostnet.enable_forwarding)
    except hostnet.HostNetError as e:
        raise SystemExit(f"kubeproc: {e}")
    if cfg.favor_dynmods:
        log.info("%s", await asyncio.to_thread(dynmods.favor))
    pcfg = ProxyConfig(instance=netcfg.instance, pod_cidr=netcfg.pod_cidr, bridge=netcfg.bridge,
                       service_cidr=cfg.service_cidr, node_name=node_name,
                       bridge_nf=hostnet.bridge_netfilter())
    proxy = ServiceProxy(LocalClient(registry, "kube-proxy"), pcfg, nft, host_setup=False)
    dns_client = LocalClient(registry, "kube-dns")
    await dns_endpoints.publish(dns_client, gateway, node_name)
    # pods ask the kube-dns ClusterIP, as in a cluster; the gateway if that Service is missing
    cluster_dns = dns_endpoints.cluster_ip(dns_client) or gateway
    acfg = AgentConfig(data_dir=cfg.data_dir, node_name=node_name, network=netcfg, host_ip=ip,
                       cluster_dns=(cluster_dns,),
                       backoff=bo.BackoffConfig(initial=cfg.backoff_seconds,
                                                maximum=cfg.backoff_seconds * 30),
                       memory_capacity=info.memory_bytes, pids_limit=cfg.pod_max_pids or None,
                       # tests narrow it to see a slow pod never holds the others up
                       start_slots=int(os.environ.get("KUBEPROC_START_SLOTS") or 12))
    kubelet = LocalClient(registry, "kubelet")
    recorder = EventRecorder(kubelet, "kubelet", host=node_name)
    heartbeat = NodeHeartbeat(kubelet, node_name, cfg.data_dir, netcfg.pod_cidr, ip,
                              version_info()["gitVersion"], recorder=recorder,
                              max_pods=cfg.max_pods)
    await heartbeat.register()
    agent = Agent(kubelet, acfg, runtime, network, recorder, holder)
    sched_client = LocalClient(registry, "default-scheduler")
    scheduler = Scheduler(sched_client, EventRecorder(sched_client, "default-scheduler"))
    streams = AgentStreams(runtime.runc, runtime.root, agent.node.logs_root, agent.node.locate,
                           lambda uid: holder.path(podns.key(uid, "net")))
    dns = ClusterDNS(dns_client, gateway, ttl=cfg.dns_ttl)
    return NodeParts(agent, [heartbeat, agent, scheduler, dns, proxy], streams, dns, proxy, cluster_dns)
