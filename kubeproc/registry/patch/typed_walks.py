"""Whole-object walks of the apply updater besides compare: field sets, merge, removal.

Owns typed.ToFieldSet (with Set.EnsureNamedFieldsAreMembers), typed.Merge with ruleKeepRHS
and typed.RemoveItems (structured-merge-diff tofieldset.go, merge.go, remove.go), each
walking an object along its TypeInfo.
"""

from __future__ import annotations

from typing import Any

from kubeproc.registry.patch.fieldset import FieldSet, Path, PathElement
from kubeproc.registry.patch.typed_types import (
    DEDUCED, MISSING, SchemaError, TypeInfo, _is_leaf, effective, elem_type, field_type,
    item_element)


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
