"""A controller's pod cache indexed by controllerRef UID (orphans by namespace).

Ports controller_utils.go AddPodControllerUIDIndexer / FilterPodsByOwner: pods with a
controllerRef are indexed under its uid, orphans under `orphan/<namespace>`, so a ReplicaSet
(or a Deployment's ReplicaSets) reach their own pods and the adoptable orphans without walking
the namespace. Also keeps the plain namespace -> name -> pod view for selector-wide lookups.
The index holds an entry per pod made by `make` (the pod itself by default; a controller may
keep what it reads of each pod revision, computed once per watch event).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from kubeproc.controllers import podcontrol

Obj = dict[str, Any]
Key = tuple[str, str]
T = TypeVar("T")


def orphan_key(namespace: str) -> str:
    """controller_utils.go OrphanPodIndexKeyForNamespace."""
    return f"orphan/{namespace}"


def index_value(pod: Mapping[str, Any]) -> str:
    """The PodControllerUIDIndex function: the controllerRef's uid, else the orphan key."""
    ref = podcontrol.controller_of(pod)
    if ref is not None:
        return str(ref.get("uid") or "")
    return orphan_key(str((pod.get("metadata") or {}).get("namespace") or ""))


def _same(pod: Obj) -> Any:
    return pod


class PodIndex(Generic[T]):
    """Pods by namespace/name, and their entries by `index_value`; `put`/`remove` keep both
    in step."""

    def __init__(self, make: Callable[[Obj], T] = _same) -> None:
        self.by_namespace: dict[str, dict[str, Obj]] = {}
        self._make = make
        self._by_index: dict[str, dict[Key, T]] = {}
        self._indexed_as: dict[Key, str] = {}

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.by_namespace.get(namespace, {}).get(name)

    def put(self, pod: Obj) -> Obj | None:
        """Add or replace a pod; returns the one it replaced."""
        meta = pod.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        old = self.by_namespace.setdefault(key[0], {}).get(key[1])
        self.by_namespace[key[0]][key[1]] = pod
        value = index_value(pod)
        before = self._indexed_as.get(key)
        if before is not None and before != value:
            self._drop(before, key)
        self._by_index.setdefault(value, {})[key] = self._make(pod)
        self._indexed_as[key] = value
        return old

    def remove(self, namespace: str, name: str) -> Obj | None:
        old = self.by_namespace.get(namespace, {}).pop(name, None)
        value = self._indexed_as.pop((namespace, name), None)
        if value is not None:
            self._drop(value, (namespace, name))
        return old

    def _drop(self, value: str, key: Key) -> None:
        bucket = self._by_index.get(value)
        if bucket is not None:
            bucket.pop(key, None)
            if not bucket:
                del self._by_index[value]

    def by_index(self, value: str) -> Iterable[T]:
        return self._by_index.get(value, {}).values()

    def owned_and_orphans(self, namespace: str, uid: str) -> list[T]:
        """controller_utils.go FilterPodsByOwner(includeOrphanedObjects=true): the entries of
        the pods whose controllerRef names `uid` (in `namespace`), then the namespace's orphans."""
        owned = [e for k, e in self._by_index.get(uid, {}).items() if k[0] == namespace]
        return owned + list(self.by_index(orphan_key(namespace)))

    def namespace(self, namespace: str) -> Iterator[Obj]:
        return iter(self.by_namespace.get(namespace, {}).values())
