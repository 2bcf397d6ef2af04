"""Create-time mutations of a Pod by the default admission chain and the pod registry strategy.

ServiceAccount (plugin/pkg/admission/serviceaccount: names only, no token volume),
DefaultTolerationSeconds, Priority, and pkg/registry/core/pod/strategy.go PrepareForCreate
(status Pending + QoS class, SchedulingGated condition). Kubernetes 1.33, default plugins.
Functions mutate the (already defaulted) pod they are given.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Mapping

from kubeproc.api import quantity
from kubeproc.api.errors import Forbidden

# plugin/pkg/admission/priority: classes that always exist, name -> (value, preemptionPolicy)
SYSTEM_PRIORITY_CLASSES: dict[str, tuple[int, str]] = {
    "system-node-critical": (2000001000, "PreemptLowerPriority"),
    "system-cluster-critical": (2000000000, "PreemptLowerPriority"),
}

_MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
_TOLERATION_SECONDS = 300  # --default-not-ready-toleration-seconds / unreachable default
_QOS_RESOURCES = ("cpu", "memory")

def parse_quantity(value: Any) -> Fraction:
    """Exact value of a resource.Quantity (string or number); unparsable counts as zero."""
    if isinstance(value, bool):
        return Fraction(0)
    try:
        return quantity.parse_quantity(value if isinstance(value, (int, float, str)) else str(value))
    except quantity.QuantityError:
        return Fraction(0)


def pod_qos_class(spec: Mapping[str, Any]) -> str:
    """pkg/apis/core/helper/qos GetPodQOS (PodLevelResources off), over defaulted containers."""
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    guaranteed = True
    containers = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    for container in containers:
        resources = container.get("resources") if isinstance(container, dict) else None
        resources = resources if isinstance(resources, dict) else {}
        for name, value in (resources.get("requests") or {}).items():
            amount = parse_quantity(value)
            if name in _QOS_RESOURCES and amount > 0:
                requests[name] = requests.get(name, Fraction(0)) + amount
        found: set[str] = set()
        for name, value in (resources.get("limits") or {}).items():
            amount = parse_quantity(value)
            if name in _QOS_RESOURCES and amount > 0:
                found.add(name)
                limits[name] = limits.get(name, Fraction(0)) + amount
        if not found.issuperset(_QOS_RESOURCES):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and all(limits.get(n) == v for n, v in requests.items()) \
            and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


def admit_service_account(pod: dict[str, Any], spec: dict[str, Any]) -> None:
    # plugin/pkg/admission/serviceaccount Admit: default account, mirror pods excluded
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if _MIRROR_ANNOTATION in annotations:
        return
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = "default"
    # v1 conversion mirrors the name into the deprecated field
    spec["serviceAccount"] = spec["serviceAccountName"]


def admit_default_toleration_seconds(spec: dict[str, Any]) -> None:
    # plugin/pkg/admission/defaulttolerationseconds: tolerate not-ready/unreachable for 300s
    tolerations = spec.get("tolerations")
    if not isinstance(tolerations, list):
        tolerations = []
    covered = {"node.kubernetes.io/not-ready": False, "node.kubernetes.io/unreachable": False}
    for toleration in tolerations:
        if not isinstance(toleration, dict):
            continue
        key = toleration.get("key") or ""
        if toleration.get("effect") in ("NoExecute", "", None):
            for taint in covered:
                if key in (taint, ""):
                    covered[taint] = True
    for taint, done in covered.items():
        if not done:
            tolerations.append({"key": taint, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": _TOLERATION_SECONDS})
    if tolerations:
        spec["tolerations"] = tolerations


def admit_priority(pod: dict[str, Any], spec: dict[str, Any],
                   priority_classes: Mapping[str, tuple[int, str]] | None = None) -> None:
    """plugin/pkg/admission/priority admitPod on create.

    `priority_classes` maps extra PriorityClass names to (value, preemptionPolicy); a class with
    globalDefault is not modelled (no default class: priority 0, PreemptLowerPriority).
    """
    name = (pod.get("metadata") or {}).get("name") or ""
    classes = {**SYSTEM_PRIORITY_CLASSES, **(priority_classes or {})}
    class_name = spec.get("priorityClassName") or ""
    if not class_name:
        priority, policy = 0, "PreemptLowerPriority"
    elif class_name in classes:
        priority, policy = classes[class_name]
    else:
        raise Forbidden(f'pods "{name}" is forbidden: no PriorityClass with name '
                        f'{class_name} was found', kind="pods", name=name)
    given = spec.get("priority")
    if given is not None and given != priority:
        raise Forbidden(
            f'pods "{name}" is forbidden: the integer value of priority ({given}) must not be '
            f'provided in pod spec; priority admission controller computed {priority} from the '
            f'given PriorityClass name', kind="pods", name=name)
    spec["priority"] = priority
    given_policy = spec.get("preemptionPolicy")
    if given_policy is not None and given_policy != policy:
        raise Forbidden(
            f'pods "{name}" is forbidden: the string value of PreemptionPolicy ({given_policy}) '
            f'must not be provided in pod spec; priority admission controller computed {policy} '
            f'from the given PriorityClass name', kind="pods", name=name)
    spec["preemptionPolicy"] = policy


def prepare_pod_for_create(pod: dict[str, Any], spec: dict[str, Any]) -> None:
    # pkg/registry/core/pod/strategy.go PrepareForCreate: client-set status is discarded
    status: dict[str, Any] = {"phase": "Pending", "qosClass": pod_qos_class(spec)}
    if spec.get("schedulingGates"):  # applySchedulingGatedCondition
        status["conditions"] = [{
            "type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
            "message": "Scheduling is blocked due to non-empty scheduling gates",
            "lastProbeTime": None, "lastTransitionTime": None,
        }]
    pod["status"] = status


def admit_pod(pod: dict[str, Any],
              priority_classes: Mapping[str, tuple[int, str]] | None = None) -> None:
    """All create-time pod mutations, in apiserver order (admission, then PrepareForCreate)."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        spec = pod["spec"] = {}
    admit_service_account(pod, spec)
    admit_default_toleration_seconds(spec)
    admit_priority(pod, spec, priority_classes)
    prepare_pod_for_create(pod, spec)
