"""Entry point of API defaulting: what the upstream API server does to every object it decodes.

`apply_defaults` runs the scheme defaulters (SetObjectDefaults_* of Kubernetes 1.33, default-on
feature gates), the visible v1 conversion round-trip rules, and the Go encoding zero values, on a
copy. It is idempotent and runs on create, update, patch results and reads from storage alike.
Create-only registry/admission mutations live in kubeproc.api.admission.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from kubeproc.api.defaults_apps import APPS_DEFAULTERS
from kubeproc.api.defaults_core import CORE_DEFAULTERS
from kubeproc.api.defaults_wire import WIRE_FILLERS, fill_wire_zero_values

Defaulter = Callable[[dict[str, Any]], None]

DEFAULTERS: dict[tuple[str, str], Defaulter] = {
    **{("v1", kind): fn for kind, fn in CORE_DEFAULTERS.items()},
    **APPS_DEFAULTERS,
}


def _known(api_version: str, kind: str) -> bool:
    return (api_version, kind) in DEFAULTERS or (api_version, kind) in WIRE_FILLERS


def default_in_place(obj: dict[str, Any]) -> None:
    """Default `obj` itself (a single object, or a `<Kind>List` whose items get their kind's)."""
    api_version = obj.get("apiVersion", "")
    kind = obj.get("kind", "")
    if _known(api_version, kind):
        defaulter = DEFAULTERS.get((api_version, kind))
        if defaulter is not None:
            defaulter(obj)
        fill_wire_zero_values(obj)
        return
    items = obj.get("items")
    if kind.endswith("List") and isinstance(items, list) and _known(api_version, kind[:-4]):
        for item in items:
            if isinstance(item, dict):
                # Items of a typed list may omit their TypeMeta; default them as the list's kind.
                typed = {"apiVersion": api_version, "kind": kind[:-4], **item}
                default_in_place(typed)
                if "apiVersion" not in item:
                    typed.pop("apiVersion")
                if "kind" not in item:
                    typed.pop("kind")
                item.clear()
                item.update(typed)


def apply_defaults(obj: dict[str, Any]) -> dict[str, Any]:
    """A defaulted deep copy of `obj`; objects of kinds without defaulters come back unchanged.

    Dispatches on apiVersion + kind. Never mutates the argument.
    """
    result = json_deepcopy(obj)
    if isinstance(result, dict):
        default_in_place(result)
    return result


_ATOMS = frozenset({str, int, float, bool, type(None)})


def json_deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """copy.deepcopy, fast for plain dict/list/scalar trees (what decoded JSON is).

    Same result as copy.deepcopy, shared and cyclic references included (one memo);
    anything but a plain dict, list or JSON scalar is handed to copy.deepcopy itself.
    """
    if memo is None:
        memo = {}
    t = type(value)
    if t in _ATOMS:
        return value  # immutable: deepcopy returns it as is
    if t is dict:
        done = memo.get(id(value))
        if done is not None:
            return done
        out: dict[Any, Any] = {}
        memo[id(value)] = out
        for k, v in value.items():
            if type(k) is not str:
                k = copy.deepcopy(k, memo)
            out[k] = v if type(v) in _ATOMS else json_deepcopy(v, memo)
        return out
    if t is list:
        done = memo.get(id(value))
        if done is not None:
            return done
        items: list[Any] = []
        memo[id(value)] = items
        for v in value:
            items.append(v if type(v) in _ATOMS else json_deepcopy(v, memo))
        return items
    return copy.deepcopy(value, memo)
