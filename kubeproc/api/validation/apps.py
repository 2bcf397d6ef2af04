"""apps/v1 kinds: Deployment, ReplicaSet, StatefulSet, ControllerRevision.

Ports pkg/apis/apps/validation/validation.go (ValidateDeploymentSpec, ValidateReplicaSetSpec,
ValidateStatefulSetSpec/Update, ValidateRollingUpdateDeployment, ValidateControllerRevision)
and the apps/v1 strategies' selector immutability (pkg/registry/apps/*/strategy.go).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kubeproc.api.errors import Cause
from kubeproc.api.validation import names
from kubeproc.api.validation.fielderr import (
    IMMUTABLE, GoRepr, as_dict, forbidden, go_int_or_string, go_label_selector, go_string_map,
    invalid, nonnegative, not_supported, required,
)
from kubeproc.api.validation.pods import validate_pod_template_spec
from kubeproc.api.validation.selectors import convertible, is_empty, matches, validate_label_selector
from kubeproc.api.validation.meta import validate_template_meta

_PERCENT = re.compile(r"^[0-9]+%$")
STATEFULSET_SPEC_FORBIDDEN = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
    "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")


def validate_positive_int_or_percent(v: Any, path: str) -> list[Cause]:
    # ValidatePositiveIntOrPercent
    if isinstance(v, str):
        return [invalid(path, go_int_or_string(v), m) for m in names.is_valid_percent(v)]
    if isinstance(v, int) and v < 0:
        return [invalid(path, v, "must be greater than or equal to 0")]
    return []


def int_or_percent_value(v: Any) -> int:
    if isinstance(v, str):
        return int(v[:-1]) if _PERCENT.match(v) else 0
    return v if isinstance(v, int) else 0


def not_more_than_100_percent(v: Any, path: str) -> list[Cause]:
    if isinstance(v, str) and _PERCENT.match(v) and int(v[:-1]) > 100:
        return [invalid(path, go_int_or_string(v), "must not be greater than 100%")]
    return []


def _selector_and_template(spec: dict[str, Any], kind: str, validate_spec: bool) -> list[Cause]:
    """Selector required/valid/non-empty and matching the template labels."""
    out: list[Cause] = []
    selector = spec.get("selector")
    if selector is None:
        out.append(required("spec.selector"))
    else:
        out.extend(validate_label_selector(selector, "spec.selector"))
        if is_empty(selector):
            out.append(invalid("spec.selector", go_label_selector(selector), f"empty selector is invalid for {kind}"))
    template = as_dict(spec.get("template"))
    labels = as_dict(template.get("metadata")).get("labels")
    if selector is not None and not convertible(selector):
        msg = "" if kind == "statefulset" else "invalid label selector"
        out.append(invalid("spec.selector", go_label_selector(selector), msg))
    elif selector is not None and not is_empty(selector) and not matches(selector, labels):
        out.append(invalid("spec.template.metadata.labels", go_string_map(labels if isinstance(labels, dict) else None),
                           "`selector` does not match template `labels`"))
    if validate_spec:
        out.extend(validate_pod_template_spec(template, "spec.template"))
    else:
        # ValidatePodTemplateSpecForStatefulSet checks only the template's labels/annotations
        out.extend(validate_template_meta(template.get("metadata"), "spec.template"))
    tspec = as_dict(template.get("spec"))
    rp = tspec.get("restartPolicy")
    if rp and rp != "Always":
        out.append(not_supported("spec.template.spec.restartPolicy", rp, ["Always"]))
    if tspec.get("activeDeadlineSeconds") is not None:
        label = {"deployment": "ReplicaSet", "replicaset": "ReplicaSet", "statefulset": "StatefulSet"}[kind]
        out.append(forbidden("spec.template.spec.activeDeadlineSeconds", f"activeDeadlineSeconds in {label} is not Supported"))
    return out


def _selector_immutable(new: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    # apps/v1 strategies: ValidateImmutableField(spec.selector)
    if old is None:
        return []
    ns, os_ = as_dict(new.get("spec")).get("selector"), as_dict(old.get("spec")).get("selector")
    if _norm_selector(ns) != _norm_selector(os_):
        return [invalid("spec.selector", go_label_selector(ns), IMMUTABLE)]
    return []


def _norm_selector(sel: Any) -> tuple[Any, Any]:
    sel = as_dict(sel)
    return (as_dict(sel.get("matchLabels")) or None, sel.get("matchExpressions") or None)


def _deployment_strategy(strategy: Any) -> list[Cause]:
    strategy = as_dict(strategy)
    stype = strategy.get("type")
    path = "spec.strategy"
    if stype == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            return [forbidden(path + ".rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if stype in ("RollingUpdate", None, ""):
        ru = strategy.get("rollingUpdate")
        if ru is None:
            return []  # defaulted upstream (25%/25%)
        ru, rp = as_dict(ru), path + ".rollingUpdate"
        mu, ms = ru.get("maxUnavailable", "25%"), ru.get("maxSurge", "25%")
        out = validate_positive_int_or_percent(mu, rp + ".maxUnavailable")
        out.extend(validate_positive_int_or_percent(ms, rp + ".maxSurge"))
        if int_or_percent_value(mu) == 0 and int_or_percent_value(ms) == 0:
            out.append(invalid(rp + ".maxUnavailable", go_int_or_string(mu), "may not be 0 when `maxSurge` is 0"))
        out.extend(not_more_than_100_percent(mu, rp + ".maxUnavailable"))
        return out
    return [not_supported(path, stype, ["Recreate", "RollingUpdate"])]


def validate_deployment(d: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = as_dict(d.get("spec"))
    out = nonnegative("spec.replicas", spec.get("replicas"))
    out.extend(_selector_and_template(spec, "deployment", True))
    out.extend(_deployment_strategy(spec.get("strategy")))
    out.extend(nonnegative("spec.minReadySeconds", spec.get("minReadySeconds")))
    out.extend(nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit")))
    pds = spec.get("progressDeadlineSeconds")
    if isinstance(pds, int):
        out.extend(nonnegative("spec.progressDeadlineSeconds", pds))
        if pds <= (spec.get("minReadySeconds") or 0):
            out.append(invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"))
    out.extend(_selector_immutable(d, old))
    return out


def validate_replica_set(rs: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = as_dict(rs.get("spec"))
    out = nonnegative("spec.replicas", spec.get("replicas"))
    out.extend(nonnegative("spec.minReadySeconds", spec.get("minReadySeconds")))
    # upstream reuses the deployment wording for an empty ReplicaSet selector
    out.extend(_selector_and_template(spec, "deployment", True))
    out.extend(_selector_immutable(rs, old))
    return out


def validate_stateful_set(ss: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = as_dict(ss.get("spec"))
    out: list[Cause] = []
    pmp = spec.get("podManagementPolicy")
    if pmp and pmp not in ("OrderedReady", "Parallel"):
        out.append(invalid("spec.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'"))
    us = as_dict(spec.get("updateStrategy"))
    utype = us.get("type")
    if utype == "OnDelete" and us.get("rollingUpdate") is not None:
        out.append(invalid("spec.updateStrategy.rollingUpdate", None, "only allowed for updateStrategy 'RollingUpdate'"))
    elif utype in ("RollingUpdate", None, "") and us.get("rollingUpdate") is not None:
        ru = as_dict(us.get("rollingUpdate"))
        out.extend(nonnegative("spec.updateStrategy.rollingUpdate.partition", ru.get("partition")))
        mu = ru.get("maxUnavailable")
        if mu is not None:
            p = "spec.updateStrategy.rollingUpdate.maxUnavailable"
            out.extend(validate_positive_int_or_percent(mu, p))
            if int_or_percent_value(mu) == 0:
                out.append(invalid(p, go_int_or_string(mu), "cannot be 0"))
            out.extend(not_more_than_100_percent(mu, p))
    elif utype not in ("OnDelete", "RollingUpdate", None, ""):
        shown = GoRepr(f'apps.StatefulSetUpdateStrategy{{Type:"{utype}", '
                       'RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)(nil)}')
        out.append(invalid("spec.updateStrategy", shown, "must be 'RollingUpdate' or 'OnDelete'"))
    policy = as_dict(spec.get("persistentVolumeClaimRetentionPolicy"))
    for f in ("whenDeleted", "whenScaled"):
        v = policy.get(f)
        if v is not None and v not in ("Retain", "Delete"):
            out.append(not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{f}", v, ["Retain", "Delete"]))
    out.extend(nonnegative("spec.replicas", spec.get("replicas")))
    out.extend(nonnegative("spec.minReadySeconds", spec.get("minReadySeconds")))
    out.extend(nonnegative("spec.ordinals.start", as_dict(spec.get("ordinals")).get("start")))
    out.extend(_selector_and_template(spec, "statefulset", False))
    if old is not None:
        new_spec, old_spec = copy.deepcopy(spec), as_dict(old.get("spec"))
        for f in ("replicas", "template", "updateStrategy", "minReadySeconds", "ordinals",
                  "persistentVolumeClaimRetentionPolicy"):
            new_spec.pop(f, None)
            if f in old_spec:
                new_spec[f] = old_spec[f]
        if new_spec != old_spec:
            out.append(forbidden("spec", STATEFULSET_SPEC_FORBIDDEN))
    return out


def validate_controller_revision(cr: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    if cr.get("data") is None:
        out.append(required("data", "data is mandatory"))
    out.extend(nonnegative("revision", cr.get("revision")))
    if old is not None and cr.get("data") != old.get("data"):
        out.append(invalid("data", None, IMMUTABLE))
    return out

