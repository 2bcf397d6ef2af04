"""Where a pending pod goes: the default scheduler's filters and its FailedScheduling message.

Pure: `schedule(pod, nodes, pods_on_nodes)` (or `infos=` per-node aggregates, see nodeinfo.py)
returns `Bind(node)` or `Unschedulable(message)`.
Ports, in the default profile's order, the PreFilter of NodeAffinity (matchFields
metadata.name), the Filters NodeUnschedulable, NodeName, TaintToleration, NodeAffinity,
NodePorts and NodeResourcesFit, the DefaultPreemption dry run (messages only: no victim is
evicted), and FitError.Error() (pkg/scheduler/framework/types.go) as of Kubernetes 1.33.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from kubeproc.controllers.scheduler.nodeinfo import (HostPort, NodeInfo, PodList, Usage,
                                                     counts_on_node, host_ports)
from kubeproc.controllers.scheduler.requests import node_allocatable, pod_requests

__all__ = ["Bind", "Unschedulable", "counts_on_node", "matches_node_affinity", "pods_by_node",
           "schedule", "tolerates"]

# Filter reason strings of the plugins (pkg/scheduler/framework/plugins/*).
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_NODE_NAME = "node(s) didn't match the requested node name"
REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
REASON_AFFINITY_CONFLICT = "pod affinity terms conflict"
REASON_PREFILTER_AFFINITY = "node(s) didn't satisfy plugin(s) [NodeAffinity]"
REASON_PORTS = "node(s) didn't have free ports for the requested pod ports"
REASON_TOO_MANY_PODS = "Too many pods"
# DefaultPreemption (pkg/scheduler/framework/preemption, plugins/defaultpreemption).
PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
PREEMPTION_NO_VICTIMS = "No preemption victims found for incoming pod"
PREEMPTION_NEVER = "not eligible due to preemptionPolicy=Never."

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"


@dataclass(frozen=True)
class Bind:
    node: str


@dataclass(frozen=True)
class Unschedulable:
    """The FailedScheduling event message (and PodScheduled condition message).

    `nominated_node` is set when evicting lower-priority pods there would make room (upstream
    would preempt them; this port only reports it).
    """

    message: str
    nominated_node: str | None = None


@dataclass(frozen=True)
class _Status:
    reasons: tuple[str, ...]
    resolvable: bool  # Unschedulable (preemption may help) vs UnschedulableAndUnresolvable


# ---- helpers ---------------------------------------------------------------------------------

def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def _name(obj: Mapping[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def pods_by_node(pods: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Group bound pods by spec.nodeName (the scheduler cache's view)."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for p in pods:
        node = _spec(p).get("nodeName")
        if node:
            out.setdefault(node, []).append(p)
    return out


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    # core/v1 Toleration.ToleratesTaint: empty effect/key match all; Exists ignores the value.
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def _tolerated(tolerations: Sequence[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    return any(tolerates(t, taint) for t in tolerations)


# ---- node affinity ---------------------------------------------------------------------------

_INT = re.compile(r"[+-]?[0-9]+")


def _int(v: object) -> int | None:
    # strconv.ParseInt(v, 10, 64): sign and digits only (Python's int() also takes "1_0", " 1").
    if not isinstance(v, str) or not _INT.fullmatch(v):
        return None
    n = int(v)
    return n if -2**63 <= n < 2**63 else None


def _requirement(req: Mapping[str, Any], values_of: Mapping[str, str]) -> bool | None:
    """One NodeSelectorRequirement; None when invalid (the whole term then fails)."""
    key, op, values = req.get("key", ""), req.get("operator"), list(req.get("values") or ())
    has = key in values_of
    if op == "In":
        return has and values_of[key] in values if values else None
    if op == "NotIn":
        return (not has or values_of[key] not in values) if values else None
    if op == "Exists":
        return has if not values else None
    if op == "DoesNotExist":
        return (not has) if not values else None
    if op in ("Gt", "Lt"):
        bound = _int(values[0]) if len(values) == 1 else None
        if bound is None:
            return None
        have = _int(values_of[key]) if has else None
        if have is None:
            return False
        return have > bound if op == "Gt" else have < bound
    return None


def _term_matches(term: Mapping[str, Any], labels: Mapping[str, str], name: str) -> bool:
    # nodeaffinity.nodeSelectorTerm: expressions ANDed; an empty term matches no node;
    # matchFields supports only metadata.name with In/NotIn.
    exprs = term.get("matchExpressions") or ()
    fields = term.get("matchFields") or ()
    if not exprs and not fields:
        return False
    for req in exprs:
        if not _requirement(req, labels):
            return False
    for req in fields:
        if req.get("key") != "metadata.name" or req.get("operator") not in ("In", "NotIn"):
            return False
        if len(req.get("values") or ()) != 1:
            return False  # field selectors take exactly one value
        if not _requirement(req, {"metadata.name": name}):
            return False
    return True


def _required_terms(pod: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    required = (((_spec(pod).get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return None
    return list(required.get("nodeSelectorTerms") or ())


def matches_node_affinity(pod: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """nodeSelector AND any required nodeSelectorTerm (nodeaffinity.RequiredNodeAffinity)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    for k, v in (_spec(pod).get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    terms = _required_terms(pod)
    if terms is None:
        return True
    return any(_term_matches(t, labels, _name(node)) for t in terms)


def _prefilter_node_names(pod: Mapping[str, Any]) -> set[str] | None:
    # NodeAffinity.PreFilter: terms that pin metadata.name (In) narrow the nodes to look at;
    # None means every node. An empty set means the terms conflict.
    terms = _required_terms(pod)
    if not terms:
        return None
    names: set[str] = set()
    for t in terms:
        term_names: set[str] | None = None
        for r in t.get("matchFields") or ():
            if r.get("key") == "metadata.name" and r.get("operator") == "In":
                vals = set(r.get("values") or ())
                term_names = vals if term_names is None else term_names & vals
        if term_names is None:
            return None  # this term does not pin names and terms are ORed
        names |= term_names
    return names


# ---- filters ---------------------------------------------------------------------------------

def _ports_conflict(want: Iterable[HostPort], used: Iterable[HostPort]) -> bool:
    # HostPortInfo.CheckConflict: 0.0.0.0 overlaps every address of the same protocol/port.
    for ip, proto, port in want:
        for uip, uproto, uport in used:
            if proto == uproto and port == uport and (
                    ip == uip or "0.0.0.0" in (ip, uip)):
                return True
    return False


def _fit(pod: Mapping[str, Any], node: Mapping[str, Any], others: Usage) -> tuple[str, ...]:
    # noderesources.fitsRequest: pod count, then cpu, memory, ephemeral-storage, scalars.
    alloc, allowed = node_allocatable(node)
    used = others.requested
    want = pod_requests(pod)
    reasons = []
    if others.count + 1 > allowed:
        reasons.append(REASON_TOO_MANY_PODS)
    names = ["cpu", "memory", "ephemeral-storage"]
    names += sorted(k for k in want if k not in names)
    for name in names:
        req = want.get(name, 0)
        if req > 0 and req > alloc.get(name, 0) - used.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return tuple(reasons)


def _filter(pod: Mapping[str, Any], node: Mapping[str, Any], others: Usage) -> _Status | None:
    """The first failing filter's status, in the default profile's order; None when it fits."""
    spec, nspec = _spec(pod), _spec(node)
    tolerations = spec.get("tolerations") or ()
    if nspec.get("unschedulable") and not _tolerated(
            tolerations, {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}):
        return _Status((REASON_UNSCHEDULABLE,), False)
    if spec.get("nodeName") and spec["nodeName"] != _name(node):
        return _Status((REASON_NODE_NAME,), False)
    for taint in nspec.get("taints") or ():
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerated(
                tolerations, taint):
            # TaintToleration.Filter names the first untolerated taint.
            return _Status((f"node(s) had untolerated taint {{{taint.get('key', '')}: "
                            f"{taint.get('value', '')}}}",), False)
    if not matches_node_affinity(pod, node):
        return _Status((REASON_AFFINITY,), False)
    want = host_ports(pod)
    if want and _ports_conflict(want, others.ports):
        return _Status((REASON_PORTS,), True)
    reasons = _fit(pod, node, others)
    if reasons:
        # 1.33 always returns Unschedulable here (UnschedulableAndUnresolvable for requests
        # beyond allocatable arrived in 1.34).
        return _Status(reasons, True)
    return None


# ---- message ---------------------------------------------------------------------------------

def _histogram(n: int, statuses: Iterable[_Status]) -> str:
    counts: dict[str, int] = {}
    for st in statuses:
        for r in st.reasons:
            counts[r] = counts.get(r, 0) + 1
    parts = sorted(f"{v} {k}" for k, v in counts.items())
    return f"0/{n} nodes are available: " + ", ".join(parts) + "."


def _priority(pod: Mapping[str, Any]) -> int:
    return int(_spec(pod).get("priority") or 0)


def _preempt(pod: Mapping[str, Any], nodes: Sequence[Mapping[str, Any]],
             statuses: Mapping[str, _Status],
             on_node: Mapping[str, Sequence[Mapping[str, Any]]]) -> tuple[str, str | None]:
    """DefaultPreemption's PostFilter message and the node it would nominate (dry run)."""
    if _spec(pod).get("preemptionPolicy") == "Never":
        return "preemption: " + PREEMPTION_NEVER, None
    results: list[_Status] = []
    for node in nodes:
        st = statuses[_name(node)]
        if not st.resolvable:
            results.append(_Status((PREEMPTION_NOT_HELPFUL,), False))
            continue
        others = on_node.get(_name(node), ())
        keep = [o for o in others if _priority(o) >= _priority(pod)]
        if len(keep) == len(others):
            results.append(_Status((PREEMPTION_NO_VICTIMS,), False))
            continue
        after = _filter(pod, node, PodList(keep))
        if after is None:
            return "", _name(node)  # a candidate exists: upstream preempts, no PostFilter msg
        results.append(after)
    return "preemption: " + _histogram(len(nodes), results), None


def _without_self(pods: Iterable[Mapping[str, Any]], uid: str | None, *,
                  count_terminating: bool) -> list[Mapping[str, Any]]:
    return [p for p in pods if counts_on_node(p, count_terminating=count_terminating)
            and (uid is None or (p.get("metadata") or {}).get("uid") != uid)]


_NO_PODS = NodeInfo()


def schedule(pod: Mapping[str, Any], nodes: Sequence[Mapping[str, Any]],
             pods_on_nodes: Mapping[str, Iterable[Mapping[str, Any]]] | None = None, *,
             count_terminating: bool = False,
             infos: Mapping[str, NodeInfo] | None = None) -> Bind | Unschedulable:
    """Pick a node for `pod` (the first feasible one in `nodes` order) or say why none fits.

    `pods_on_nodes` maps node name -> pods bound there (the pod itself excluded); terminal
    pods, and pods being deleted unless `count_terminating`, hold no resources. Alternatively
    `infos` maps node name -> NodeInfo (built with the same `count_terminating`; a missing
    node has no pods): the filters then read its sums instead of walking pods, with the same
    results. Give one of the two, not both. Inputs are not mutated.
    """
    if infos is not None and pods_on_nodes is not None:
        raise ValueError("schedule: give pods_on_nodes or infos, not both")
    n = len(nodes)
    uid = (pod.get("metadata") or {}).get("uid")
    on_node: Mapping[str, Sequence[Mapping[str, Any]]] = {}
    if infos is None:
        on_node = {name: _without_self(ps, uid, count_terminating=count_terminating)
                   for name, ps in (pods_on_nodes or {}).items()}
    else:
        for name, info in infos.items():
            if info.count_terminating != count_terminating:
                raise ValueError(f"schedule: NodeInfo of {name!r} was built with "
                                 f"count_terminating={info.count_terminating}")

    def pods_of_nodes() -> Mapping[str, Sequence[Mapping[str, Any]]]:
        # Only the preemption dry run (after every node failed) needs the pods themselves.
        if infos is None:
            return on_node
        return {name: _without_self(info.pods(), uid, count_terminating=count_terminating)
                for name, info in infos.items()}

    def usage_of(name: str) -> Usage:
        if infos is None:
            return PodList(on_node.get(name, ()))
        # The pod being scheduled never competes with itself (matched by uid, as above).
        return infos.get(name, _NO_PODS).without_uid(uid)

    if n == 0:
        return Unschedulable("no nodes available to schedule pods")
    allowed = _prefilter_node_names(pod)
    if allowed is not None and not allowed:
        # PreFilter rejection: the message is the plugin's, every node gets the same status.
        statuses = {_name(nd): _Status((REASON_AFFINITY_CONFLICT,), False) for nd in nodes}
        post, _ = _preempt(pod, nodes, statuses, pods_of_nodes())
        return Unschedulable(f"0/{n} nodes are available: {REASON_AFFINITY_CONFLICT}. {post}")
    statuses = {}
    for node in nodes:
        name = _name(node)
        if allowed is not None and name not in allowed:
            statuses[name] = _Status((REASON_PREFILTER_AFFINITY,), False)
            continue
        st = _filter(pod, node, usage_of(name))
        if st is None:
            return Bind(name)
        statuses[name] = st
    message = _histogram(n, statuses.values())
    post, nominated = _preempt(pod, nodes, statuses, pods_of_nodes())
    return Unschedulable(f"{message} {post}" if post else message, nominated)
