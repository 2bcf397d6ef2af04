"""Kinds of the smaller groups: PodDisruptionBudget (policy), EndpointSlice (discovery),
StorageClass (storage), Lease (coordination), SelfSubjectAccessReview (authorization).

Ports pkg/apis/policy/validation, pkg/apis/discovery/validation, pkg/apis/storage/validation,
pkg/apis/coordination/validation and pkg/apis/authorization/validation.
"""

from __future__ import annotations

from typing import Any

from kubeproc.api.errors import Cause
from kubeproc.api.validation import names
from kubeproc.api.validation.apps import not_more_than_100_percent, validate_positive_int_or_percent
from kubeproc.api.validation.fielderr import (
    GoRepr, as_dict, as_int, as_list, as_str, child, forbidden, immutable, index, invalid,
    not_supported, required, too_long,
)
from kubeproc.api.validation.selectors import validate_label_selector

ADDRESS_TYPES = ["FQDN", "IPv4", "IPv6"]
MAX_PROVISIONER_PARAMETER_SIZE = 256 * 1024
MAX_PROVISIONER_PARAMETER_LEN = 512


def validate_pdb(pdb: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    # policy validation ValidatePodDisruptionBudgetSpec
    spec = as_dict(pdb.get("spec"))
    out: list[Cause] = []
    min_a, max_u = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_a is not None and max_u is not None:
        shown = GoRepr("policy.PodDisruptionBudgetSpec{MinAvailable:(*intstr.IntOrString)(0xc000000000), "
                       "Selector:(*v1.LabelSelector)(0xc000000000), MaxUnavailable:(*intstr.IntOrString)(0xc000000000), "
                       "UnhealthyPodEvictionPolicy:(*policy.UnhealthyPodEvictionPolicyType)(nil)}")
        out.append(invalid("spec", shown, "minAvailable and maxUnavailable cannot be both set"))
    for name, v in (("minAvailable", min_a), ("maxUnavailable", max_u)):
        if v is not None:
            out.extend(validate_positive_int_or_percent(v, f"spec.{name}"))
            out.extend(not_more_than_100_percent(v, f"spec.{name}"))
    out.extend(validate_label_selector(spec.get("selector"), "spec.selector"))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("AlwaysAllow", "IfHealthyBudget"):
        out.append(not_supported("spec.unhealthyPodEvictionPolicy", policy, ["AlwaysAllow", "IfHealthyBudget"]))
    return out


def validate_lease(lease: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    # coordination validation ValidateLeaseSpec
    spec = as_dict(lease.get("spec"))
    out: list[Cause] = []
    dur = spec.get("leaseDurationSeconds")
    if isinstance(dur, int) and dur <= 0:
        out.append(invalid("spec.leaseDurationSeconds", dur, "must be greater than 0"))
    trans = spec.get("leaseTransitions")
    if isinstance(trans, int) and trans < 0:
        out.append(invalid("spec.leaseTransitions", trans, "must be greater than or equal to 0"))
    strategy = spec.get("strategy")
    if strategy is not None and strategy != "OldestEmulationVersion":
        out.append(not_supported("spec.strategy", strategy, ["OldestEmulationVersion"]))
    if as_str(spec.get("preferredHolder")) and not as_str(strategy):
        out.append(forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"))
    return out


def validate_storage_class(sc: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    # storage validation ValidateStorageClass / ValidateStorageClassUpdate
    out: list[Cause] = []
    if old is not None:
        if sc.get("parameters") != old.get("parameters"):
            out.append(forbidden("parameters", "updates to parameters are forbidden."))
        if sc.get("provisioner") != old.get("provisioner"):
            out.append(forbidden("provisioner", "updates to provisioner are forbidden."))
        if sc.get("reclaimPolicy") != old.get("reclaimPolicy"):
            out.append(forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
        out.extend(immutable("volumeBindingMode", sc.get("volumeBindingMode"), old.get("volumeBindingMode")))
        return out
    prov = as_str(sc.get("provisioner"))
    if not prov:
        out.append(required("provisioner"))
    else:
        out.extend(invalid("provisioner", prov.lower(), m) for m in names.is_qualified_name(prov.lower()))
    params = as_dict(sc.get("parameters"))
    if len(params) > MAX_PROVISIONER_PARAMETER_LEN:
        out.append(too_long("parameters", MAX_PROVISIONER_PARAMETER_LEN))
    size = 0
    for k, v in params.items():
        if not k:
            out.append(invalid("parameters", k, "field can not be empty."))
        size += len(k) + len(as_str(v))
    if size > MAX_PROVISIONER_PARAMETER_SIZE:
        out.append(too_long("parameters", MAX_PROVISIONER_PARAMETER_SIZE))
    rp = sc.get("reclaimPolicy")
    if rp and rp not in ("Delete", "Retain"):
        out.append(not_supported("reclaimPolicy", rp, ["Delete", "Retain"]))
    mode = sc.get("volumeBindingMode")
    if mode is not None and mode not in ("Immediate", "WaitForFirstConsumer"):
        out.append(not_supported("volumeBindingMode", mode, ["Immediate", "WaitForFirstConsumer"]))
    return out


def validate_endpoint_slice(es: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    # discovery validation ValidateEndpointSlice (the structural parts)
    out: list[Cause] = []
    at = as_str(es.get("addressType"))
    if not at:
        out.append(required("addressType"))
    elif at not in ADDRESS_TYPES:
        out.append(not_supported("addressType", at, ADDRESS_TYPES))
    for i, ep in enumerate(as_list(es.get("endpoints"))):
        addrs = as_list(as_dict(ep).get("addresses"))
        p = child(index("endpoints", i), "addresses")
        if not addrs:
            out.append(required(p, "must contain at least 1 address"))
        elif len(addrs) > 100:
            out.append(Cause("FieldValueTooMany", f"Too many: {len(addrs)}: must have at most 100 items", p))
    for i, port in enumerate(as_list(es.get("ports"))):
        port, p = as_dict(port), index("ports", i)
        if port.get("port") is not None:
            n = as_int(port.get("port"))
            out.extend(invalid(child(p, "port"), n, m) for m in names.is_valid_port_num(n))
        proto = port.get("protocol")
        if proto is not None and proto not in ("SCTP", "TCP", "UDP"):
            out.append(not_supported(child(p, "protocol"), proto, ["SCTP", "TCP", "UDP"]))
    if old is not None and as_str(old.get("addressType")) in ADDRESS_TYPES:
        out.extend(immutable("addressType", at, as_str(old.get("addressType"))))
    return out


def validate_self_subject_access_review(sar: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    # authorization validation ValidateSelfSubjectAccessReviewSpec
    spec = as_dict(sar.get("spec"))
    ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if ra is not None and nra is not None:
        return [invalid("spec.nonResourceAttributes", GoRepr("&authorization.NonResourceAttributes{...}"),
                        "cannot be specified in combination with resourceAttributes")]
    if ra is None and nra is None:
        return [invalid("spec.resourceAttributes", None,
                        "exactly one of nonResourceAttributes or resourceAttributes must be specified")]
    return []
