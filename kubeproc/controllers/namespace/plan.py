"""Namespace lifecycle decisions: pure.

A terminating namespace has all its content deleted; once nothing is left, the `kubernetes`
finalizer is removed from spec.finalizers and the namespace goes. Ports
pkg/controller/namespace/deletion/namespaced_resources_deleter.go (Delete): deleteAllContent,
then finalizeNamespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FINALIZER = "kubernetes"


@dataclass(frozen=True)
class DeleteContent:
    resource: str  # store key
    names: tuple[str, ...]


@dataclass(frozen=True)
class Finalize:
    namespace: str


@dataclass(frozen=True)
class Plan:
    actions: tuple[DeleteContent | Finalize, ...]
    waiting_on: str = ""


def plan(ns: dict[str, Any], content: dict[str, list[dict[str, Any]]]) -> Plan:
    """`content`: store key -> objects still in the namespace."""
    meta = ns.get("metadata") or {}
    if not meta.get("deletionTimestamp"):
        return Plan(())
    if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
        return Plan(())
    actions: list[DeleteContent | Finalize] = []
    remaining = 0
    for resource, objs in sorted(content.items()):
        if not objs:
            continue
        remaining += len(objs)
        todo = tuple(sorted(o["metadata"]["name"] for o in objs
                            if not (o.get("metadata") or {}).get("deletionTimestamp")))
        if todo:
            actions.append(DeleteContent(resource, todo))
    if remaining:
        return Plan(tuple(actions), waiting_on=f"{remaining} object(s) still in namespace")
    return Plan((Finalize(meta.get("name", "")),))
