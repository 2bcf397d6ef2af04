"""One pod's worker: observe (disk records + live containers) → plan (pure) → apply, repeat.

The kubelet's pod worker (pkg/kubelet/pod_workers.go) with SyncPod's effects
(kuberuntime_manager.go): sandbox, container starts with back-off, graceful stops, status
writes, and the final delete of the pod object. Side effects go through the node context
(`Node`): the Client, the Runtime, the Network; container creation is in `launch.py`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as _dt
import logging
import signal
import time
from typing import TYPE_CHECKING, Any

from kubeproc.agent import backoff as bo
from kubeproc.agent.instances import PodRecord, now, remove_rootfs
from kubeproc.agent.plan import KillContainer, PodInputs, StartContainer, plan
from kubeproc.agent.podphase import deleting, init_specs, is_sidecar, regular_specs
from kubeproc.agent.runtime.protocol import ContainerNotFound, RuntimeError_
from kubeproc.api import errors

if TYPE_CHECKING:
    from kubeproc.agent.context import Node

log = logging.getLogger(__name__)
RETRY_SECONDS = 0.3  # volumemanager podAttachAndMountRetryInterval
_KUBELET_FIELDS = ("phase", "reason", "message", "conditions", "podIP", "podIPs", "hostIP",
                   "hostIPs", "startTime", "containerStatuses", "initContainerStatuses")


def _rv(pod: dict[str, Any] | None) -> int:
    try:
        return int(((pod or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class PodWorker:
    def __init__(self, node: "Node", pod: dict[str, Any]) -> None:
        self.node = node
        self.uid: str = pod["metadata"]["uid"]
        self.pod: dict[str, Any] | None = pod
        self.last: dict[str, Any] = pod  # the last object seen, kept after the API deleted it
        self.record = PodRecord(node.pods_root, self.uid)
        self.wake = asyncio.Event()
        self.live: dict[str, asyncio.Task[None]] = {}  # container id -> exit waiter
        self.stopping: dict[str, _dt.datetime] = {}
        self.backoff = bo.BackoffState()
        self.start_failures: dict[str, tuple[str, str]] = {}
        # a container that could not be created (image, config) is retried with back-off, as
        # the kubelet's image pull back-off: name -> (delay seconds, retry time)
        self.retry: dict[str, tuple[float, _dt.datetime]] = {}
        self.finished = asyncio.Event()
        self.stop_all_now = False  # agent shutdown: stop everything, keep the pod object
        self.volumes: dict[str, Any] | None = None  # name -> volumes.HostVolume, once set up
        self.refresh_volumes = False  # a ConfigMap/Secret of the namespace changed
        self.slot = False  # holds one of the node's start slots (Node.start_slots)

    # ---- inputs from the agent ----
    def update(self, pod: dict[str, Any] | None) -> None:
        if pod is None:
            self.pod = None
        elif _rv(pod) >= _rv(self.pod):
            old = self.last.get("metadata") or {}
            meta = pod.get("metadata") or {}
            if self.volumes and (old.get("labels") != meta.get("labels")
                                 or old.get("annotations") != meta.get("annotations")):
                self.refresh_volumes = True  # downwardAPI files follow the pod's metadata
            self.pod = pod
            self.last = pod
        self.wake.set()

    def adopt(self, container_id: str) -> None:
        """A container found running after the agent's restart: watch for its exit."""
        bundle = self._bundle_of(container_id)
        if bundle and container_id not in self.live:
            self.live[container_id] = asyncio.get_running_loop().create_task(
                self._wait_exit(container_id, bundle))

    def _bundle_of(self, container_id: str) -> str | None:
        rest = container_id[len(self.uid) + 1:]
        name, _, attempt = rest.rpartition("-")
        return self.record.bundle(name, int(attempt)) if attempt.isdigit() else None

    # ---- the loop ----
    async def run(self) -> None:
        try:
            while True:
                self.wake.clear()
                try:
                    again, wake_at = await self.sync()
                except Exception:
                    log.exception("sync of pod %s failed; retrying", self._key())
                    again, wake_at = False, now() + _dt.timedelta(seconds=RETRY_SECONDS)
                if again is None:
                    return
                if again:
                    continue
                self.release_slot()  # waiting (for an exit, a probe, a back-off): not starting
                timeout = None
                if wake_at is not None:
                    timeout = max(0.0, (wake_at - now()).total_seconds()) + 0.01
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
        finally:
            self.release_slot()
            self.finished.set()

    def release_slot(self) -> None:
        if self.slot:
            self.slot = False
            self.node.start_slots.release()

    def _key(self) -> str:
        m = self.last.get("metadata") or {}
        return f"{m.get('namespace')}/{m.get('name')}"

    def effective_pod(self) -> dict[str, Any]:
        """The pod to plan for: the API object, or (deleted from the API, or the agent shutting
        down) the last one seen, terminating with its own grace period."""
        if self.pod is not None and not self.stop_all_now:
            return self.pod
        pod = dict(self.last)
        meta = dict(pod.get("metadata") or {})
        if not meta.get("deletionTimestamp"):
            meta["deletionTimestamp"] = now().strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.stop_all_now and meta.get("deletionGracePeriodSeconds") is None:
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
            meta["deletionGracePeriodSeconds"] = min(int(30 if grace is None else grace),
                                                     self.node.cfg.shutdown_grace_seconds)
        pod["metadata"] = meta
        return pod

    def observe(self) -> list:
        images = {c["name"]: c.get("image", "") for c in
                  init_specs(self.last) + regular_specs(self.last)}
        return self.record.observe(set(self.live), images)

    async def sync(self) -> tuple[bool | None, _dt.datetime | None]:
        """One pass. Returns (again now?, wake-up time); again None: the worker is done."""
        pod = self.effective_pod()
        if deleting(pod):
            self.node.probes.stop_liveness_and_startup(self.uid)
        t = now()
        observed = self.observe()
        sandbox = self.record.sandbox()
        if sandbox is not None and sandbox.ready and not self.node.sandbox_intact(pod, self.uid):
            sandbox = dataclasses.replace(sandbox, ready=False)
        inp = PodInputs(pod=pod, now=t, sandbox=sandbox, containers=tuple(observed),
                        probes={c.id: self.node.probe_results(c.id) for c in observed},
                        backoff=bo.gc(self.backoff, t, self.node.cfg.backoff),
                        stopping=dict(self.stopping), start_failures=dict(self.start_failures),
                        host_ips=self.node.host_ips, backoff_config=self.node.cfg.backoff)
        act = plan(inp)
        if act.create_sandbox or act.start:
            if not self.slot:
                # A few pods start at a time (Node.start_slots) and the others wait their turn, so
                # that a pod that started is also the first to be Running, not one of 500 that
                # all advance step by step together; with the slot, plan again from what is now.
                await self.node.start_slots.acquire()
                self.slot = True
                return True, None
        else:
            self.release_slot()
        self.backoff = act.backoff
        self._trigger_readiness(pod, observed, inp.probes)
        if self.refresh_volumes:
            self.refresh_volumes = False
            await self.node.refresh_volumes(self, pod)
        progressed = False
        for fk in act.force_kill:
            await self._signal(fk.container_id, signal.SIGKILL, all=True)
        for k in act.kill:
            self.stopping[k.container_id] = k.deadline
            asyncio.get_running_loop().create_task(self._stop(pod, k))
        if act.teardown_sandbox:
            if act.create_sandbox:  # kuberuntime_manager.go SyncPod, a sandbox that existed
                self.node.event(pod, "Normal", "SandboxChanged",
                                "Pod sandbox changed, it will be killed and re-created.")
            await self._write_status(act.status)  # the last status with the pod's IP
            await self.node.teardown_sandbox(self, pod)
            progressed = True
        if act.create_sandbox:
            if act.purge_init_containers:
                self.record.purge({c["name"] for c in init_specs(pod)})
            if not await self.node.create_sandbox(self, pod, act.sandbox_attempt):
                await self._write_status(act.status)  # Pending, containers ContainerCreating
                return False, now() + _dt.timedelta(seconds=RETRY_SECONDS)
            progressed = True
        retry_at = None
        if act.start and self.record.sandbox() is not None:
            specs = {c["name"]: c for c in init_specs(pod) + regular_specs(pod)}
            for s in act.start:
                held = self.retry.get(s.name)
                if held is not None and held[1] > t:
                    retry_at = min(retry_at or held[1], held[1])
                    ok = False
                else:
                    ok = await self._start(pod, s)
                    if ok:
                        progressed = True
                    else:
                        retry_at = min(retry_at or self.retry[s.name][1], self.retry[s.name][1])
                if not ok and s.init and not is_sidecar(specs[s.name]):
                    break
        if progressed:
            return True, None  # observe again: the status to write is the one after the starts
        await self._write_status(act.status)
        if act.delete_pod and self.pod is not None and not self.stop_all_now:
            await self._delete_pod()
        if self.pod is None and not self.live and self.record.sandbox() is None:
            await self.node.forget(self)
            return None, None
        if self.stop_all_now and not self.live and self.record.sandbox() is None:
            return None, None
        wake = [w for w in (act.next_wakeup, retry_at) if w is not None]
        return False, min(wake, default=None)

    def _trigger_readiness(self, pod: dict[str, Any], observed: list, probes: Any) -> None:
        """prober_manager.go UpdatePodStatus: a started container that is not ready yet gets
        its readiness probed now rather than a period later."""
        specs = {c["name"]: c for c in init_specs(pod) + regular_specs(pod)}
        for c in observed:
            if (c.state == "running" and (specs.get(c.name) or {}).get("readinessProbe")
                    and probes[c.id].readiness != "success"):
                self.node.probes.trigger_readiness(c.id)

    # ---- effects ----
    async def _start(self, pod: dict[str, Any], s: StartContainer) -> bool:
        failure = await self.node.launch(self, pod, s)
        if failure is not None:
            self.start_failures[s.name] = failure
            cfg = self.node.cfg.backoff
            delay = min(self.retry[s.name][0] * 2, cfg.maximum) if s.name in self.retry else cfg.initial
            self.retry[s.name] = (delay, now() + _dt.timedelta(seconds=delay))
            return False
        self.start_failures.pop(s.name, None)
        self.retry.pop(s.name, None)
        return True

    def watch_exit(self, container_id: str, bundle: str) -> None:
        self.live[container_id] = asyncio.get_running_loop().create_task(
            self._wait_exit(container_id, bundle))

    async def _wait_exit(self, cid: str, bundle: str) -> None:
        rt = self.node.runtime
        try:
            ex = await rt.wait_exit(cid)
            if ex.unknown:
                self.record.write_exit(bundle, 137, "", now())
            try:
                await rt.delete(cid, force=True)
            except RuntimeError_ as e:
                log.warning("deleting container %s: %s", cid, e)
            # a restart gets a fresh writable layer; off the event loop (an rmtree of ~20 entries)
            await asyncio.to_thread(remove_rootfs, bundle)
            self.node.container_gone(self, cid)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("watching container %s", cid)
        finally:
            self.live.pop(cid, None)
            self.stopping.pop(cid, None)
            self.wake.set()

    async def _signal(self, cid: str, sig: int, all: bool = False) -> None:
        try:
            await self.node.runtime.kill(cid, sig, all=all)
        except ContainerNotFound:
            pass
        except RuntimeError_ as e:
            if "not running" not in str(e) and "container not running" not in str(e):
                log.warning("signal %d to %s: %s", sig, cid, e)

    async def _stop(self, pod: dict[str, Any], k: KillContainer) -> None:
        """killContainer: preStop (bounded by the grace period), then SIGTERM."""
        try:
            await self.node.before_stop(self, pod, k)
        except Exception:
            log.exception("preStop of %s", k.container_id)
        await self._signal(k.container_id, signal.SIGTERM)

    async def _write_status(self, status: dict[str, Any]) -> None:
        pod = self.pod
        if pod is None or self.stop_all_now:
            return
        old = pod.get("status") or {}
        if all(old.get(k) == status.get(k) for k in _KUBELET_FIELDS):
            return
        uid = self.uid

        def apply(obj: dict[str, Any]) -> dict[str, Any]:
            if (obj.get("metadata") or {}).get("uid") != uid:
                raise errors.Conflict("the pod was replaced")
            cur = obj.get("status") or {}
            new = {k: v for k, v in cur.items() if k not in _KUBELET_FIELDS}
            new.update({k: v for k, v in status.items() if k in _KUBELET_FIELDS})
            for k, v in status.items():  # fields the kubelet keeps from the old status
                new.setdefault(k, v)
            obj["status"] = new
            return obj
        meta = pod["metadata"]
        t0 = time.perf_counter()
        try:
            newpod = await self.node.client.mutate(self.node.pods_res, meta.get("namespace", ""),
                                                   meta["name"], apply, subresource="status")
        except (errors.NotFound, errors.Conflict):
            return
        self.node.note(pod, "status_write", t0)
        if _rv(newpod) >= _rv(self.pod):  # our own write: no reason to sync again (and a wake
            self.pod = self.last = newpod  # set meanwhile, e.g. by an exit, must not be lost)

    async def _delete_pod(self) -> None:
        meta = (self.pod or {}).get("metadata") or {}
        try:
            await self.node.client.delete(self.node.pods_res, meta.get("namespace", ""), meta["name"],
                                          uid=self.uid, grace_period_seconds=0)
        except (errors.NotFound, errors.Conflict):
            pass
