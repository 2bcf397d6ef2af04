"""Schema-aware walks of objects for server-side apply: field sets, compare, merge, remove.

Ports sigs.k8s.io/structured-merge-diff typed (tofieldset.go, compare.go, merge.go,
remove.go) over kubeproc's OpenAPI schemas. List/map semantics follow
k8s.io/kube-openapi schemaconv: x-kubernetes-list-type / list-map-keys, falling back to
patch-strategy merge + merge key; x-kubernetes-map-type atomic; unknown shapes are "deduced".
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

import orjson

from kubeproc.api import schema as sch
from kubeproc.api.jsonmemo import SubtreeMemo
from kubeproc.registry.patch.fieldset import FieldSet, Path, PathElement, canonical

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


# ToFieldSet -----------------------------------------------------------------------------
def to_field_set(obj: dict[str, Any], t: TypeInfo) -> FieldSet:
    """typed.ToFieldSet: the set of fields `obj` sets."""
    out = FieldSet()
    _fs(obj, t, (), out)
    return out


def _fs(v: Any, t: TypeInfo, path: Path, out: FieldSet) -> None:
    t = effective(t, v)
    if t.kind == "scalar":
        out.insert(path)
    elif t.kind == "list":
        if t.atomic or not isinstance(v, list):
            out.insert(path)
            return
        et = elem_type(t)
        seen: set[PathElement] = set()
        dups: set[PathElement] = set()
        pes = [item_element(t, item) for item in v]
        for pe in pes:
            (dups if pe in seen else seen).add(pe)
        for pe in dups:
            out.insert(path + (pe,))  # duplicated items are owned whole
        for pe, item in zip(pes, v):
            if pe not in dups:
                _fs(item, et, path + (pe,), out)
                out.insert(path + (pe,))
    else:
        if t.atomic or not isinstance(v, dict):
            out.insert(path)
            return
        for key, val in v.items():
            ft, declared = field_type(t, key)
            p = path + (PathElement.field(key),)
            _fs(val, ft, p, out)
            if val is None or (isinstance(val, dict) and not val) or not declared:
                out.insert(p)


def ensure_named_fields_are_members(s: FieldSet, t: TypeInfo) -> FieldSet:
    """Set.EnsureNamedFieldsAreMembers: struct fields with children become members too."""
    out = FieldSet()
    out.members = set(s.members)
    for pe, child in s.children.items():
        ct = DEDUCED
        if pe.kind == "f" and t.kind == "map":
            ct, declared = field_type(t, pe.payload)
            if declared:
                out.members.add(pe)
        elif pe.kind in ("k", "v") and t.kind == "list":
            ct = elem_type(t)
        out.children[pe] = ensure_named_fields_are_members(child, ct)
    return out


# Compare --------------------------------------------------------------------------------
@dataclass
class Comparison:
    """typed.Comparison as the updater uses it: added and modified fields together, removed."""

    changed: FieldSet
    removed: FieldSet


def compare(lhs: dict[str, Any], rhs: dict[str, Any], t: TypeInfo) -> Comparison:
    """typed.Compare (compare.go): the tries are built in one walk, node by node."""
    top_changed, top_removed = FieldSet(), FieldSet()
    _cmp(lhs, rhs, t, None, top_changed, top_removed)  # type: ignore[arg-type]
    # The root sits under a placeholder element; the root path itself is never a member.
    return Comparison(top_changed.children.get(None) or FieldSet(),  # type: ignore[arg-type]
                      top_removed.children.get(None) or FieldSet())  # type: ignore[arg-type]


def _differ(l: Any, r: Any) -> bool:
    """canonical(l) != canonical(r), without serialising decoded JSON (str-keyed maps, lists,
    strings, ints, bools, null): equal exactly when the JSON text is. Floats and anything
    else are still compared by their text."""
    tl = type(l)
    if tl is not type(r):
        return canonical(l) != canonical(r)
    if tl is str or tl is int or tl is bool:
        return l != r
    if l is None:
        return False
    if tl is list:
        if len(l) != len(r):
            return True
        return any(_differ(a, b) for a, b in zip(l, r))
    if tl is dict and all(type(k) is str for k in l) and all(type(k) is str for k in r):
        if l.keys() != r.keys():
            return True
        return any(_differ(v, r[k]) for k, v in l.items())
    return canonical(l) != canonical(r)


def _cmp(l: Any, r: Any, t: TypeInfo, pe: PathElement, changed: FieldSet,
         removed: FieldSet) -> None:
    # `changed`/`removed` are the nodes of the parent path; this value's path is parent + pe.
    if l is MISSING:
        _one_side(r, t, pe, changed)  # all added (most of a create)
        return
    if r is MISSING:
        _one_side(l, t, pe, removed)
        return
    if t is DEDUCED:
        t = effective(t, r)
    if _is_leaf(t, l, r):
        if _differ(l, r):
            changed.members.add(pe)
        return
    if type(l) is type(r) and l == r and _same_text(l, r):
        # Equal subtrees (most of an update) change nothing; the walk could only have raised
        # a SchemaError on a list item, which _check_items raises the same way.
        if _may_raise(t):
            found = _CHECKS(r, _TypeKey(t))
            if found:
                raise SchemaError(found[0])
        return
    sub_changed, sub_removed = FieldSet(), FieldSet()
    if t.kind == "map":
        lm = l if isinstance(l, dict) else {}
        rm = r if isinstance(r, dict) else {}
        props, elem = t.props, t.elem
        elem_t = type_of(elem) if elem is not None else DEDUCED  # field_type, inlined
        for key, lv in lm.items():
            ft = type_of(props[key]) if props and key in props else elem_t
            _cmp(lv, rm.get(key, MISSING), ft, PathElement.field(key), sub_changed, sub_removed)
        for key, rv in rm.items():
            if key not in lm:
                ft = type_of(props[key]) if props and key in props else elem_t
                _one_side(rv, ft, PathElement.field(key), sub_changed)
    else:
        _cmp_list(l if isinstance(l, list) else [], r if isinstance(r, list) else [], t,
                  sub_changed, sub_removed)
    if sub_changed.members or sub_changed.children:
        changed.children[pe] = sub_changed
    if sub_removed.members or sub_removed.children:
        removed.children[pe] = sub_removed


def _same_text(l: Any, r: Any) -> bool:
    """Equal JSON text (same keys in the same order, same scalar types): with Python equality
    (which tells NaN from null), l and r are canonically equal."""
    try:
        return orjson.dumps(l) == orjson.dumps(r)
    except (orjson.JSONEncodeError, TypeError):  # non-string keys, huge ints: walk them
        return False


_raises: dict[int, tuple[TypeInfo, bool]] = {}


def _may_raise(t: TypeInfo) -> bool:
    """Whether a value of type `t` can hold a non-atomic list, whose items item_element checks."""
    entry = _raises.get(id(t))
    if entry is not None and entry[0] is t:
        return entry[1]
    if len(_raises) >= 1 << 15:  # bounded, as type_of's cache
        _raises.clear()
    _raises[id(t)] = (t, True)  # provisional: a recursive schema counts as able to raise
    if t.kind == "list":
        result = not t.atomic
    elif t.kind == "map" and not t.atomic:
        result = any(_may_raise(type_of(p)) for p in (t.props or {}).values()) or (
            t.elem is not None and _may_raise(type_of(t.elem)))
    else:  # scalars, atomic maps and deduced types (deduced lists are atomic)
        result = False
    _raises[id(t)] = (t, result)
    return result


def _check_items(v: Any, t: TypeInfo) -> None:
    """What _cmp(v, v', t) of an equal v' does besides finding nothing: item_element on every
    list item it would visit, in the same order (so the same SchemaError, if any)."""
    if t is DEDUCED:
        t = effective(t, v)
    if _is_leaf(t, v, v) or not _may_raise(t):
        return
    if t.kind == "map":
        props, elem = t.props, t.elem
        elem_t = type_of(elem) if elem is not None else DEDUCED
        for key, x in (v if isinstance(v, dict) else {}).items():
            _check_items(x, type_of(props[key]) if props and key in props else elem_t)
        return
    items = v if isinstance(v, list) else []
    pes = [item_element(t, item) for item in items]
    counts: dict[PathElement, int] = {}
    for item_pe in pes:
        counts[item_pe] = counts.get(item_pe, 0) + 1
    et = elem_type(t)
    for item_pe, item in zip(pes, items):
        if counts[item_pe] == 1:  # duplicated items are compared whole, not walked
            _check_items(item, et)


class _TypeKey:
    """A memo context naming one TypeInfo by identity (TypeInfo itself is unhashable)."""

    __slots__ = ("t",)

    def __init__(self, t: TypeInfo) -> None:
        self.t = t

    def __hash__(self) -> int:
        return id(self.t)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _TypeKey) and other.t is self.t


def _check_outcome(v: Any, key: _TypeKey) -> list[str]:
    try:
        _check_items(v, key.t)
    except SchemaError as e:
        return [str(e)]
    return []


# the same specs are checked write after write (memo keyed by their JSON text)
_CHECKS = SubtreeMemo(_check_outcome)


def _one_side(v: Any, t: TypeInfo, pe: PathElement, out: FieldSet) -> None:
    """_cmp with the other side MISSING: every path of `v` lands in `out` (added or removed)."""
    if t is DEDUCED:
        t = effective(t, v)
    kind = t.kind
    if kind == "scalar" or t.atomic or v is None or not v:
        out.members.add(pe)  # a leaf (_is_leaf): scalar, atomic, null or empty
        return
    sub = FieldSet()
    if kind == "map":
        if not isinstance(v, dict):
            out.members.add(pe)  # the value does not have the schema's shape: opaque
            return
        props, elem = t.props, t.elem
        elem_t = type_of(elem) if elem is not None else DEDUCED
        for key, x in v.items():
            ft = type_of(props[key]) if props and key in props else elem_t
            _one_side(x, ft, PathElement.field(key), sub)
    else:
        if not isinstance(v, list):
            out.members.add(pe)
            return
        counts: dict[PathElement, list[Any]] = {}
        for item in v:
            counts.setdefault(item_element(t, item), []).append(item)
        et = elem_type(t)
        for item_pe, items in counts.items():
            if len(items) == 1:
                _one_side(items[0], et, item_pe, sub)
            else:
                sub.members.add(item_pe)  # duplicated items count whole
    if sub.members or sub.children:
        out.children[pe] = sub
    out.members.add(pe)


def _cmp_list(l: list[Any], r: list[Any], t: TypeInfo, changed: FieldSet,
              removed: FieldSet) -> None:
    order: list[PathElement] = []
    lv: dict[PathElement, list[Any]] = {}
    rv: dict[PathElement, list[Any]] = {}
    for items, index in ((l, lv), (r, rv)):
        for item in items:
            pe = item_element(t, item)
            if pe not in lv and pe not in rv:
                order.append(pe)
            index.setdefault(pe, []).append(item)
    et = elem_type(t)
    for pe in order:
        ll, rl = lv.get(pe, ()), rv.get(pe, ())
        if len(ll) <= 1 and len(rl) <= 1:
            _cmp(ll[0] if ll else MISSING, rl[0] if rl else MISSING, et, pe, changed, removed)
        elif len(ll) >= 2 and len(rl) >= 2:
            if canonical(ll) != canonical(rl):
                changed.members.add(pe)
        elif len(ll) >= 2:
            if rl:
                _cmp(MISSING, rl[0], et, pe, changed, removed)
            removed.members.add(pe)
        else:
            if ll:
                _cmp(ll[0], MISSING, et, pe, changed, removed)
            changed.members.add(pe)


# Merge ----------------------------------------------------------------------------------
def merge(lhs: Any, rhs: Any, t: TypeInfo) -> Any:
    """typed.Merge with ruleKeepRHS: rhs wins at leaves, maps and map lists merge."""
    if rhs is MISSING:
        return lhs
    if lhs is MISSING:
        return rhs
    t = effective(t, rhs)
    if _is_leaf(t, lhs, rhs) or type(lhs) is not type(rhs):
        return rhs
    if t.kind == "map":
        out = dict(lhs)
        for key, rv in rhs.items():
            ft, _ = field_type(t, key)
            out[key] = merge(lhs.get(key, MISSING), rv, ft)
        return out
    return _merge_list(lhs, rhs, t)


def _merge_list(lhs: list[Any], rhs: list[Any], t: TypeInfo) -> list[Any]:
    # merge.go visitListItems: keep lhs order, place rhs items following rhs's relative order.
    et = elem_type(t)
    lpes = [item_element(t, x) for x in lhs]
    rpes = [item_element(t, x) for x in rhs]
    lobs: dict[PathElement, Any] = {}
    for pe, x in zip(lpes, lhs):
        lobs[pe] = x if pe not in lobs else None  # duplicated lhs items merge as absent
    robs: dict[PathElement, Any] = {}
    for pe, x in zip(rpes, rhs):
        if pe in robs:
            raise SchemaError(f"duplicate entries for key {pe}")
        robs[pe] = x
    shared = [pe for pe in rpes if pe in lobs]
    next_shared = shared.pop(0) if shared else None
    merged_rhs: set[PathElement] = set()
    out: list[Any] = []
    li = ri = 0
    while li < len(lpes) or ri < len(rpes):
        if li < len(lpes) and ri < len(rpes):
            pe = lpes[li]
            if pe == rpes[ri]:
                merged_rhs.add(pe)
                out.append(merge(_or_missing(lobs.get(pe)), robs[pe], et))
                li += 1
                ri += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if pe in robs and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(lpes):
            pe = lpes[li]
            if pe not in robs:
                out.append(lhs[li])
                li += 1
                continue
            if pe in merged_rhs:
                li += 1
        if ri < len(rpes):
            pe = rpes[ri]
            merged_rhs.add(pe)
            out.append(merge(_or_missing(lobs.get(pe, MISSING)), robs[pe], et))
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = shared.pop(0) if shared else None
    return out


def _or_missing(v: Any) -> Any:
    return MISSING if v is None else v


# RemoveItems ----------------------------------------------------------------------------
def remove_items(v: Any, to_remove: FieldSet, t: TypeInfo) -> Any:
    """typed.RemoveItems: drop the member paths of `to_remove` (containers left empty vanish)."""
    t = effective(t, v)
    if t.kind == "scalar" or t.atomic:
        return v
    if t.kind == "list":
        if not isinstance(v, list) or not v:
            return v
        items = []
        for item in v:
            pe = item_element(t, item)
            if pe in to_remove.members:
                continue
            if pe in to_remove.children:
                item = remove_items(item, to_remove.children[pe], elem_type(t))
            items.append(item)
        return items or None
    if not isinstance(v, dict) or not v:
        return v
    out = {}
    for key, val in v.items():
        pe = PathElement.field(key)
        if pe in to_remove.members:
            continue
        if pe in to_remove.children:
            val = remove_items(val, to_remove.children[pe], field_type(t, key)[0])
        out[key] = val
    return out or None


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
