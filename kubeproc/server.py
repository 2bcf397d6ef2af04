"""Wiring of one kubeproc instance: store, registry, controllers and the HTTPS API server.

Owns the instance's lifetime: the data-dir lock, bootstrap objects (the four system
namespaces), the task group of controllers, and an orderly shutdown (HTTP first, then
controllers, then the store) on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import gc
import json
import logging
import os
import signal
import socket
import ssl
from dataclasses import dataclass

import yaml
from aiohttp import web

from kubeproc.api import errors, resources
from kubeproc.apiserver import pki, podstreams
from kubeproc.apiserver.app import make_app
from kubeproc.client.local import LocalClient
from kubeproc.controllers.gc.reconciler import GarbageCollector
from kubeproc.controllers.namespace.reconciler import NamespaceController
from kubeproc.controllers.deployment.reconciler import DeploymentController
from kubeproc.controllers.disruption.reconciler import DisruptionController
from kubeproc.controllers.endpoints.reconciler import EndpointsController
from kubeproc.controllers.endpointslice.reconciler import EndpointSliceController
from kubeproc.controllers.replicaset.reconciler import ReplicaSetController, replication_manager
from kubeproc.controllers.statefulset.reconciler import StatefulSetController
from kubeproc.controllers.volume.provisioner import local_path_class
from kubeproc.controllers.volume.reconciler import VolumeController
from kubeproc.dashboard import server as dashboard
from kubeproc.machinery.events import EventRecorder
from kubeproc import memdump
from kubeproc.ports import remembered_port
from kubeproc.registry.registry import Registry, WriteOptions
from kubeproc.store.store import Store

log = logging.getLogger("kubeproc")

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass
class Config:
    data_dir: str
    api_port: int = 0
    listen: str = "127.0.0.1"
    agent: bool = True  # run pods (the node agent and the scheduler); False: the API alone
    node_name: str = ""  # default: the host name
    pod_cidr: str = ""  # default: derived from the data dir
    backoff_seconds: float = 10.0  # the kubelet's container restart back-off base (tests shorten)
    pod_max_pids: int = 0  # the kubelet's podPidsLimit per container cgroup; 0: unlimited
    max_pods: int = 110  # the kubelet's --max-pods (the Node's pods capacity)
    service_cidr: str = "10.96.0.0/16"  # ClusterIPs (the apiserver's --service-cluster-ip-range)
    dns_ttl: int = 5  # seconds cluster DNS answers may be cached
    node_port_range: str = "30000-32767"  # the apiserver's --service-node-port-range
    favor_dynmods: bool = True  # set the cgroup2 option favordynmods (agent/dynmods.py)

    @property
    def run_dir(self) -> str:
        return os.path.join(self.data_dir, "run")

    @property
    def pid_file(self) -> str:
        return os.path.join(self.run_dir, "kubeproc.pid")

    @property
    def kubeconfig(self) -> str:
        return os.path.join(self.data_dir, "kubeconfig")

    @property
    def state_file(self) -> str:
        return os.path.join(self.data_dir, "config.json")


def node_name(cfg: Config) -> str:
    """The one Node's name: given, else the host name (lower-case, as the kubelet does)."""
    return cfg.node_name or socket.gethostname().lower()


def resolve_port(cfg: Config) -> int:
    """The given port, else the one this data dir used before (if free), else a free one."""
    return cfg.api_port or remembered_port(cfg.state_file, "apiPort", cfg.listen)


def write_kubeconfig(cfg: Config, port: int, p: pki.Pki) -> None:
    with open(p.ca_cert, "rb") as f:
        ca = base64.b64encode(f.read()).decode()
    host = "127.0.0.1" if cfg.listen in ("0.0.0.0", "127.0.0.1", "::", "") else cfg.listen
    if ":" in host:
        host = f"[{host}]"
    doc = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "kubeproc", "cluster": {"server": f"https://{host}:{port}",
                                                      "certificate-authority-data": ca}}],
        "users": [{"name": "kubeproc-admin", "user": {"token": p.token}}],
        "contexts": [{"name": "kubeproc", "context": {"cluster": "kubeproc", "user": "kubeproc-admin",
                                                      "namespace": "default"}}],
        "current-context": "kubeproc",
    }
    tmp = cfg.kubeconfig + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
    os.replace(tmp, cfg.kubeconfig)


