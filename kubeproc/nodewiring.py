"""Wiring of the node half of an instance: the agent, its Node and Lease, and the scheduler.

Started by `server.Instance` unless the instance runs the API alone (`--no-agent`).
Refuses with one sentence (agent/preflight.py) when the machine cannot run pods.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from kubeproc.agent import backoff as bo
from kubeproc.agent.agent import Agent
from kubeproc.agent.context import AgentConfig
from kubeproc.agent.heartbeat import NodeHeartbeat
from kubeproc.agent.network import NetworkConfig
from kubeproc.agent.network.linux import LinuxNetwork
from kubeproc.agent.node import machine_info
from kubeproc.agent import preflight
from kubeproc.agent.runtime.runc import RuncRuntime
from kubeproc.agent.streams import AgentStreams
from kubeproc.apiserver.discovery import version_info
from kubeproc.client.local import LocalClient
from kubeproc.controllers.scheduler.reconciler import Scheduler
from kubeproc.dns.feed import ClusterDNS
from kubeproc.machinery.events import EventRecorder
from kubeproc.registry.registry import Registry


def host_ip() -> str:
    """The address of the interface of the default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


async def start_node(cfg: Any, registry: Registry) -> tuple[Agent, list[Any], AgentStreams]:
    """The agent, the components to run (heartbeat, agent, scheduler; each has `run()`), and
    the node's PodStreams for the apiserver's log/exec/attach/portforward."""
    problem = preflight.problem()
    if problem:
        raise SystemExit(f"kubeproc: {problem}")
    node_name = cfg.node_name or socket.gethostname().lower()  # as server.node_name
    netcfg = NetworkConfig.for_data_dir(cfg.data_dir, cfg.pod_cidr or None)
    info = machine_info(cfg.data_dir)
    ip = host_ip()
    # cluster DNS on the bridge's gateway address (until Service VIPs exist, pods reach it there)
    gateway = str(next(netcfg.network.hosts()))
    network = LinuxNetwork(netcfg)
    await asyncio.to_thread(network.ensure_bridge)
    acfg = AgentConfig(data_dir=cfg.data_dir, node_name=node_name, network=netcfg, host_ip=ip,
                       cluster_dns=(gateway,),
                       backoff=bo.BackoffConfig(initial=cfg.backoff_seconds,
                                                maximum=cfg.backoff_seconds * 30),
                       memory_capacity=info.memory_bytes, pids_limit=cfg.pod_max_pids or None)
    kubelet = LocalClient(registry, "kubelet")
    recorder = EventRecorder(kubelet, "kubelet", host=node_name)
    heartbeat = NodeHeartbeat(kubelet, node_name, cfg.data_dir, netcfg.pod_cidr, ip,
                              version_info()["gitVersion"], recorder=recorder,
                              max_pods=cfg.max_pods)
    await heartbeat.register()
    runtime = RuncRuntime(os.path.join(cfg.data_dir, "runc"), runc=preflight.runc_path() or preflight.RUNC)
    agent = Agent(kubelet, acfg, runtime, network, recorder)
    sched_client = LocalClient(registry, "default-scheduler")
    scheduler = Scheduler(sched_client, EventRecorder(sched_client, "default-scheduler"))
    streams = AgentStreams(runtime.runc, runtime.root, agent.node.logs_root, agent.node.locate,
                           netcfg.netns_path)
    dns = ClusterDNS(LocalClient(registry, "kube-dns"), gateway)
    return agent, [heartbeat, agent, scheduler, dns], streams
