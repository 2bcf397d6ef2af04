"""Strategic merge patch creation: the patch that turns one object into another.

Ports CreateTwoWayMergeMapPatch (diffMaps / diffLists) from
k8s.io/apimachinery/pkg/util/strategicpatch/patch.go, with the same `$setElementOrder`,
`$deleteFromPrimitiveList`, `$retainKeys` and `$patch: delete` output, so that applying the
result with strategic.strategic_merge_patch yields the modified object.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

from kubeproc.api import schema
from kubeproc.registry.patch import ordering, smperrors
from kubeproc.registry.patch.ordering import DIRECTIVE
from kubeproc.registry.patch.strategic import (DELETE_PREFIX, ORDER_PREFIX, RETAIN_KEYS, Node,
                                               lookup_field, lookup_slice)


@dataclass(frozen=True)
class DiffOptions:
    """patch.go DiffOptions."""

    set_element_order: bool = True
    ignore_changes_and_additions: bool = False
    ignore_deletions: bool = False
    build_retain_keys: bool = False


def create_two_way_merge_patch(original: dict[str, Any], modified: dict[str, Any],
                               def_name: str | None) -> dict[str, Any]:
    """CreateTwoWayMergeMapPatch for a `def_name` object; inputs are not modified."""
    node = schema.definitions().get(def_name) if def_name else None
    return diff_maps(copy.deepcopy(original or {}), copy.deepcopy(modified or {}), node, DiffOptions())


def _retain_strategy(node: Node, key: str, slice_: bool) -> tuple[Node, bool, str, str]:
    # Like strategic.lookup_*, but keeps whether retainKeys was part of the strategy.
    sub, strategy, merge_key = (lookup_slice if slice_ else lookup_field)(node, key)
    raw = schema.raw_property(node, key) if node is not None else None
    retain = "retainKeys" in schema.patch_meta(raw)[0].split(",") if raw else False
    return sub, retain, strategy, merge_key


def diff_maps(original: dict[str, Any], modified: dict[str, Any], node: Node,
              opts: DiffOptions) -> dict[str, Any]:
    """patch.go diffMaps."""
    patch: dict[str, Any] = {}
    retain_keys: list[str] = []
    for key, mod_v in modified.items():
        if opts.build_retain_keys and mod_v is not None:
            retain_keys.append(key)
        if key not in original:
            if not opts.ignore_changes_and_additions:
                patch[key] = mod_v
            continue
        orig_v = original[key]
        if key == DIRECTIVE:
            # patch.go handleDirectiveMarker
            if not isinstance(orig_v, str) or not isinstance(mod_v, str):
                raise smperrors.failure(f"invalid value for special key: {DIRECTIVE}")
            if orig_v != mod_v:
                patch[DIRECTIVE] = mod_v
            continue
        if type(orig_v) is not type(mod_v):
            if not opts.ignore_changes_and_additions:
                patch[key] = mod_v
        elif isinstance(orig_v, dict):
            _map_diff(key, orig_v, mod_v, patch, node, opts)
        elif isinstance(orig_v, list):
            _slice_diff(key, orig_v, mod_v, patch, node, opts)
        elif not opts.ignore_changes_and_additions and not ordering.deep_equal(orig_v, mod_v):
            patch[key] = mod_v

    if not opts.ignore_deletions:
        # patch.go updatePatchIfMissing: fields gone from modified are deleted with null.
        for key in original:
            if key not in modified:
                patch[key] = None
    has_new = any(v is not None and k not in modified for k, v in original.items())
    if retain_keys and (patch or has_new):
        patch[RETAIN_KEYS] = _sort_scalars(retain_keys)
    return patch


def _map_diff(key: str, orig: dict[str, Any], mod: dict[str, Any], patch: dict[str, Any],
              node: Node, opts: DiffOptions) -> None:
    # patch.go handleMapDiff
    sub, retain, strategy, _ = _retain_strategy(node, key, slice_=False)
    opts = replace(opts, build_retain_keys=retain)
    if strategy == "replace":
        if not opts.ignore_changes_and_additions:
            patch[key] = mod
        return
    value = diff_maps(orig, mod, sub, opts)
    if value:
        patch[key] = value


def _slice_diff(key: str, orig: list[Any], mod: list[Any], patch: dict[str, Any],
                node: Node, opts: DiffOptions) -> None:
    # patch.go handleSliceDiff: merge lists get item patches plus parallel directive lists.
    sub, retain, strategy, merge_key = _retain_strategy(node, key, slice_=True)
    if strategy != "merge":
        if not opts.ignore_changes_and_additions and not ordering.deep_equal(orig, mod):
            patch[key] = mod
        return
    add, deletions, order = _diff_lists(orig, mod, sub, merge_key,
                                        replace(opts, build_retain_keys=retain))
    if add:
        patch[key] = add
    if deletions:
        patch[f"{DELETE_PREFIX}/{key}"] = deletions
    if order:
        patch[f"{ORDER_PREFIX}/{key}"] = order


def _diff_lists(orig: list[Any], mod: list[Any], node: Node, merge_key: str,
                opts: DiffOptions) -> tuple[list[Any], list[Any], list[Any]]:
    # patch.go diffLists
    if not orig:
        if not mod or opts.ignore_changes_and_additions:
            return [], [], []
        return mod, [], []
    kind = ordering.element_kind(orig, mod)
    if kind is dict:
        items, deletions = _diff_lists_of_maps(orig, mod, node, merge_key, opts)
        items = ordering.sort_by(items, mod, merge_key, maps=True)
        order_same = len(orig) == len(mod) and all(
            _key_equal(o, m, merge_key) for o, m in zip(orig, mod))
        items = items + deletions
        order: list[Any] = []
        if opts.set_element_order and (
                (not opts.ignore_changes_and_additions and (items or not order_same))
                or (not opts.ignore_deletions and items)):
            order = [{merge_key: m.get(merge_key)} for m in mod]
        return items, [], order
    added, deletions = _diff_lists_of_scalars(orig, mod, opts)
    added = ordering.sort_by(added, mod, merge_key, maps=False)
    order = []
    if opts.set_element_order and ((not opts.ignore_deletions and deletions) or (
            not opts.ignore_changes_and_additions and not ordering.deep_equal(orig, mod))):
        order = mod
    return added, deletions, order


def _key_equal(a: Any, b: Any, merge_key: str) -> bool:
    for side in (a, b):
        if merge_key not in side:
            raise smperrors.no_merge_key(side, merge_key)
    return ordering.same(a[merge_key], b[merge_key])


def _sort_scalars(items: list[Any]) -> list[Any]:
    # patch.go sortScalars: ordered by their `%v` text.
    return sorted(items, key=smperrors.go_value)


def _diff_lists_of_scalars(orig: list[Any], mod: list[Any],
                           opts: DiffOptions) -> tuple[list[Any], list[Any]]:
    # patch.go diffListsOfScalars: a merge walk over both lists sorted by text.
    o, m = _sort_scalars(orig), _sort_scalars(mod)
    i = j = 0
    added: list[Any] = []
    deleted: list[Any] = []
    while i < len(o) or j < len(m):
        os_ = smperrors.go_value(o[i]) if i < len(o) else None
        ms = smperrors.go_value(m[j]) if j < len(m) else None
        if os_ is not None and ms is not None and os_ == ms:
            i += 1
            j += 1
        elif os_ is None or (ms is not None and os_ > ms):
            if not opts.ignore_changes_and_additions:
                added.append(m[j])
            j += 1
        else:
            if not opts.ignore_deletions:
                deleted.append(o[i])
            i += 1
    return added, ordering.deduplicate_scalars(deleted)


def _diff_lists_of_maps(orig: list[Any], mod: list[Any], node: Node, merge_key: str,
                        opts: DiffOptions) -> tuple[list[Any], list[Any]]:
    # patch.go diffListsOfMaps: walk both lists sorted by the merge key's text.
    for item in orig + mod:
        if merge_key not in item:
            raise smperrors.no_merge_key(item, merge_key)

    def text(item: dict[str, Any]) -> str:
        return smperrors.go_value(item[merge_key])

    o, m = sorted(orig, key=text), sorted(mod, key=text)
    items: list[Any] = []
    deletions: list[Any] = []
    i = j = 0
    while i < len(o) or j < len(m):
        ot = text(o[i]) if i < len(o) else None
        mt = text(m[j]) if j < len(m) else None
        if ot is not None and mt is not None and ot == mt:
            value = diff_maps(o[i], m[j], node, opts)
            if value:
                value[merge_key] = m[j][merge_key]
                items.append(value)
            i += 1
            j += 1
        elif ot is None or (mt is not None and ot > mt):
            if not opts.ignore_changes_and_additions:
                items.append(m[j])
            j += 1
        else:
            if not opts.ignore_deletions:
                deletions.append({merge_key: o[i][merge_key], DIRECTIVE: "delete"})
            i += 1
    return items, deletions