async def bootstrap(registry: Registry, api_port: int = 6443) -> None:
    ns_res = resources.by_kind("", "Namespace")
    assert ns_res is not None
    for name in SYSTEM_NAMESPACES:
        if registry.store.get("namespaces", "", name) is None:
            try:
                await registry.create(ns_res, "", {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": name}},
                                      WriteOptions(field_manager="kubeproc"))
            except errors.AlreadyExists:
                pass
    svc_res = resources.by_kind("", "Service")
    assert svc_res is not None
    if registry.store.get(svc_res.key, "default", "kubernetes") is None:
        # the apiserver's own Service (controlplane/controller: first IP of the service range)
        first = str(next(registry.service_ips.net.hosts()))
        try:
            await registry.create(svc_res, "default", {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"type": "ClusterIP", "clusterIP": first, "sessionAffinity": "None",
                         "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                    "targetPort": api_port}]}},
                WriteOptions(field_manager="kube-apiserver"))
        except errors.AlreadyExists:
            pass
    if registry.store.get(svc_res.key, "kube-system", "kube-dns") is None:
        # the cluster DNS Service at the tenth address of the range, as kubeadm reserves it; its
        # endpoint is the DNS server on the node (written by the node's DNS feed)
        try:
            await registry.create(svc_res, "kube-system", kube_dns_service(registry.service_ips.net),
                                  WriteOptions(field_manager="kubeproc"))
        except (errors.AlreadyExists, errors.Invalid):
            pass  # the address is taken by a user's Service: pods use the node's DNS address
    sc_res = resources.by_kind("storage.k8s.io", "StorageClass")
    assert sc_res is not None
    if not registry.store.list(sc_res.key, None):  # a fresh cluster gets the default class
        try:
            await registry.create(sc_res, "", local_path_class(), WriteOptions(field_manager="kubeproc"))
        except errors.AlreadyExists:
            pass


def kube_dns_service(net) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system",
                         "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                                    "kubernetes.io/name": "CoreDNS"}},
            "spec": {"type": "ClusterIP", "clusterIP": str(net.network_address + 10),
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}}


class Instance:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._lock_fd: int | None = None

    def _lock(self) -> None:
        os.makedirs(self.cfg.run_dir, exist_ok=True)
        fd = os.open(os.path.join(self.cfg.run_dir, "kubeproc.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SystemExit(f"kubeproc: another instance is running with data dir {self.cfg.data_dir}")
        self._lock_fd = fd

    async def run(self) -> None:
        cfg = self.cfg
        os.makedirs(cfg.data_dir, mode=0o700, exist_ok=True)
        self._lock()
        port = resolve_port(cfg)
        p = pki.ensure(cfg.data_dir, [cfg.listen] if cfg.listen not in ("0.0.0.0", "::") else [])
        store = Store(os.path.join(cfg.data_dir, "kubeproc.db"))
        try:
            registry = Registry(store, cfg.service_cidr, node_port_range=cfg.node_port_range)
        except ValueError as e:
            raise SystemExit(f"kubeproc: {e}")
        store.start()
        await bootstrap(registry, port)
        # Long-lived objects (modules, schemas, stored entries) need not be rescanned by every
        # full collection; fewer, larger young collections cut tail latency under write load.
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        node = None
        if cfg.agent:
            from kubeproc.nodewiring import start_node
            node = await start_node(cfg, registry)
        node_parts = node.parts if node else []
        streams = node.streams if node else None
        app = make_app(registry, p.token, f"{cfg.listen}:{port}")
        podstreams.add_routes(app, registry, streams)
        sslctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        sslctx.load_cert_chain(p.cert, p.key)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                               shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, cfg.listen, port, ssl_context=sslctx, backlog=1024,
                           reuse_address=True)
        await site.start()
        dash_runner, dash_port = await dashboard.start(registry, cfg.data_dir, cfg.state_file,
                                                       p.token, f"{cfg.listen}:{port}")
        with open(cfg.state_file, "w") as f:
            state = {"apiPort": port, "listen": cfg.listen, "dashboardPort": dash_port}
            if node is not None:
                state["dns"] = f"{node.dns.server.host}:{node.dns.server.port}"
                state["clusterDNS"] = node.cluster_dns
            state["serviceCIDR"] = cfg.service_cidr
            state["nodePortRange"] = cfg.node_port_range
            json.dump(state, f)
        write_kubeconfig(cfg, port, p)
        with open(cfg.pid_file, "w") as f:
            f.write(str(os.getpid()))
        log.info("kubeproc serving on https://%s:%d", cfg.listen, port)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        memdump.install(loop)  # SIGUSR2 → tracemalloc snapshot, only with KUBEPROC_MEMDUMP set
        kcm = LocalClient(registry, "kube-controller-manager")
        controllers = [GarbageCollector(LocalClient(registry, "generic-garbage-collector")),
                       NamespaceController(LocalClient(registry, "namespace-controller")),
                       ReplicaSetController(kcm, EventRecorder(kcm, "replicaset-controller")),
                       DeploymentController(kcm, EventRecorder(kcm, "deployment-controller")),
                       replication_manager(kcm, EventRecorder(kcm, "replication-controller")),
                       StatefulSetController(kcm, EventRecorder(kcm, "statefulset-controller")),
                       DisruptionController(kcm, EventRecorder(kcm, "controllermanager")),
                       EndpointSliceController(kcm, EventRecorder(kcm, "endpointslice-controller")),
                       EndpointsController(kcm, EventRecorder(kcm, "endpoint-controller")),
                       VolumeController(kcm, EventRecorder(kcm, "persistentvolume-controller"),
                                        cfg.data_dir, node_name=node_name(cfg))]
        controllers += node_parts
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(c.run(), name=type(c).__name__) for c in controllers]
                await stop.wait()
                log.info("kubeproc shutting down")
                if node is not None:
                    await node.shutdown()  # every pod stopped, the host left clean
                await dash_runner.cleanup()
                await runner.cleanup()  # stop taking requests; open watches end
                for t in tasks:
                    t.cancel()
        finally:
            await store.close()
            try:
                os.unlink(cfg.pid_file)
            except FileNotFoundError:
                pass
