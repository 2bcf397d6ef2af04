"""metav1.LabelSelector validation and matching.

Validation follows apimachinery/pkg/apis/meta/v1/validation (ValidateLabelSelector,
ValidateLabelSelectorRequirement); `convertible` mirrors when metav1.LabelSelectorAsSelector
fails, and `matches` is the selector semantics of k8s.io/apimachinery/pkg/labels.
"""

from __future__ import annotations

from typing import Any

from kubeproc.api.errors import Cause
from kubeproc.api.validation import names
from kubeproc.api.validation.fielderr import (
    as_dict, as_list, as_str, child, forbidden, index, invalid, required,
)
from kubeproc.api.validation.meta import validate_label_name, validate_labels

_OPS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(selector: Any, path: str) -> list[Cause]:
    if selector is None:
        return []
    sel = as_dict(selector)
    out = validate_labels(sel.get("matchLabels"), child(path, "matchLabels"))
    for i, expr in enumerate(as_list(sel.get("matchExpressions"))):
        out.extend(_requirement(as_dict(expr), index(child(path, "matchExpressions"), i)))
    return out


def _requirement(expr: dict[str, Any], path: str) -> list[Cause]:
    out: list[Cause] = []
    op = as_str(expr.get("operator"))
    values = as_list(expr.get("values"))
    if op in ("In", "NotIn"):
        if not values:
            out.append(required(child(path, "values"),
                                "must be specified when `operator` is 'In' or 'NotIn'"))
    elif op in ("Exists", "DoesNotExist"):
        if values:
            out.append(forbidden(child(path, "values"),
                                 "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    else:
        out.append(invalid(child(path, "operator"), op, "not a valid selector operator"))
    out.extend(validate_label_name(as_str(expr.get("key")), child(path, "key")))
    for i, v in enumerate(values):
        out.extend(invalid(index(child(path, "values"), i), v, m)
                   for m in names.is_label_value(as_str(v)))
    return out


def convertible(selector: Any) -> bool:
    """Whether metav1.LabelSelectorAsSelector would succeed."""
    sel = as_dict(selector)
    for k, v in as_dict(sel.get("matchLabels")).items():
        if names.is_qualified_name(k) or names.is_label_value(as_str(v)):
            return False
    for expr in as_list(sel.get("matchExpressions")):
        expr = as_dict(expr)
        op, values = as_str(expr.get("operator")), as_list(expr.get("values"))
        if op not in _OPS or names.is_qualified_name(as_str(expr.get("key"))):
            return False
        if (op in ("In", "NotIn")) != bool(values):
            return False
        if any(names.is_label_value(as_str(v)) for v in values):
            return False
    return True


def is_empty(selector: Any) -> bool:
    sel = as_dict(selector)
    return not as_dict(sel.get("matchLabels")) and not as_list(sel.get("matchExpressions"))


def matches(selector: Any, labels: Any) -> bool:
    """labels.Selector.Matches for a LabelSelector (an empty selector matches everything)."""
    sel, lbls = as_dict(selector), as_dict(labels)
    for k, v in as_dict(sel.get("matchLabels")).items():
        if lbls.get(k) != v:
            return False
    for expr in as_list(sel.get("matchExpressions")):
        expr = as_dict(expr)
        k, op, values = as_str(expr.get("key")), expr.get("operator"), as_list(expr.get("values"))
        present = k in lbls
        if op == "In" and not (present and lbls[k] in values):
            return False
        if op == "NotIn" and present and lbls[k] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def map_matches(selector: Any, labels: Any) -> bool:
    """A map selector (Service, ReplicationController) matches when every pair is present."""
    lbls = as_dict(labels)
    return all(lbls.get(k) == v for k, v in as_dict(selector).items())
