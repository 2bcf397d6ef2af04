"""Field paths and field-error causes worded exactly like upstream field.Error.

Paths follow k8s.io/apimachinery/pkg/util/validation/field/path.go (`a.b[0][key]`); values
that upstream prints with Go's %#v (maps, selectors, IntOrString) are rendered the same way
here so that messages such as `Invalid value: map[string]string{"app":"x"}` match a real cluster.
"""

from __future__ import annotations

import json
from typing import Any

from kubeproc.api.errors import Cause

IMMUTABLE = "field is immutable"  # apimachinery validation.FieldImmutableErrorMsg
NEGATIVE = "must be greater than or equal to 0"  # validation.IsNegativeErrorMsg


def child(path: str, *names: str) -> str:
    for name in names:
        path = f"{path}.{name}" if path else name
    return path


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    return f"{path}[{k}]"


def _go_str(s: str) -> str:
    # %q of a Go string; json.dumps gives the same escapes for the common cases.
    return json.dumps(s, ensure_ascii=False)


class GoRepr:
    """A value whose %#v rendering was precomputed (structs, maps, slices)."""

    def __init__(self, text: str) -> None:
        self.text = text


def go_string_map(m: Any) -> GoRepr:
    if not isinstance(m, dict):
        return GoRepr("map[string]string(nil)")
    items = ", ".join(f"{_go_str(k)}:{_go_str(str(v))}" for k, v in sorted(m.items()))
    return GoRepr("map[string]string{" + items + "}")


def go_string_slice(items: Any) -> GoRepr:
    if not isinstance(items, list):
        return GoRepr("[]string(nil)")
    return GoRepr("[]string{" + ", ".join(_go_str(str(x)) for x in items) + "}")


def go_int_or_string(v: Any) -> GoRepr:
    # intstr.IntOrString printed by %#v (Type 0 = Int, 1 = String).
    if isinstance(v, str):
        return GoRepr(f'intstr.IntOrString{{Type:1, IntVal:0, StrVal:{_go_str(v)}}}')
    n = v if isinstance(v, int) and not isinstance(v, bool) else 0
    return GoRepr(f'intstr.IntOrString{{Type:0, IntVal:{n}, StrVal:""}}')


def go_label_selector(sel: dict[str, Any] | None) -> GoRepr:
    # metav1.LabelSelector printed by %#v once field.Error dereferences the pointer.
    sel = sel if isinstance(sel, dict) else {}
    labels = sel.get("matchLabels")
    ml = go_string_map(labels).text if isinstance(labels, dict) and labels else "map[string]string(nil)"
    exprs = sel.get("matchExpressions")
    if not exprs:
        me = "[]v1.LabelSelectorRequirement(nil)"
    else:
        parts = []
        for e in exprs:
            e = e if isinstance(e, dict) else {}
            vals = e.get("values")
            vs = "[]string(nil)" if vals is None else go_string_slice(vals).text
            parts.append(f"v1.LabelSelectorRequirement{{Key:{_go_str(str(e.get('key', '')))}, "
                         f"Operator:{_go_str(str(e.get('operator', '')))}, Values:{vs}}}")
        me = "[]v1.LabelSelectorRequirement{" + ", ".join(parts) + "}"
    return GoRepr(f"v1.LabelSelector{{MatchLabels:{ml}, MatchExpressions:{me}}}")


def render(value: Any) -> str:
    """field.Error value formatting: strings quoted, simple types plain, others %#v-like."""
    if isinstance(value, GoRepr):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return _go_str(value)
    if isinstance(value, dict):
        return go_string_map(value).text
    if isinstance(value, list):
        return go_string_slice(value).text
    return str(value)


def invalid(path: str, value: Any, detail: str) -> Cause:
    msg = f"Invalid value: {render(value)}"
    return Cause("FieldValueInvalid", msg + (f": {detail}" if detail else ""), path)


def required(path: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", "Required value" + (f": {detail}" if detail else ""), path)


def forbidden(path: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", "Forbidden" + (f": {detail}" if detail else ""), path)


def not_supported(path: str, value: Any, valid: list[str]) -> Cause:
    quoted = ", ".join(_go_str(v) for v in valid)
    msg = f"Unsupported value: {render(value)}"
    return Cause("FieldValueNotSupported", msg + (f": supported values: {quoted}" if valid else ""), path)


def duplicate(path: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {render(value)}", path)


def not_found(path: str, value: Any) -> Cause:
    return Cause("FieldValueNotFound", f"Not found: {render(value)}", path)


def too_long(path: str, limit: int) -> Cause:
    return Cause("FieldValueTooLong", f"Too long: may not be more than {limit} bytes", path)


def nonnegative(path: str, value: Any) -> list[Cause]:
    # apimachinery ValidateNonnegativeField
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return [invalid(path, value, NEGATIVE)]
    return []


def immutable(path: str, new: Any, old: Any, shown: Any = None) -> list[Cause]:
    # apimachinery ValidateImmutableField: the new value is shown.
    if new != old:
        return [invalid(path, new if shown is None else shown, IMMUTABLE)]
    return []


def as_dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def as_str(v: Any) -> str:
    return v if isinstance(v, str) else ""


def as_int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0
