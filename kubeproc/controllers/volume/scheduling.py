"""The scheduler's side of WaitForFirstConsumer: which of a pod's claims get the node.

Upstream the VolumeBinding plugin (pkg/scheduler/framework/plugins/volumebinding, binder.go
AssumePodVolumes/BindPodVolumes) annotates each unbound delayed-binding claim of a pod with
volume.kubernetes.io/selected-node before the pod is bound; the provisioner takes it from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeproc.controllers.volume import binder as b


def _claims_of(pod: Mapping[str, Any]) -> list[str]:
    name = (pod.get("metadata") or {}).get("name", "")
    out: list[str] = []
    for vol in (pod.get("spec") or {}).get("volumes") or ():
        if vol.get("persistentVolumeClaim") is not None:
            claim = vol["persistentVolumeClaim"].get("claimName") or ""
        elif vol.get("ephemeral") is not None:
            claim = f"{name}-{vol.get('name', '')}"
        else:
            continue
        if claim not in out:
            out.append(claim)
    return out


def claims_to_select(pod: Mapping[str, Any], claims: Mapping[tuple[str, str], Mapping[str, Any]],
                     classes: Mapping[str, Mapping[str, Any]], node_name: str) -> list[str]:
    """Names of the pod's claims (in its namespace) to annotate with
    `volume.kubernetes.io/selected-node: node_name` before binding the pod to `node_name`:
    unbound claims of a WaitForFirstConsumer class not already pointing at that node.
    `claims` is keyed by (namespace, name); missing claims are skipped."""
    ns = (pod.get("metadata") or {}).get("namespace", "")
    out = []
    for name in _claims_of(pod):
        claim = claims.get((ns, name))
        if claim is None or (claim.get("spec") or {}).get("volumeName"):
            continue
        if not b.is_delay_binding(claim, classes):
            continue
        anns = (claim.get("metadata") or {}).get("annotations") or {}
        if anns.get(b.ANN_SELECTED_NODE) != node_name:
            out.append(name)
    return out


def select_node(claim: dict[str, Any], node_name: str) -> dict[str, Any]:
    """Set the selected-node annotation on `claim` in place (a mutate function body)."""
    claim.setdefault("metadata", {}).setdefault("annotations", {})[b.ANN_SELECTED_NODE] = node_name
    return claim


def prefilter_reason(pod: Mapping[str, Any], claims: Mapping[tuple[str, str], Mapping[str, Any]],
                     classes: Mapping[str, Mapping[str, Any]]) -> str | None:
    """volume_binding.go PreFilter (via binder.go GetPodVolumeClaims): why no node can take
    the pod because of its claims, or None. Upstream reports these UnschedulableAndUnresolvable."""
    ns = (pod.get("metadata") or {}).get("namespace", "")
    unbound_immediate = False
    for name in _claims_of(pod):
        claim = claims.get((ns, name))
        if claim is None:
            return f'persistentvolumeclaim "{name}" not found'
        if (claim.get("metadata") or {}).get("deletionTimestamp"):
            return f'persistentvolumeclaim "{name}" is being deleted'
        if not (claim.get("spec") or {}).get("volumeName") and not b.is_delay_binding(claim, classes):
            unbound_immediate = True
    return "pod has unbound immediate PersistentVolumeClaims" if unbound_immediate else None
