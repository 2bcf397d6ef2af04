"""Pods, pod specs and pod templates, including what a pod update may change.

Ports ValidatePodSpec, ValidatePodTemplateSpec, validatePodMetadataAndSpec and
ValidatePodUpdate of pkg/apis/core/validation/validation.go. Enum fields that upstream
always defaults (restartPolicy, dnsPolicy) are accepted when absent.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kubeproc.api.errors import Cause
from kubeproc.api.jsonmemo import SubtreeMemo
from kubeproc.api.validation import names
from kubeproc.api.validation.containers import validate_containers, validate_init_containers, validate_volumes
from kubeproc.api.validation.fielderr import (
    as_dict, as_list, as_str, child, forbidden, index, invalid, not_supported, required,
)
from kubeproc.api.validation.meta import validate_label_name, validate_labels, validate_template_meta

RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
MAX_INT32 = 2**31 - 1
UPDATABLE_POD_FIELDS = ",".join([
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
])


def _tolerations(tols: Any, path: str) -> list[Cause]:
    # ValidateTolerations
    out: list[Cause] = []
    for i, t in enumerate(as_list(tols)):
        t, p = as_dict(t), index(path, i)
        k, op, eff = as_str(t.get("key")), as_str(t.get("operator")), as_str(t.get("effect"))
        if k:
            out.extend(validate_label_name(k, child(p, "key")))
        if not k and op != "Exists":
            out.append(invalid(child(p, "operator"), op,
                               "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
        if t.get("tolerationSeconds") is not None and eff != "NoExecute":
            out.append(invalid(child(p, "effect"), eff, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        value = as_str(t.get("value"))
        if op in ("Equal", ""):
            errs = names.is_label_value(value)
            if errs:
                out.append(invalid(child(p, "operator"), value, ";".join(errs)))
        elif op == "Exists":
            if value:
                out.append(invalid(child(p, "operator"), value, "value must be empty when `operator` is 'Exists'"))
        else:
            out.append(not_supported(child(p, "operator"), op, ["Equal", "Exists"]))
        if eff and eff not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            out.append(not_supported(child(p, "effect"), eff, ["NoSchedule", "PreferNoSchedule", "NoExecute"]))
    return out


def validate_pod_spec(spec: Any, path: str) -> list[Cause]:
    """ValidatePodSpec (the parts that matter on one machine); memoized by the spec's JSON."""
    return _SPEC_MEMO(spec, path)


def validate_pod_spec_uncached(spec: Any, path: str) -> list[Cause]:
    """validate_pod_spec without the memo (the oracle its tests compare with)."""
    spec = as_dict(spec)
    out: list[Cause] = []
    vols, errs = validate_volumes(spec.get("volumes"), child(path, "volumes"))
    out.extend(errs)
    out.extend(validate_containers(spec.get("containers"), vols, child(path, "containers")))
    out.extend(validate_init_containers(spec.get("initContainers"), spec.get("containers"), vols,
                                        child(path, "initContainers")))
    rp = spec.get("restartPolicy")
    if rp and rp not in RESTART_POLICIES:
        out.append(not_supported(child(path, "restartPolicy"), rp, RESTART_POLICIES))
    dp = spec.get("dnsPolicy")
    if dp and dp not in DNS_POLICIES:
        out.append(not_supported(child(path, "dnsPolicy"), dp, DNS_POLICIES))
    out.extend(validate_labels(spec.get("nodeSelector"), child(path, "nodeSelector")))
    if dp == "None":
        cfg = spec.get("dnsConfig")
        if cfg is None:
            out.append(required(child(path, "dnsConfig"), "must provide `dnsConfig` when `dnsPolicy` is None"))
        elif not as_list(as_dict(cfg).get("nameservers")):
            out.append(required(child(path, "dnsConfig", "nameservers"),
                                "must provide at least one DNS nameserver when `dnsPolicy` is None"))
    for f, fn in (("serviceAccountName", names.name_is_dns_subdomain), ("nodeName", names.name_is_dns_subdomain),
                  ("priorityClassName", names.name_is_dns_subdomain)):
        v = as_str(spec.get(f))
        if v:
            out.extend(invalid(child(path, f), v, m) for m in fn(v, False))
    ads = spec.get("activeDeadlineSeconds")
    if isinstance(ads, int) and not 1 <= ads <= MAX_INT32:
        out.append(invalid(child(path, "activeDeadlineSeconds"), ads, names.inclusive_range_error(1, MAX_INT32)))
    for f in ("hostname", "subdomain"):
        v = as_str(spec.get(f))
        if v:
            out.extend(invalid(child(path, f), v, m) for m in names.is_dns1123_label(v))
    out.extend(_tolerations(spec.get("tolerations"), child(path, "tolerations")))
    return out


