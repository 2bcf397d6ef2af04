"""The context pod workers share (`Node`): configuration, the Client, Runtime and Network seams,
sandbox creation/teardown (RunPodSandbox/StopPodSandbox) and container launches
(startContainer). Every side effect of a pod worker goes through here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shutil
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TypeVar

from kubeproc.agent import backoff as bo
from kubeproc.agent import hooks, instances, launch, mounts, podns, sandbox, volumes
from kubeproc.agent.probes import ProbeManager
from kubeproc.agent.runtime import exec as rexec
from kubeproc.agent.streams import ContainerRef
from kubeproc.agent.instances import now
from kubeproc.agent.network import Network, NetworkConfig
from kubeproc.agent.nsholder import NamespaceHolder
from kubeproc.agent.plan import KillContainer, StartContainer
from kubeproc.agent.podphase import init_specs, regular_specs
from kubeproc.agent.podstatus import Probes
from kubeproc.agent.runtime.protocol import Runtime, RuntimeError_
from kubeproc.agent.runtime.runc import write_bundle
from kubeproc.agent.runtime import bundle as oci
from kubeproc.agent.worker import PodWorker
from kubeproc.api import resources
from kubeproc.client.local import LocalClient
from kubeproc.machinery.events import EventRecorder

T = TypeVar("T")
log = logging.getLogger(__name__)
CGROUP_ROOT = "/sys/fs/cgroup"


@dataclass
class AgentConfig:
    data_dir: str
    node_name: str
    network: NetworkConfig
    host_ip: str = "127.0.0.1"
    cluster_domain: str = "cluster.local"
    cluster_dns: tuple[str, ...] = ()
    backoff: bo.BackoffConfig = field(default_factory=bo.BackoffConfig)
    pids_limit: int | None = None
    memory_capacity: int = 1 << 34
    shutdown_grace_seconds: int = 10
    probe_time_scale: float = 1.0  # tests only: scales probe delays and periods
    start_slots: int = 12  # pods in their starting steps at once (Node.start_slots; env KUBEPROC_START_SLOTS)
    host_resolv: str = "/etc/resolv.conf"

    @property
    def instance(self) -> str:
        return self.network.instance

    @property
    def cgroup_parent(self) -> str:
        return f"/kubeproc-{self.instance}"

    @property
    def catalog_path(self) -> str:
        return os.path.join(self.data_dir, "images.yaml")


class _Lookups:
    """ConfigMaps/Secrets of a namespace by name, read when the environment asks for one."""

    class _Kind:
        def __init__(self, client: LocalClient, res: Any, ns: str) -> None:
            self.client, self.res, self.ns = client, res, ns

        def get(self, name: str, default: Any = None) -> Any:
            obj = self.client.get(self.res, self.ns, name)
            return default if obj is None else obj

    def __init__(self, client: LocalClient) -> None:
        self.client = client

    def configmaps(self, ns: str) -> Any:
        return self._Kind(self.client, resources.by_kind("", "ConfigMap"), ns)

    def secrets(self, ns: str) -> Any:
        return self._Kind(self.client, resources.by_kind("", "Secret"), ns)


class Node:
    """What pod workers share; every side effect of the agent goes through here."""

    def __init__(self, client: LocalClient, cfg: AgentConfig, runtime: Runtime,
                 network: Network, recorder: EventRecorder, holder: NamespaceHolder) -> None:
        self.client, self.cfg, self.runtime, self.network = client, cfg, runtime, network
        self.holder = holder  # keeps the pods' namespaces (the pause container's job)
        holder.on_lost(self._namespaces_lost)
        self.recorder = recorder
        self.pods_res = resources.by_kind("", "Pod")
        self.pods_root = os.path.join(cfg.data_dir, "pods")
        self.logs_root = os.path.join(cfg.data_dir, "logs")
        self.host_ips = (cfg.host_ip,)
        self.workers: dict[str, PodWorker] = {}
        self.lookups = _Lookups(client)
        # where a pod's start time goes (bench/pods.py reads these lines from the server log)
        self.trace = bool(os.environ.get("KUBEPROC_TRACE"))
        self._notes: list[str] = []  # trace lines not yet logged
        self._notes_lock = threading.Lock()
        self.volume_sources = self._volume_sources()
        # pods in their starting steps (sandbox, containers) at once; more would only share the
        # two cores and the thread pool step by step, delaying every pod's Running together
        self.start_slots = asyncio.Semaphore(cfg.start_slots)
        self.probes = ProbeManager(self.exec_sync, self._probe_changed, self._probe_event,
                                   time_scale=cfg.probe_time_scale)
        self.min_oom_score_adj = min_oom_score_adj()

    async def exec_sync(self, container_id: str, argv: list[str], timeout: float) -> tuple[int, bytes]:
        rt: Any = self.runtime
        return await rexec.exec_sync(rt.runc, rt.root, container_id, argv, timeout)

    def _namespaces_lost(self) -> None:
        """The holder died (kill -9 of the container monitor): every pod re-checks its sandbox
        now, as the kubelet's PLEG relist would notice."""
        for w in self.workers.values():
            w.wake.set()

    def _probe_changed(self, pod_uid: str) -> None:
        w = self.workers.get(pod_uid)
        if w is not None:
            w.wake.set()

    def _probe_event(self, pod_uid: str, container: str, reason: str, message: str) -> None:
        w = self.workers.get(pod_uid)
        if w is not None:
            self.event(w.last, "Warning", reason, message, f"spec.containers{{{container}}}")

    def _volume_sources(self) -> volumes.VolumeSources:
        get = self.client.get
        cm, sec = resources.by_kind("", "ConfigMap"), resources.by_kind("", "Secret")
        pvc, pv = resources.by_kind("", "PersistentVolumeClaim"), resources.by_kind("", "PersistentVolume")

        def pv_path(obj: Any) -> str | None:
            spec = obj.get("spec") or {}
            return (spec.get("hostPath") or {}).get("path") or (spec.get("local") or {}).get("path")
        return volumes.VolumeSources(
            config_map=lambda ns, n: get(cm, ns, n), secret=lambda ns, n: get(sec, ns, n),
            pvc=lambda ns, n: get(pvc, ns, n), pv=lambda n: get(pv, "", n),
            service_account_token=lambda pod: None, pv_path=pv_path)

    async def pod_volumes(self, w: PodWorker, pod: dict[str, Any]) -> dict[str, volumes.HostVolume]:
        """The pod's volumes on the host, set up on first use (idempotent; after an agent restart
        they are found again). Raises volumes.VolumeError."""
        if w.volumes is None:
            w.volumes = await asyncio.to_thread(volumes.setup_pod_volumes, pod, w.record.dir,
                                                self.volume_sources, self.cfg.node_name)
        return w.volumes

    async def refresh_volumes(self, w: PodWorker, pod: dict[str, Any]) -> None:
        """Projected content (configMap, secret, downwardAPI) follows its sources atomically."""
        if w.volumes is None or w.record.sandbox() is None:
            return
        errs: list[volumes.VolumeError] = []
        await asyncio.to_thread(volumes.refresh_pod_volumes, pod, w.record.dir,
                                self.volume_sources, self.cfg.node_name, errs)
        for e in errs:
            self.event(pod, "Warning", "FailedMount", e.message)

    def note(self, pod: dict[str, Any], step: str, since: float) -> None:
        """KUBEPROC_TRACE: one line per step of a pod's start, written in batches (a log write
        per step would cost the event loop a system call each)."""
        if not self.trace:
            return
        line = "trace pod=%s step=%s ms=%.2f" % (
            (pod.get("metadata") or {}).get("name"), step, (time.perf_counter() - since) * 1000)
        with self._notes_lock:  # steps of a sandbox are noted from its thread
            self._notes.append(line)
            if len(self._notes) > 1:
                return
        try:
            asyncio.get_running_loop().call_later(0.5, self._flush_notes)
        except RuntimeError:  # not on the event loop: flush now
            self._flush_notes()

    def _flush_notes(self) -> None:
        with self._notes_lock:
            notes, self._notes = self._notes, []
        if notes:
            log.info("%s", "\n".join(notes))

    def locate(self, pod_uid: str, container: str) -> ContainerRef | None:
        """The latest instance of a pod's container (for logs and exec)."""
        w = self.workers.get(pod_uid)
        if w is None:
            return None
        mine = [c for c in w.observe() if c.name == container]
        if not mine:
            return None
        c = max(mine, key=lambda c: c.attempt)
        return ContainerRef(c.id, c.attempt, c.state == "running")

    # ---- hooks used by workers ----
    def probe_results(self, container_id: str) -> Probes:
        return self.probes.results(container_id)

    def container_gone(self, worker: PodWorker, container_id: str) -> None:
        self.probes.stop(container_id)

    async def forget(self, worker: PodWorker) -> None:
        """The pod is gone from the API and from the host: drop its records and logs."""
        logs = self.log_dir(worker.last)

        def remove() -> None:  # rmtrees: off the event loop
            worker.record.remove()
            shutil.rmtree(logs, ignore_errors=True)
        await asyncio.to_thread(remove)
        self.workers.pop(worker.uid, None)

    def log_dir(self, pod: dict[str, Any]) -> str:
        m = pod.get("metadata") or {}
        return os.path.join(self.logs_root, f"{m.get('namespace')}_{m.get('name')}_{m.get('uid')}")

    def event(self, pod: dict[str, Any], etype: str, reason: str, message: str,
              field_path: str = "") -> None:
        """Fire and forget: events never delay a pod."""
        self.recorder.emit(pod, etype, reason, message, field_path=field_path)

    def hostname(self, pod: dict[str, Any]) -> tuple[str, str | None]:
        """The pod's hostname and FQDN; a hostNetwork pod has the node's (kubelet_pods.go)."""
        if (pod.get("spec") or {}).get("hostNetwork"):
            return socket.gethostname(), None
        return sandbox.hostname_for(pod, self.cfg.cluster_domain)

    async def create_sandbox(self, w: PodWorker, pod: dict[str, Any], attempt: int) -> bool:
        """RunPodSandbox: netns + ipc/uts namespaces + the pod's hosts/resolv.conf/hostname."""
        try:
            hostname, fqdn = self.hostname(pod)
        except sandbox.SandboxError as e:
            self.event(pod, "Warning", "FailedCreatePodSandBox", str(e))
            return False
        t0 = time.perf_counter()
        host_network = bool((pod.get("spec") or {}).get("hostNetwork"))

        def network(netns_path: str | None) -> tuple[str, str, str | None]:
            # in the thread that made the namespaces (netns_path None), else in one that enters
            # them: the veth and addresses, the pod's directory and the host files it copies
            t1 = time.perf_counter()
            if host_network:  # the pod shares the node's network: its IP is the node's
                ip = self.cfg.host_ip
            elif netns_path is None:
                ip = self.network.setup_pod_here(w.uid).ip
            else:
                ip = self.network.setup_pod(w.uid, netns_path).ip
            self.note(pod, "network", t1)
            os.makedirs(w.record.dir, exist_ok=True)
            return (ip, *sandbox.read_host_files(self.cfg.host_resolv, host_network))
        try:
            # the namespaces and the network inside them in one thread, as the runtime makes
            # the netns and CNI configures it; namespaces held already (a sandbox whose start
            # was interrupted) are configured from a thread that enters them
            paths, got = await podns.create(self.holder, w.uid, hostname, host_network,
                                            lambda: network(None))
            self.note(pod, "namespaces", t0)
            if got is None:
                got = await asyncio.to_thread(network, paths.get("net", ""))
            ip, host_resolv, host_hosts = got
        except Exception as e:  # NetworkError, OSError
            log.exception("sandbox of %s", w.uid)
            self.event(pod, "Warning", "FailedCreatePodSandBox",
                       f"Failed to create pod sandbox: {e}")
            return False
        spec = pod.get("spec") or {}
        dns = sandbox.pod_dns(pod, list(self.cfg.cluster_dns), self.cfg.cluster_domain, host_resolv)
        for warning in dns.warnings:
            self.event(pod, "Warning", "MissingClusterDNS" if "ClusterDNS" in warning
                       else "DNSConfigForming", warning)
        resolv = sandbox.render_resolv_conf(dns)
        files = {
            "hosts": sandbox.etc_hosts(pod, [ip], spec.get("hostAliases"), hostname, fqdn,
                                       host_hosts=host_hosts),
            "resolv.conf": host_resolv if resolv is None else resolv,
            "hostname": hostname + "\n",
        }
        w.volumes = None

        def files_and_volumes() -> dict[str, volumes.HostVolume]:
            sandbox.write_pod_files(w.record.dir, files)
            vols = volumes.setup_pod_volumes(pod, w.record.dir, self.volume_sources,
                                             self.cfg.node_name)
            w.record.write_sandbox(attempt, ip)
            return vols
        try:
            # a pod's first sandbox only creates files: on the event loop
            w.volumes = await _creating_only(attempt == 0, files_and_volumes)
        except volumes.VolumeError as e:
            self.event(pod, "Warning", e.reason, e.message)
            return False
        self.note(pod, "sandbox", t0)
        return True

    def sandbox_intact(self, pod: Mapping[str, Any], uid: str) -> bool:
        """The pod's namespaces are still held (a killed container monitor took them along:
        the kubelet's sandbox-not-ready case, the pod gets a new sandbox)."""
        return podns.held(self.holder, uid, bool((pod.get("spec") or {}).get("hostNetwork"))) is not None

    async def teardown_sandbox(self, w: PodWorker, pod: dict[str, Any]) -> None:
        w.volumes = None
        await asyncio.to_thread(volumes.teardown_pod_volumes, w.record.dir)
        await podns.remove(self.holder, w.uid)

        def release() -> None:  # one hop to a thread: cgroup rmdirs take the kernel's cgroup lock
            self.network.teardown_pod(w.uid)
            w.record.drop_sandbox()
            remove_cgroup(f"{self.cfg.cgroup_parent}/pod{w.uid}")
        await asyncio.to_thread(release)

    async def launch(self, w: PodWorker, pod: dict[str, Any],
                     s: StartContainer) -> tuple[str, str] | None:
        """startContainer: bundle, runc create + start, exit watcher. None on success, else the
        Waiting (reason, message)."""
        specs = {c["name"]: c for c in init_specs(pod) + regular_specs(pod)}
        container = specs[s.name]
        sb = w.record.sandbox()
        assert sb is not None
        host_network = bool((pod.get("spec") or {}).get("hostNetwork"))
        ns = podns.held(self.holder, w.uid, host_network)
        if ns is None:  # the holder died since this sync looked
            return self._failed(pod, container, launch.Failure(
                "CreateContainerError", "the pod's sandbox is gone; it will be re-created"))
        ctx = launch.PodContext(
            pod_dir=w.record.dir, ip=sb.ip, hostname=self.hostname(pod)[0],
            netns=oci.HOST if host_network else ns["net"], ipcns=ns["ipc"], utsns=ns["uts"],
            cgroup_parent=f"{self.cfg.cgroup_parent}/pod{w.uid}")
        env = launch.build_env(pod, container, lookups=self.lookups, services=self._services(),
                               node_name=self.cfg.node_name, host_ip=self.cfg.host_ip,
                               pod_ip=sb.ip, allocatable=None)
        if isinstance(env, launch.Failure):
            return self._failed(pod, container, env)
        bdir = w.record.bundle(s.name, s.attempt)
        cid = w.record.container_id(s.name, s.attempt)
        log_path = os.path.join(self.log_dir(pod), s.name, f"{s.attempt}.log")

        def make_bundle(vols: dict[str, volumes.HostVolume]) -> launch.Failure | None:
            # the container's mounts (subPath checks walk the volume) and ~30 file system calls
            # of its bundle
            t0 = time.perf_counter()
            try:
                extra = mounts.container_mounts(pod, container, vols, dict(env), w.record.dir)
            except volumes.VolumeError as e:
                return launch.Failure("CreateContainerConfigError", e.message)
            spec = launch.container_spec(
                pod, container, cid=cid, attempt=s.attempt, ctx=ctx, env=env,
                catalog_path=self.cfg.catalog_path, memory_capacity=self.cfg.memory_capacity,
                pids_limit=self.cfg.pids_limit, rootfs_dir=os.path.join(bdir, "rootfs"),
                extra_mounts=extra)
            if isinstance(spec, launch.Failure):
                return spec
            if spec.oom_score_adj is not None and spec.oom_score_adj < self.min_oom_score_adj:
                spec = dataclasses.replace(spec, oom_score_adj=self.min_oom_score_adj)
            instances.remove_bundle(bdir)  # a start interrupted by a crash leaves a partial one
            launch.prepare_rootfs(spec)
            write_bundle(bdir, oci.render(spec))
            self.runtime.prepare(bdir, log_path)
            self.note(pod, "bundle", t0)
            return None
        try:
            vols = await self.pod_volumes(w, pod)
        except volumes.VolumeError as e:
            return self._failed(pod, container, launch.Failure(
                "CreateContainerConfigError", e.message))
        # a container's first instance only creates files (a crash may have left a partial
        # bundle, which is removed first): on the event loop
        failure = await _creating_only(s.attempt == 0 and not os.path.lexists(bdir), make_bundle, vols)
        if failure is not None:
            return self._failed(pod, container, failure)
        try:
            t0 = time.perf_counter()
            await self.runtime.run(bdir, cid, log_path, prepared=True)
            self.note(pod, "runc_run", t0)
        except RuntimeError_ as e:
            msg = _runc_message(str(e))
            w.record.write_exit(bdir, 128, msg, now())
            try:
                await self.runtime.delete(cid, force=True)
            except RuntimeError_:
                pass
            instances.remove_rootfs(bdir)
            self.event(pod, "Warning", "Failed", f"Error: {msg}")
            self._prune(w, pod, s.name)
            return None  # recorded as an exited instance (StartError): restarts back off
        started = now()

        def mark_started() -> None:  # a file, and the removal of old instances (none at 0)
            w.record.mark_started(bdir, started)
            self._prune(w, pod, s.name)
        await _creating_only(s.attempt == 0, mark_started)
        w.watch_exit(cid, bdir)
        fp = f"spec.{'initContainers' if s.init else 'containers'}{{{s.name}}}"
        self.event(pod, "Normal", "Started", f"Started container {s.name}", fp)
        if not s.init or container.get("restartPolicy") == "Always":
            self.probes.start(pod, container, cid, sb.ip, started)
        post_start = (container.get("lifecycle") or {}).get("postStart")
        if post_start:  # kuberuntime_container.go: the hook runs before the sync goes on
            w.release_slot()  # a hook may take long: other pods start meanwhile
            err = await hooks.run_handler(post_start, exec_sync=self.exec_sync, container_id=cid,
                                          pod=pod, pod_ip=sb.ip, container_spec=container,
                                          timeout=None)
            if err:
                self.event(pod, "Warning", hooks.FAILED_POST_START_HOOK, err, fp)
                await self._kill_quietly(cid)
        return None

    async def _kill_quietly(self, cid: str) -> None:
        try:
            await self.runtime.kill(cid, signal.SIGKILL, all=True)
        except RuntimeError_:
            pass

    def _prune(self, w: PodWorker, pod: dict[str, Any], name: str) -> None:
        w.record.prune(name)
        d = os.path.join(self.log_dir(pod), name)
        try:
            logs = sorted((int(f.split(".")[0]), f) for f in os.listdir(d) if f.split(".")[0].isdigit())
        except FileNotFoundError:
            return
        for _, f in logs[:-instances.KEEP_PER_NAME]:
            try:
                os.unlink(os.path.join(d, f))
            except FileNotFoundError:
                pass

    def _failed(self, pod: dict[str, Any], container: dict[str, Any],
                f: launch.Failure) -> tuple[str, str]:
        self.event(pod, "Warning", "Failed", f"Error: {f.message}")
        return f.reason, f.message

    def _services(self) -> list[dict[str, Any]] | None:
        res = resources.by_kind("", "Service")
        return self.client.list(res)[0] if res is not None else None

    async def before_stop(self, w: PodWorker, pod: dict[str, Any], k: KillContainer) -> None:
        """killContainer's first half: the event, then the preStop hook within the grace."""
        self.event(pod, "Normal", "Killing", k.message)
        if not k.run_pre_stop:
            return
        specs = {c["name"]: c for c in init_specs(pod) + regular_specs(pod)}
        container = specs.get(k.name) or {}
        handler = (container.get("lifecycle") or {}).get("preStop")
        sb = w.record.sandbox()
        if not handler:
            return
        remaining = max(0.0, (k.deadline - now()).total_seconds())
        err = await hooks.run_handler(handler, exec_sync=self.exec_sync, container_id=k.container_id,
                                      pod=pod, pod_ip=sb.ip if sb else "", container_spec=container,
                                      timeout=remaining)
        if err:
            self.event(pod, "Warning", hooks.FAILED_PRE_STOP_HOOK, err)


