"""The structured-merge-diff view of kubeproc's OpenAPI schemas, and the empty object of a kind.

Owns TypeInfo and how a schema node becomes one (k8s.io/kube-openapi schemaconv rules:
x-kubernetes-list-type / list-map-keys, falling back to patch-strategy merge + merge key;
x-kubernetes-map-type atomic; unknown shapes "deduced"), the path element of a list item,
and zero_object. The walks over objects live in typed_compare.py and typed_walks.py.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

from kubeproc.api import schema as sch
from kubeproc.registry.patch.fieldset import PathElement

MISSING: Any = object()  # an absent value (distinct from JSON null)

# Defaults of list-map key fields (upstream reads them from OpenAPI `default`, which the
# schemas we load have dropped): typed/helpers.go getAssociativeKeyDefault.
_KEY_DEFAULTS = {"protocol": "TCP"}


class SchemaError(ValueError):
    """An object does not fit the list semantics of its schema (e.g. a map-list item without keys)."""


@dataclass(frozen=True)
class TypeInfo:
    """The structured-merge-diff view of one schema node."""

    kind: str  # "map", "list", "scalar" or "deduced"
    atomic: bool = False
    props: Any = None  # map: properties (raw); list: unused
    elem: Any = None  # map: additionalProperties (raw); list: items (raw)
    keys: tuple[str, ...] = ()
    associative: bool = False


DEDUCED = TypeInfo("deduced")
_ATOMIC_LIST = TypeInfo("list", atomic=True, elem=None)
_DEDUCED_MAP = TypeInfo("map", elem=None)
_DEDUCED_SCALAR = TypeInfo("scalar")
_cache: dict[int, tuple[dict[str, Any], TypeInfo]] = {}


def type_of(raw: dict[str, Any] | None) -> TypeInfo:
    """Type of an unresolved schema node (kube-openapi schemaconv rules)."""
    if not raw:
        return DEDUCED
    # Keyed by node; the entry holds the node so that its id cannot be reused by another.
    entry = _cache.get(id(raw))
    if entry is None or entry[0] is not raw:
        if len(_cache) >= 1 << 15:  # bounded, should the definitions ever be rebuilt
            _cache.clear()
        entry = _cache[id(raw)] = (raw, _build(raw))
    return entry[1]


def _ext(raw: dict[str, Any], resolved: dict[str, Any], name: str) -> Any:
    return raw.get(name, resolved.get(name))


def _build(raw: dict[str, Any]) -> TypeInfo:
    res = sch.resolve(raw)
    t = res.get("type")
    if t == "array":
        return _list_type(raw, res)
    props, addl = res.get("properties"), res.get("additionalProperties")
    if t == "object" or props or isinstance(addl, dict):
        if not props and not isinstance(addl, dict):
            return DEDUCED  # RawExtension, FieldsV1, preserve-unknown-fields
        atomic = _ext(raw, res, "x-kubernetes-map-type") == "atomic"
        return TypeInfo("map", atomic=atomic, props=props or {},
                        elem=addl if isinstance(addl, dict) else None)
    if t in ("string", "integer", "number", "boolean"):
        return TypeInfo("scalar")
    return DEDUCED


def _list_type(raw: dict[str, Any], res: dict[str, Any]) -> TypeInfo:
    # schemaconv getListElementRelationship: list-type wins, then patch strategy "merge".
    elem = res.get("items") if isinstance(res.get("items"), dict) else None
    list_type = _ext(raw, res, "x-kubernetes-list-type")
    if list_type == "map":
        keys = tuple(_ext(raw, res, "x-kubernetes-list-map-keys") or ())
        return TypeInfo("list", elem=elem, keys=keys, associative=True)
    if list_type == "set":
        return TypeInfo("list", elem=elem, associative=True)
    if list_type == "atomic":
        return TypeInfo("list", atomic=True, elem=elem)
    strategy, merge_key = sch.patch_meta(raw)
    if "merge" in strategy.split(","):
        return TypeInfo("list", elem=elem, keys=(merge_key,) if merge_key else (),
                        associative=True)
    return TypeInfo("list", atomic=True, elem=elem)


def effective(t: TypeInfo, value: Any) -> TypeInfo:
    """deduceAtom: a deduced type takes the shape of its value (lists atomic, maps granular)."""
    if t is not DEDUCED:
        return t
    if isinstance(value, dict):
        return _DEDUCED_MAP
    if isinstance(value, list):
        return _ATOMIC_LIST
    return _DEDUCED_SCALAR


def field_type(t: TypeInfo, key: str) -> tuple[TypeInfo, bool]:
    """(type of map entry `key`, whether it is a declared struct field)."""
    if t.props and key in t.props:
        return type_of(t.props[key]), True
    if t.elem is not None:
        return type_of(t.elem), False
    return DEDUCED, False


def elem_type(t: TypeInfo) -> TypeInfo:
    return type_of(t.elem) if t.elem is not None else DEDUCED


def root_type(def_name: str) -> TypeInfo:
    """Type of a top-level object; without a known schema every field is deduced."""
    d = sch.definitions().get(def_name) if def_name else None
    return type_of(d) if d else DEDUCED


def item_element(t: TypeInfo, item: Any) -> PathElement:
    """listItemToPathElement: `k:` for map lists, `v:` for sets."""
    if t.keys:
        if not isinstance(item, dict):
            raise SchemaError("associative list with keys may not have non-map elements")
        fields = {}
        for k in t.keys:
            if k in item:
                fields[k] = item[k]
            elif k in _KEY_DEFAULTS:
                fields[k] = _KEY_DEFAULTS[k]
        if not fields:
            raise SchemaError(f"associative list with keys has an element that omits all key "
                              f"fields {list(t.keys)!r} (and doesn't have default values for any "
                              f"key fields)")
        return PathElement.key(fields)
    if isinstance(item, (dict, list)) or item is None:
        raise SchemaError("associative list without keys has an element that's a map type")
    return PathElement.value(item)


def _is_leaf(t: TypeInfo, a: Any, b: Any) -> bool:
    """Atomic, scalar, or empty-on-both-sides containers are compared/merged as leaves."""
    if t.kind == "scalar" or t.atomic:
        return True
    want = dict if t.kind == "map" else list
    a_empty = a is MISSING or a is None
    b_empty = b is MISSING or b is None
    if (not a_empty and not isinstance(a, want)) or (not b_empty and not isinstance(b, want)):
        return True  # shape does not match the schema: treat as an opaque value
    return (a_empty or not a) and (b_empty or not b)


# The empty object -----------------------------------------------------------------------
# Struct fields Go always serialises (non-pointer structs) even in an empty object; the
# schema cannot tell pointers apart, so besides required fields these names are assumed.
_VALUE_STRUCTS = frozenset({"metadata", "spec", "status", "strategy", "updateStrategy", "template"})
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def zero_object(def_name: str) -> dict[str, Any]:
    """The new, empty object of a kind as the apiserver sees it before a create.

    (rest handler `Creater.New` converted to unstructured): non-pointer struct fields are
    present and empty, required lists/maps are null. Only its shape matters: it decides
    which intermediate fields a create "adds" (the `.` entries of an Update manager).
    """
    return copy.deepcopy(shared_zero_object(def_name))


@functools.lru_cache(maxsize=None)
def shared_zero_object(def_name: str) -> dict[str, Any]:
    """zero_object, built once per kind and shared: callers must not mutate it."""
    d = sch.definitions().get(def_name) if def_name else None
    return _zero(d, 0) if d else {}


def _zero(raw: dict[str, Any], depth: int) -> dict[str, Any]:
    res = sch.resolve(raw)
    if res is sch.definitions().get(_OBJECT_META):
        return {"creationTimestamp": None}
    required = set(res.get("required") or ())
    out: dict[str, Any] = {}
    for name, prop in (res.get("properties") or {}).items():
        t = type_of(prop)
        struct = t.kind == "map" and bool(t.props)
        if struct and depth < 8 and (name in required or name in _VALUE_STRUCTS):
            out[name] = _zero(prop, depth + 1)
        elif name in required and t.kind in ("list", "map"):
            out[name] = None
    return out
