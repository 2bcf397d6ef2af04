"""The node agent's loop: one worker per pod bound to this node, adoption, cleanup, shutdown.

`Agent.run()` lists and watches the pods bound to the node (the kubelet's pod config source),
adopts the containers a previous run left running (no restart, no duplicate), removes what no
pod owns (a crashed instance's leftovers), and hands each pod to a `PodWorker`. `shutdown()`
stops every pod (gracefully, bounded) and leaves nothing on the host: no container, netns, veth,
bridge, namespace file, cgroup or runc state.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
from typing import Any

from kubeproc.agent import instances, podns, volumes
from kubeproc.agent.context import AgentConfig, Node, remove_cgroup
from kubeproc.agent.network import Network
from kubeproc.agent.nsholder import NamespaceHolder
from kubeproc.agent.runtime import topdir
from kubeproc.agent.runtime.protocol import Runtime, RuntimeError_
from kubeproc.agent.worker import PodWorker
from kubeproc.client.local import LocalClient
from kubeproc.machinery.events import EventRecorder

log = logging.getLogger(__name__)
LIVE_STATES = ("running", "created", "paused")


class Agent:
    def __init__(self, client: LocalClient, cfg: AgentConfig, runtime: Runtime,
                 network: Network, recorder: EventRecorder, holder: NamespaceHolder) -> None:
        self.node = Node(client, cfg, runtime, network, recorder, holder)
        self.client = client
        self.cfg = cfg
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.ready = asyncio.Event()
        self._adopted: dict[str, list[str]] = {}

    def _mine(self, pod: dict[str, Any]) -> bool:
        return (pod.get("spec") or {}).get("nodeName") == self.cfg.node_name

    async def run(self) -> None:
        node = self.node
        await node.holder.load()
        await asyncio.to_thread(node.network.ensure_bridge)
        for d in (node.pods_root, node.logs_root):
            await asyncio.to_thread(topdir.make_top, d)
        pods, rv = self.client.list(node.pods_res)
        mine = {p["metadata"]["uid"]: p for p in pods if self._mine(p)}
        await self._adopt_or_clean(mine)
        for pod in mine.values():
            self._worker(pod)
        self.ready.set()
        async for ev in self.client.watch_all(rv):
            if ev.resource.kind in ("ConfigMap", "Secret"):
                self._sources_changed(ev.obj)
                continue
            if ev.resource.kind in ("PersistentVolumeClaim", "PersistentVolume"):
                for w in node.workers.values():  # a pod waiting to mount may go on now
                    if w.record.sandbox() is None:
                        w.wake.set()
                continue
            if ev.resource.kind != "Pod":
                continue
            pod = ev.obj
            uid = pod["metadata"]["uid"]
            w = node.workers.get(uid)
            if ev.type == "DELETED":
                if w is not None:
                    w.update(None)
            elif w is not None:
                w.update(pod)
            elif self._mine(pod):
                self._worker(pod)

    def _sources_changed(self, obj: dict[str, Any]) -> None:
        """The kubelet's configMap/secret managers: mounted copies follow their source."""
        ns = (obj.get("metadata") or {}).get("namespace")
        for w in self.node.workers.values():
            if w.volumes and (w.last.get("metadata") or {}).get("namespace") == ns:
                w.refresh_volumes = True
                w.wake.set()

    def _worker(self, pod: dict[str, Any]) -> PodWorker:
        w = PodWorker(self.node, pod)
        self.node.workers[w.uid] = w
        for cid in self._adopted.pop(w.uid, []):
            w.adopt(cid)
        t = asyncio.get_running_loop().create_task(w.run(), name=f"pod-{w.uid}")
        self.tasks[w.uid] = t
        t.add_done_callback(lambda _t, uid=w.uid: self.tasks.pop(uid, None))
        return w

    async def _adopt_or_clean(self, mine: dict[str, dict[str, Any]]) -> None:
        """Containers of known pods are adopted; everything else this instance owns goes."""
        node = self.node
        self._adopted = {}
        for st in await node.runtime.list():
            uid = next((u for u in mine if st.id.startswith(u + "-")), None)
            if uid is not None and st.status in LIVE_STATES:
                self._adopted.setdefault(uid, []).append(st.id)
                continue
            if uid is None:
                log.info("removing container %s that no pod owns", st.id)
            try:
                await node.runtime.delete(st.id, force=True)
            except RuntimeError_ as e:
                log.warning("removing container %s: %s", st.id, e)
        known = set(mine)
        for uid in instances.list_pod_uids(node.pods_root):
            if uid not in known:
                remove_pod_dir(node, uid)
        for uid in set(await asyncio.to_thread(node.network.list_pods)) - known:
            await asyncio.to_thread(node.network.teardown_pod, uid)
        for uid in podns.list_pods(node.holder) - known:
            await podns.remove(node.holder, uid)
        try:
            for d in os.listdir(node.logs_root):
                if d.rsplit("_", 1)[-1] not in known:
                    shutil.rmtree(os.path.join(node.logs_root, d), ignore_errors=True)
        except FileNotFoundError:
            pass

    async def shutdown(self) -> None:
        """Stop every pod (each within its grace period, capped), then remove what is left."""
        node = self.node
        workers = list(node.workers.values())
        for w in workers:
            w.stop_all_now = True
            w.wake.set()
        pending = [self.tasks[w.uid] for w in workers if w.uid in self.tasks]
        if pending:
            await asyncio.wait(pending, timeout=self.cfg.shutdown_grace_seconds + 5)
        for t in list(self.tasks.values()):
            t.cancel()
        await node.probes.stop_all()
        await cleanup_host(node)


def remove_pod_dir(node: Node, uid: str) -> None:
    """A pod's directory with what may be mounted in it (memory emptyDirs, subPath binds)."""
    record = instances.PodRecord(node.pods_root, uid)
    try:
        volumes.teardown_pod_volumes(record.dir)
    except (OSError, RuntimeError) as e:
        log.warning("unmounting the volumes of pod %s: %s", uid, e)
        return  # never rmtree through a mount
    record.remove()


async def cleanup_host(node: Node) -> None:
    """Whatever is still there: containers (SIGKILL), pod namespaces, the network, cgroups."""
    try:
        for st in await node.runtime.list():
            try:
                await node.runtime.kill(st.id, signal.SIGKILL, all=True)
            except RuntimeError_:
                pass
            try:
                await node.runtime.delete(st.id, force=True)
            except RuntimeError_ as e:
                log.warning("removing container %s: %s", st.id, e)
    except (RuntimeError_, OSError) as e:
        log.warning("listing containers: %s", e)
    for uid in instances.list_pod_uids(node.pods_root):
        remove_pod_dir(node, uid)
    try:
        await podns.remove_all(node.holder)
    except (RuntimeError_, OSError) as e:
        log.warning("releasing the pods' namespaces: %s", e)
    await asyncio.to_thread(node.network.teardown_all)
    remove_cgroup(node.cfg.cgroup_parent)
    await getattr(node.runtime, "shutdown_monitor", node.runtime.close)()
