"""Per-node aggregates of the scheduler cache, kept up to date one pod at a time.

Ports the idea of framework.NodeInfo (pkg/scheduler/framework/types.go: Requested, UsedPorts,
Pods, AddPod/RemovePod): each pod's contribution (requests, host ports) is computed once when
it is added and subtracted exactly on removal, so a scheduling attempt reads a node's usage in
O(1) instead of walking every pod bound there. `PodList` gives the same reads over a plain
list of pods (the preemption dry run). Pure: no I/O, pods are never mutated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any, Protocol

from kubeproc.controllers.scheduler.requests import Resources, pod_requests, sum_requests

Key = tuple[str, str]  # (namespace, name)
HostPort = tuple[str, str, int]  # (hostIP, protocol, hostPort)


def counts_on_node(pod: Mapping[str, Any], *, count_terminating: bool = False) -> bool:
    """Whether a pod bound to a node holds its resources (terminal pods never do)."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    return count_terminating or not (pod.get("metadata") or {}).get("deletionTimestamp")


def host_ports(pod: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """The (hostIP, protocol, hostPort) a pod claims (framework.NodeInfo.updateUsedPorts)."""
    spec = pod.get("spec") or {}
    out = []
    for c in list(spec.get("containers") or ()) + list(spec.get("initContainers") or ()):
        for p in c.get("ports") or ():
            if p.get("hostPort"):
                out.append((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP",
                            int(p["hostPort"])))
    return out


def _uid(pod: Mapping[str, Any]) -> str | None:
    return (pod.get("metadata") or {}).get("uid")


class _Entry:
    """A counted pod and the contribution it was added with (subtracted verbatim on removal)."""

    __slots__ = ("pod", "requests", "ports")

    def __init__(self, pod: Mapping[str, Any]) -> None:
        self.pod = pod
        self.requests: Resources = pod_requests(pod)
        self.ports: list[HostPort] = host_ports(pod)


class NodeInfo:
    """The pods that hold resources on one node and their sums.

    Only pods for which `counts_on_node(pod, count_terminating=...)` holds are kept (default
    True, the scheduler cache's view: pods being deleted still hold their resources, terminal
    ones never do); adding a pod that does not count removes its key instead.
    """

    def __init__(self, *, count_terminating: bool = True) -> None:
        self.count_terminating = count_terminating
        self._entries: dict[Key, _Entry] = {}
        self._uids: dict[str, set[Key]] = {}
        self.requested: Resources = {}  # sums of pod_requests; zero entries dropped
        self.ports: Counter[HostPort] = Counter()  # multiset; zero counts dropped

    @property
    def count(self) -> int:
        """How many pods hold resources here (compared against allocatable pods)."""
        return len(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __repr__(self) -> str:
        return f"NodeInfo(pods={sorted(self._entries)}, requested={self.requested})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NodeInfo):
            return NotImplemented
        return (self.requested == other.requested and self.ports == other.ports
                and {k: e.pod for k, e in self._entries.items()}
                == {k: e.pod for k, e in other._entries.items()})

    __hash__ = None  # type: ignore[assignment]  # mutable

    def pods(self) -> list[Mapping[str, Any]]:
        """The counted pods, in the order they were (last) added."""
        return [e.pod for e in self._entries.values()]

    def has_uid(self, uid: str | None) -> bool:
        return uid is not None and bool(self._uids.get(uid))

    def add(self, key: Key, pod: Mapping[str, Any]) -> None:
        """Record `pod` under `key`, replacing whatever the key held (NodeInfo.AddPod)."""
        self.remove(key)
        if not counts_on_node(pod, count_terminating=self.count_terminating):
            return
        entry = _Entry(pod)
        self._entries[key] = entry
        uid = _uid(pod)
        if uid is not None:
            self._uids.setdefault(uid, set()).add(key)
        for name, v in entry.requests.items():
            total = self.requested.get(name, 0) + v
            if total:
                self.requested[name] = total
            else:
                self.requested.pop(name, None)
        self.ports.update(entry.ports)

    def update(self, key: Key, pod: Mapping[str, Any]) -> None:
        """NodeInfo.UpdatePod: the old contribution out, the new one in."""
        self.add(key, pod)

    def remove(self, key: Key) -> None:
        """Forget `key` and subtract what it was added with; unknown keys are a no-op."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        uid = _uid(entry.pod)
        if uid is not None:
            keys = self._uids.get(uid)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._uids[uid]
        for name, v in entry.requests.items():
            total = self.requested.get(name, 0) - v
            if total:
                self.requested[name] = total
            else:
                self.requested.pop(name, None)
        for hp in entry.ports:
            left = self.ports[hp] - 1
            if left > 0:
                self.ports[hp] = left
            else:
                del self.ports[hp]

    def without_uid(self, uid: str | None) -> NodeInfo:
        """This info, or a copy without the pods of `uid` when it holds any (the pod being
        scheduled is not among the pods it competes with; a rare path, so copying is fine)."""
        if not self.has_uid(uid):
            return self
        out = NodeInfo(count_terminating=self.count_terminating)
        for key, entry in self._entries.items():
            if _uid(entry.pod) != uid:
                out.add(key, entry.pod)
        return out


class Usage(Protocol):
    """What the filters read of a node's other pods: a NodeInfo, or `PodList` over a list."""

    @property
    def count(self) -> int: ...

    @property
    def requested(self) -> Mapping[str, int]: ...

    @property
    def ports(self) -> Iterable[HostPort]: ...


class PodList:
    """Usage of an explicit list of pods, each sum computed only when a filter asks for it."""

    def __init__(self, pods: Sequence[Mapping[str, Any]]) -> None:
        self._pods = pods

    @property
    def count(self) -> int:
        return len(self._pods)

    @cached_property
    def requested(self) -> Mapping[str, int]:
        return sum_requests(self._pods)

    @cached_property
    def ports(self) -> Iterable[HostPort]:
        return [hp for o in self._pods for hp in host_ports(o)]


def _key(pod: Mapping[str, Any]) -> Key:
    meta = pod.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


def build_infos(pods: Iterable[Mapping[str, Any]], *,
                count_terminating: bool = True) -> dict[str, NodeInfo]:
    """NodeInfos from scratch: bound pods grouped by spec.nodeName, keyed by (namespace, name);
    nodes where no pod counts get no entry."""
    out: dict[str, NodeInfo] = {}
    for p in pods:
        node = (p.get("spec") or {}).get("nodeName")
        if not node or not counts_on_node(p, count_terminating=count_terminating):
            continue
        out.setdefault(node, NodeInfo(count_terminating=count_terminating)).add(_key(p), p)
    return out
