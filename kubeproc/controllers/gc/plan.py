"""Garbage collection decisions over the owner graph: pure, no I/O.

Ports the rules of pkg/controller/garbagecollector/garbagecollector.go: an object whose owners
are all gone is deleted (attemptToDeleteItem), dangling owner references are removed when some
owners remain, an owner deleted with `orphan` releases its dependents before the finalizer goes
(attemptToOrphan), and one deleted in the foreground deletes its dependents and keeps its
`foregroundDeletion` finalizer while a blocking dependent (blockOwnerDeletion) exists
(processDeletingDependentsItem).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"


@dataclass(frozen=True)
class OwnerRef:
    uid: str
    kind: str = ""
    name: str = ""
    block: bool = False


@dataclass(frozen=True)
class Node:
    uid: str
    resource: str  # store key of the kind, e.g. "apps/replicasets"
    namespace: str
    name: str
    owners: tuple[OwnerRef, ...] = ()
    deleting: bool = False
    finalizers: tuple[str, ...] = ()


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    dependents: dict[str, set[str]] = field(default_factory=dict)

    def put(self, node: Node) -> None:
        self.remove(node.uid)
        self.nodes[node.uid] = node
        for o in node.owners:
            self.dependents.setdefault(o.uid, set()).add(node.uid)

    def remove(self, uid: str) -> Node | None:
        old = self.nodes.pop(uid, None)
        if old is not None:
            for o in old.owners:
                deps = self.dependents.get(o.uid)
                if deps is not None:
                    deps.discard(uid)
                    if not deps:
                        del self.dependents[o.uid]
        return old

    def dependents_of(self, uid: str) -> list[Node]:
        return sorted((self.nodes[d] for d in self.dependents.get(uid, ()) if d in self.nodes),
                      key=lambda n: (n.resource, n.namespace, n.name))

    def owner_present(self, dependent: Node, ref: OwnerRef) -> bool:
        owner = self.nodes.get(ref.uid)
        # a namespaced owner must live in the dependent's namespace (or be cluster-scoped)
        return owner is not None and owner.namespace in ("", dependent.namespace)


@dataclass(frozen=True)
class Delete:
    node: Node
    propagation: str


@dataclass(frozen=True)
class RemoveOwnerRefs:
    node: Node
    uids: tuple[str, ...]


@dataclass(frozen=True)
class RemoveFinalizer:
    node: Node
    finalizer: str


Action = Delete | RemoveOwnerRefs | RemoveFinalizer


def _propagation_for(graph: Graph, node: Node) -> str:
    return "Foreground" if graph.dependents_of(node.uid) else "Background"


def plan(graph: Graph, uid: str) -> list[Action]:
    node = graph.nodes.get(uid)
    if node is None:
        return []
    if node.deleting and ORPHAN in node.finalizers:
        deps = graph.dependents_of(uid)
        if deps:
            return [RemoveOwnerRefs(d, (uid,)) for d in deps]
        return [RemoveFinalizer(node, ORPHAN)]
    actions: list[Action] = []
    if node.deleting and FOREGROUND in node.finalizers:
        deps = graph.dependents_of(uid)
        actions += [Delete(d, _propagation_for(graph, d)) for d in deps if not d.deleting]
        blocking = [d for d in deps
                    if any(o.uid == uid and o.block for o in d.owners)]
        if not blocking:
            actions.append(RemoveFinalizer(node, FOREGROUND))
        return actions
    if node.owners and not node.deleting:
        absent = [o for o in node.owners if not graph.owner_present(node, o)]
        if len(absent) == len(node.owners):
            return [Delete(node, "Background")]
        if absent:
            return [RemoveOwnerRefs(node, tuple(o.uid for o in absent))]
        owners = [graph.nodes[o.uid] for o in node.owners]
        if all(o.deleting and FOREGROUND in o.finalizers for o in owners):
            return [Delete(node, _propagation_for(graph, node))]
    return actions
