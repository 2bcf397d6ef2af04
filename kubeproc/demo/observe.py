"""Every pod event of a namespace, timed on arrival: the demo's measurements come from here.

A background thread lists the namespace's pods, then watches them; for each pod it keeps when it
was first seen, when it first became Ready, when its deletion started (deletionTimestamp) and when
it was gone, plus its latest object. Times are `time.monotonic()` seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kubeproc.demo.api import Api


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


@dataclass
class PodLife:
    name: str
    uid: str
    created: float
    ready: float | None = None
    deleting: float | None = None
    gone: float | None = None
    obj: dict[str, Any] = field(default_factory=dict)

    @property
    def ip(self) -> str:
        return (self.obj.get("status") or {}).get("podIP") or ""

    @property
    def alive(self) -> bool:
        return self.gone is None and self.deleting is None


class Observer:
    """Pods of one namespace as they come and go. Thread-safe reads."""

    def __init__(self, api: Api, namespace: str) -> None:
        self.api, self.namespace = api, namespace
        self.lives: list[PodLife] = []  # in order of first sight; a recreated name is a new life
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="demo-observer", daemon=True)

    def start(self) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/pods"
        listing = self.api.get(path) or {"items": [], "metadata": {"resourceVersion": "0"}}
        now = time.monotonic()
        for pod in listing["items"]:
            self._seen(pod, now, "ADDED")
        self._rv = listing["metadata"]["resourceVersion"]
        self._thread.start()

    def _run(self) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/pods"
        while True:
            try:
                for ev in self.api.watch(path, self._rv):
                    obj = ev.get("object") or {}
                    if ev.get("type") == "ERROR":
                        raise RuntimeError(obj.get("message", "watch error"))
                    self._rv = obj["metadata"]["resourceVersion"]
                    self._seen(obj, time.monotonic(), ev["type"])
            except Exception:
                time.sleep(0.2)  # the instance restarted or the watch expired: resume
                listing = self.api.get(path)
                if listing is not None:
                    self._rv = listing["metadata"]["resourceVersion"]

    def _seen(self, pod: dict[str, Any], t: float, kind: str) -> None:
        meta = pod["metadata"]
        with self._lock:
            life = next((lf for lf in self.lives if lf.uid == meta["uid"]), None)
            if life is None:
                if kind == "DELETED":
                    return
                life = PodLife(meta["name"], meta["uid"], t)
                self.lives.append(life)
            life.obj = pod
            if life.ready is None and is_ready(pod):
                life.ready = t
            if life.deleting is None and meta.get("deletionTimestamp"):
                life.deleting = t
            if kind == "DELETED":
                life.gone = t
                if life.deleting is None:
                    life.deleting = t

    # ---- queries ----------------------------------------------------------------------------
    def snapshot(self, prefix: str = "") -> list[PodLife]:
        with self._lock:
            return [PodLife(**{**lf.__dict__}) for lf in self.lives if lf.name.startswith(prefix)]

    def alive(self, prefix: str) -> list[PodLife]:
        return [lf for lf in self.snapshot(prefix) if lf.alive]

    def ready(self, prefix: str) -> list[PodLife]:
        return [lf for lf in self.alive(prefix) if is_ready(lf.obj)]

    def current(self, name: str) -> PodLife | None:
        """The latest life of a pod name (a StatefulSet pod may have had several)."""
        lives = [lf for lf in self.snapshot() if lf.name == name]
        return lives[-1] if lives else None
