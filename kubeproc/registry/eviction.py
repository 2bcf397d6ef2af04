"""The pods/eviction subresource: delete a pod only if its PodDisruptionBudget allows it.

Ports pkg/registry/core/pod/storage/eviction.go: terminal, pending and terminating pods are
deleted without a budget (canIgnorePDB); more than one matching budget is a 500; an unready pod
is deleted without using the budget under `unhealthyPodEvictionPolicy: AlwaysAllow`, or under
IfHealthyBudget (the default) while the budget is healthy; otherwise checkAndDecrement: 429 while
the budget's status is stale ("still being processed") or allows no disruption, 403 for a
negative allowance or an overfull disruptedPods map, else one disruption is used (recorded in
disruptedPods, DisruptionAllowed=False once none is left). Before deleting, the pod gets the
DisruptionTarget condition (addConditionAndDeletePod).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from kubeproc.api import errors, resources, selectors
from kubeproc.registry.registry import Registry, WriteOptions

_PDB = resources.by_kind("policy", "PodDisruptionBudget")
_POD = resources.by_kind("", "Pod")
MAX_DISRUPTED_POD_SIZE = 2000  # eviction.go MaxDisruptedPodSize
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


@dataclass(frozen=True)
class Decision:
    """What an eviction does: `use_budget` names the PDB to decrement ("" for none); `error`
    refuses it."""

    use_budget: str = ""
    error: errors.StatusError | None = None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def can_ignore_pdb(pod: dict[str, Any]) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or bool(pod["metadata"].get("deletionTimestamp"))


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def matching_budgets(pod: dict[str, Any], pdbs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """getPodDisruptionBudgets: an empty (or invalid) selector matches nothing."""
    labels = pod["metadata"].get("labels") or {}
    out = []
    for pdb in pdbs:
        try:
            sel = selectors.from_label_selector((pdb.get("spec") or {}).get("selector"))
        except (errors.StatusError, ValueError):
            continue
        if not sel.empty() and sel.matches(labels):
            out.append(pdb)
    return out


def decide(pod: dict[str, Any], pdbs: list[dict[str, Any]]) -> Decision:
    """The eviction of a pod that cannot ignore budgets, given the budgets that match it."""
    if len(pdbs) > 1:
        return Decision(error=errors.InternalError(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."))
    if not pdbs:
        return Decision()
    pdb = pdbs[0]
    spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
    if not is_ready(pod):
        if spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
            return Decision()  # an unhealthy pod counts for nothing: no budget used
        desired = int(status.get("desiredHealthy", 0) or 0)
        if int(status.get("currentHealthy", 0) or 0) >= desired > 0:
            return Decision()  # IfHealthyBudget: the application is not disrupted
    return Decision(use_budget=pdb["metadata"]["name"], error=check(pdb))


def check(pdb: dict[str, Any]) -> errors.StatusError | None:
    """checkAndDecrement's refusals."""
    meta, status = pdb["metadata"], pdb.get("status") or {}
    name = meta["name"]
    if int(status.get("observedGeneration", 0) or 0) < int(meta.get("generation", 0) or 0):
        return errors.TooManyRequests(VIOLATION, retry_after=10, causes=[errors.Cause(
            "DisruptionBudget", f"The disruption budget {name} is still being processed by the server.")])
    allowed = int(status.get("disruptionsAllowed", 0) or 0)
    if allowed < 0:
        return errors.Forbidden(f'poddisruptionbudget.policy "{name}" is forbidden: '
                                "pdb disruptions allowed is negative",
                                kind="poddisruptionbudget", group="policy", name=name)
    if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_POD_SIZE:
        return errors.Forbidden(f'poddisruptionbudget.policy "{name}" is forbidden: DisruptedPods map '
                                "too big - too many evictions not confirmed by PDB controller",
                                kind="poddisruptionbudget", group="policy", name=name)
    if allowed == 0:
        return errors.TooManyRequests(VIOLATION, causes=[errors.Cause(
            "DisruptionBudget", f"The disruption budget {name} needs {status.get('desiredHealthy', 0)} "
                                f"healthy pods and has {status.get('currentHealthy', 0)} currently")])
    return None


def use_one(pdb: dict[str, Any], pod_name: str) -> dict[str, Any]:
    """checkAndDecrement's write: one disruption fewer, the pod in disruptedPods, and the
    DisruptionAllowed condition False once none is left (pdb/helpers UpdateDisruptionAllowedCondition)."""
    st = pdb.setdefault("status", {})
    st["disruptionsAllowed"] = int(st.get("disruptionsAllowed", 0) or 0) - 1
    st.setdefault("disruptedPods", {})[pod_name] = _now()
    if st["disruptionsAllowed"] == 0:
        conds = st.setdefault("conditions", [])
        cur = next((c for c in conds if c.get("type") == "DisruptionAllowed"), None)
        new = {"type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods", "message": "",
               "observedGeneration": st.get("observedGeneration", 0)}
        if cur is None:
            conds.append({**new, "lastTransitionTime": _now()})
        else:
            if cur.get("status") != "False":
                cur["lastTransitionTime"] = _now()
            cur.update(new)
    return pdb


async def evict(reg: Registry, namespace: str, name: str, eviction: Any, dry_run: bool) -> dict[str, Any]:
    assert _POD is not None and _PDB is not None
    if not isinstance(eviction, dict) or eviction.get("kind") not in ("Eviction", None):
        raise errors.BadRequest("the body of the request must be a policy/v1 Eviction")
    if (eviction.get("metadata") or {}).get("name", name) != name:
        raise errors.BadRequest("name in URL does not match name in Eviction object")
    pod = reg.get_obj(_POD, namespace, name)
    options = dict(eviction.get("deleteOptions") or {})
    if not can_ignore_pdb(pod):
        pdbs = matching_budgets(pod, [e.obj() for e in reg.list(_PDB, namespace).items])
        decision = decide(pod, pdbs)
        if decision.error is not None:
            raise decision.error
        if decision.use_budget and not dry_run:
            await reg.patch_with(_PDB, namespace, decision.use_budget, lambda old: use_one(old, name),
                                 WriteOptions(subresource="status", field_manager="kubeproc-eviction"))
    if not dry_run:
        await _mark_disruption_target(reg, namespace, name)
    await reg.delete(_POD, namespace, name, options, dry_run)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


async def _mark_disruption_target(reg: Registry, namespace: str, name: str) -> None:
    """addConditionAndDeletePod: the pod says why it goes (DisruptionTarget, EvictionByEvictionAPI)."""
    assert _POD is not None

    def mutate(old: dict[str, Any]) -> dict[str, Any]:
        status = old.setdefault("status", {})
        conds = [c for c in status.get("conditions") or [] if c.get("type") != "DisruptionTarget"]
        prev = next((c for c in status.get("conditions") or [] if c.get("type") == "DisruptionTarget"), None)
        keep = prev is not None and prev.get("status") == "True"
        conds.append({"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": prev.get("lastTransitionTime") if keep and prev else _now(),
                      "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting"})
        status["conditions"] = conds
        return old
    await reg.patch_with(_POD, namespace, name, mutate,
                         WriteOptions(subresource="status", field_manager="kubeproc-eviction"))