def validate_pod_template_spec(template: Any, path: str) -> list[Cause]:
    """ValidatePodTemplateSpec."""
    template = as_dict(template)
    out = validate_template_meta(template.get("metadata"), child(path, "metadata"))
    out.extend(validate_pod_spec(template.get("spec"), child(path, "spec")))
    if as_list(as_dict(template.get("spec")).get("ephemeralContainers")):
        out.append(forbidden(child(path, "spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
    return out


def _pod_metadata_and_spec(pod: dict[str, Any]) -> list[Cause]:
    # validatePodMetadataAndSpec (ObjectMeta is checked by the caller, see __init__.validate)
    spec = as_dict(pod.get("spec"))
    out = validate_pod_spec(spec, "spec")
    for list_name in ("containers", "initContainers"):
        for i, ctr in enumerate(as_list(spec.get(list_name))):
            image = as_str(as_dict(ctr).get("image"))
            if image != image.strip():
                out.append(invalid(child(index(child("spec", list_name), i), "image"), image,
                                   "must not have leading or trailing whitespace"))
    return out


def validate_pod(pod: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    if old is None:
        return _pod_metadata_and_spec(pod)
    return validate_pod_update(pod, old)


def _diff_lines(old: Any, new: Any, path: str, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in list(old) + [k for k in new if k not in old]:
            _diff_lines(old.get(k), new.get(k), f"{path}.{k}" if path else k, out)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            _diff_lines(a, b, f"{path}[{i}]", out)
    elif old != new:
        if old is not None:
            out.append(f"- \t{path}: {json.dumps(old, sort_keys=True)}")
        if new is not None:
            out.append(f"+ \t{path}: {json.dumps(new, sort_keys=True)}")


def spec_diff(old: Any, new: Any, type_name: str) -> str:
    """A readable stand-in for the cmp.Diff upstream appends to 'immutable spec' errors."""
    lines: list[str] = []
    _diff_lines(old, new, "", lines)
    return "\n".join([f"  {type_name}{{"] + lines + ["  }"])


def _container_updates(new: list[Any], old: list[Any], path: str) -> tuple[list[Cause], bool]:
    # ValidateContainerUpdates
    if len(new) != len(old):
        return [forbidden(path, "pod updates may not add or remove containers")], True
    out = [required(child(index(path, i), "image")) for i, c in enumerate(new)
           if not as_str(as_dict(c).get("image"))]
    return out, False


def _only_added_tolerations(new: list[Any], old: list[Any], path: str) -> list[Cause]:
    # validateOnlyAddedTolerations: every old toleration must survive (tolerationSeconds may change)
    def strip(t: Any) -> dict[str, Any]:
        return {k: v for k, v in as_dict(t).items() if k != "tolerationSeconds"}
    for o in old:
        if not any(strip(o) == strip(n) for n in new):
            return [forbidden(path, "existing toleration can not be modified except its tolerationSeconds")]
    return _tolerations(new, path)


def validate_pod_update(pod: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """ValidatePodUpdate: full validation, then the updatable-fields check (metadata: caller)."""
    out = _pod_metadata_and_spec(pod)
    spec, old_spec = as_dict(pod.get("spec")), as_dict(old.get("spec"))
    for list_name in ("containers", "initContainers"):
        errs, stop = _container_updates(as_list(spec.get(list_name)), as_list(old_spec.get(list_name)),
                                        child("spec", list_name))
        out.extend(errs)
        if stop:
            return out
    new_ads, old_ads = spec.get("activeDeadlineSeconds"), old_spec.get("activeDeadlineSeconds")
    if new_ads is not None:
        if isinstance(new_ads, int) and not 0 <= new_ads <= MAX_INT32:
            out.append(invalid("spec.activeDeadlineSeconds", new_ads, names.inclusive_range_error(0, MAX_INT32)))
            return out
        if isinstance(old_ads, int) and isinstance(new_ads, int) and old_ads < new_ads:
            out.append(invalid("spec.activeDeadlineSeconds", new_ads, "must be less than or equal to previous value"))
            return out
    elif old_ads is not None:
        out.append(invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"))
    out.extend(_only_added_tolerations(as_list(spec.get("tolerations")), as_list(old_spec.get("tolerations")),
                                       "spec.tolerations"))
    if spec == old_spec:
        return out
    munged = copy.deepcopy(spec)
    for list_name in ("containers", "initContainers"):
        for c, o in zip(as_list(munged.get(list_name)), as_list(old_spec.get(list_name))):
            if isinstance(c, dict):
                c["image"] = as_dict(o).get("image")
    for f in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        munged.pop(f, None)
        if f in old_spec:
            munged[f] = old_spec[f]
    old_grace = old_spec.get("terminationGracePeriodSeconds")
    if isinstance(old_grace, int) and old_grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if munged != old_spec:
        out.append(forbidden("spec", f"pod updates may not change fields other than {UPDATABLE_POD_FIELDS}\n"
                                     + spec_diff(old_spec, munged, "core.PodSpec")))
    return out


_SPEC_MEMO = SubtreeMemo(validate_pod_spec_uncached)
