"""Garbage collection decisions over the owner graph: pure, no I/O.

Ports the rules of pkg/controller/garbagecollector/garbagecollector.go: owner references are
classified as solid, dangling or waiting (owner foreground-deleting) (classifyReferences); an
object with no solid owner is deleted (attemptToDeleteItem), references to gone or waiting
owners are removed while a solid owner remains, an owner deleted with `orphan` releases its
dependents before the finalizer goes (attemptToOrphan), and one deleted in the foreground
attempts each dependent and keeps its `foregroundDeletion` finalizer while a blocking dependent
(blockOwnerDeletion) exists (processDeletingDependentsItem).
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


def _waiting(owner: Node) -> bool:
    # classifyReferences: an owner being deleted with foregroundDeletion waits for its dependents
    return owner.deleting and FOREGROUND in owner.finalizers


def _plan_dependent(graph: Graph, node: Node) -> list[Action]:
    """attemptToDeleteItem for an object that is not being deleted and has owners."""
    solid: list[str] = []
    dangling: list[str] = []
    waiting: list[str] = []
    for ref in node.owners:
        owner = graph.nodes.get(ref.uid)
        if owner is not None and owner.namespace and not node.namespace:
            # isDangling: a cluster-scoped object cannot have a namespaced owner; upstream
            # leaves it alone (namespacedOwnerOfClusterScopedObjectErr) instead of deleting it
            return []
        if not graph.owner_present(node, ref):
            dangling.append(ref.uid)
        elif _waiting(graph.nodes[ref.uid]):
            waiting.append(ref.uid)
        else:
            solid.append(ref.uid)
    if solid:
        # a live owner keeps the object; references to gone or foreground-deleting owners are
        # dropped so those owners are not stuck behind it
        return [RemoveOwnerRefs(node, tuple(dangling + waiting))] if dangling or waiting else []
    if waiting and graph.dependents_of(node.uid):
        return [Delete(node, "Foreground")]
    # no solid owner: honour a propagation finalizer already on the object
    if ORPHAN in node.finalizers:
        return [Delete(node, "Orphan")]
    if FOREGROUND in node.finalizers:
        return [Delete(node, "Foreground")]
    return [Delete(node, "Background")]


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
        # processDeletingDependentsItem + graph_builder processTransitions: every dependent is
        # attempted (deleted, or released if another owner still holds it)
        for d in graph.dependents_of(uid):
            if not d.deleting:
                actions += _plan_dependent(graph, d)
        blocking = [d for d in graph.dependents_of(uid)
                    if any(o.uid == uid and o.block for o in d.owners)]
        if not blocking:
            actions.append(RemoveFinalizer(node, FOREGROUND))
        return actions
    if node.owners and not node.deleting:
        return _plan_dependent(graph, node)
    return actions
