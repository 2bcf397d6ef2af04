"""typed.Compare: which fields changed and which were removed between two objects.

Owns the one-walk comparison (structured-merge-diff typed/compare.go) and its shortcuts:
equal subtrees are skipped after a memoised check that the full walk would not have raised
a SchemaError on one of their list items, and one-sided subtrees are collected in one go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from kubeproc.api.jsonmemo import SubtreeMemo
from kubeproc.registry.patch.fieldset import FieldSet, PathElement, canonical
from kubeproc.registry.patch.typed_types import (
    DEDUCED, MISSING, SchemaError, TypeInfo, _is_leaf, effective, elem_type, item_element,
    type_of)


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