def _runc_message(err: str) -> str:
    """runc's JSON log line or plain text → the containerd-style message kubectl shows."""
    import json
    for line in reversed(err.splitlines()):
        try:
            msg = json.loads(line).get("msg")
        except ValueError:
            msg = None
        if msg:
            return f"failed to create containerd task: OCI runtime create failed: {msg}: unknown"
    return err.strip()


def min_oom_score_adj() -> int:
    """The lowest oom_score_adj a container may get: without CAP_SYS_RESOURCE nobody may go
    below this process's own value (containerd's restrict_oom_score_adj does the same clamp)."""
    try:
        with open("/proc/self/status") as f:
            caps = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
        if caps & (1 << 24):  # CAP_SYS_RESOURCE
            return -1000
        with open("/proc/self/oom_score_adj") as f:
            return int(f.read().strip())
    except (OSError, StopIteration, ValueError):
        return 0


async def _creating_only(creates_only: bool, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn` on the event loop when it only creates files and directories (tens of small
    creates, well under a millisecond, that never wait for the disk), else in a thread: removing
    or replacing files frees blocks, and on a disk mounted with `discard` each freed block can
    wait milliseconds. A hop to a thread is dearer than the work itself while the loop is busy:
    every system call in the thread gives up the GIL and must win it back from the loop
    (a 500-pod burst: kubeproc CPU per pod -1 ms, 4-7 % sooner done)."""
    if creates_only:
        return fn(*args)
    return await asyncio.to_thread(fn, *args)


def remove_cgroup(path: str) -> None:
    """rmdir the cgroup in every hierarchy, deepest first (empty once runc deleted its children)."""
    try:
        ctrls = os.listdir(CGROUP_ROOT)
    except FileNotFoundError:
        return
    for ctrl in ctrls:
        base = os.path.join(CGROUP_ROOT, ctrl, path.lstrip("/"))
        try:
            os.rmdir(base)  # the usual case: runc removed the containers' cgroups inside
            continue
        except FileNotFoundError:
            continue
        except OSError:  # EBUSY: cgroups left inside (or not a directory: the walk skips it)
            pass
        for root, dirs, _ in sorted(os.walk(base, topdown=False), key=lambda t: -len(t[0])):
            try:
                os.rmdir(root)
            except OSError:
                pass
