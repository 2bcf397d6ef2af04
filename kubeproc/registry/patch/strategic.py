"""Strategic merge patch (application/strategic-merge-patch+json) for built-in kinds.

Ports StrategicMergeMapPatch from k8s.io/apimachinery/pkg/util/strategicpatch/patch.go
(mergeMap / mergeSlice and the `$patch`, `$retainKeys`, `$setElementOrder/…`,
`$deleteFromPrimitiveList/…` directives). Patch strategies and merge keys come from the
upstream OpenAPI schema (x-kubernetes-patch-strategy / -merge-key); where the schema knows
nothing (unknown fields, free-form maps) maps merge and lists are replaced, as in a merge patch.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from kubeproc.api import errors, schema
from kubeproc.registry.patch import ordering, smperrors
from kubeproc.registry.patch.ordering import DIRECTIVE

RETAIN_KEYS = "$retainKeys"
DELETE_PREFIX = "$deleteFromPrimitiveList"
ORDER_PREFIX = "$setElementOrder"

Node = dict[str, Any] | None  # a resolved schema, or None where the schema is unknown


@dataclass(frozen=True)
class MergeOptions:
    """patch.go MergeOptions; the server applies patches with both flags set."""

    merge_parallel_list: bool = True
    ignore_unmatched_nulls: bool = True


SERVER = MergeOptions()


def strategic_merge_patch(original: dict[str, Any], patch: Any, def_name: str | None, *,
                          reuse_original: bool = False) -> dict[str, Any]:
    """Apply a strategic merge patch to `original` (a `def_name` object); returns a new object.

    With `reuse_original` the caller hands over `original` (a copy it owns): it is patched in
    place instead of copied first, and must not be used afterwards.

    `def_name` is the schema definition of the top-level object (schema.definition_name);
    None means no schema (maps merge, lists replace). Raises errors.BadRequest / a 500
    smperrors.PatchFailure / errors.Invalid exactly where the apiserver would.
    """
    if patch is None:
        patch = {}  # json.Unmarshal of `null` into a map leaves it empty
    if not isinstance(patch, dict):
        raise errors.BadRequest(
            f"json: cannot unmarshal {_json_kind(patch)} into Go value of type map[string]interface {{}}")
    node = schema.definitions().get(def_name) if def_name else None
    base = original if reuse_original and isinstance(original, dict) else copy.deepcopy(original or {})
    result = merge_map(base, copy.deepcopy(patch), node, SERVER)
    # The apiserver decodes the result into the typed object, which drops null members.
    return _drop_null_members(result)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    return "number"


def _drop_null_members(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_null_members(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_null_members(v) for v in value]
    return value


# --- schema lookups (meta.go LookupPatchMetadataForStruct / ForSlice) -------------------

def lookup_field(node: Node, key: str) -> tuple[Node, str, str]:
    """(field schema, non-retainKeys strategy, merge key) of field `key`; unknown -> (None, "", "")."""
    if node is None:
        return None, "", ""
    raw = schema.raw_property(node, key)
    if raw is None:
        return None, "", ""
    strategy, merge_key = schema.patch_meta(raw)
    return schema.child(node, key), _non_retain_strategy(strategy), merge_key


def lookup_slice(node: Node, key: str) -> tuple[Node, str, str]:
    sub, strategy, merge_key = lookup_field(node, key)
    return (schema.items(sub) if sub is not None else None), strategy, merge_key


def _non_retain_strategy(strategy: str) -> str:
    # patch.go extractRetainKeysPatchStrategy: retainKeys only matters to patch generation.
    parts = [s for s in strategy.split(",") if s] if strategy else []
    if len(parts) <= 1:
        return "" if not parts or parts[0] == "retainKeys" else parts[0]
    if len(parts) == 2 and "retainKeys" in parts:
        return parts[1] if parts[0] == "retainKeys" else parts[0]
    raise smperrors.failure(f"unexpected patch strategy: [{' '.join(parts)}]")


# --- maps ---------------------------------------------------------------------------------

def merge_map(original: dict[str, Any] | None, patch: dict[str, Any], node: Node,
              opts: MergeOptions) -> dict[str, Any]:
    """patch.go mergeMap. Mutates both arguments (callers pass copies)."""
    if DIRECTIVE in patch:
        return _map_directive(patch[DIRECTIVE], patch)
    if original is None:
        original = {}
    _apply_retain_keys(original, patch, opts)
    _merge_ordered_lists(original, patch, node, opts)

    for key, patch_v in list(patch.items()):
        is_delete_list = False
        if key.startswith(DELETE_PREFIX):
            # patch.go preprocessDeletionListForMerging
            if not opts.merge_parallel_list:
                original[key] = patch_v
                continue
            key = extract_key(key, DELETE_PREFIX)
            is_delete_list = True

        if patch_v is None:
            original.pop(key, None)
            if opts.ignore_unmatched_nulls:
                continue

        if key not in original or type(original[key]) is not type(patch_v):
            # Absent, or a different JSON type: take the patch value (delete lists never add).
            if not is_delete_list:
                if opts.ignore_unmatched_nulls:
                    _discard_nulls(patch_v)
                _set_without_directives(original, key, patch_v)
            continue

        orig_v = original[key]
        if isinstance(orig_v, dict):
            sub, strategy, _ = lookup_field(node, key)
            # patch.go mergeMapHandler: a `replace` strategy takes the patch map verbatim.
            original[key] = patch_v if strategy == "replace" else merge_map(orig_v, patch_v, sub, opts)
        elif isinstance(orig_v, list):
            sub, strategy, merge_key = lookup_slice(node, key)
            original[key] = merge_slice_handler(orig_v, patch_v, sub, strategy, merge_key,
                                                is_delete_list, opts)
        else:
            _set_without_directives(original, key, patch_v)
    return original


def _set_without_directives(target: dict[str, Any], key: str, value: Any) -> None:
    value, keep = remove_directives(value)
    if keep:
        target[key] = value
    else:
        target.pop(key, None)


def _map_directive(directive: Any, patch: dict[str, Any]) -> dict[str, Any]:
    # patch.go handleDirectiveInMergeMap: only replace and delete are valid on a map.
    if directive == "replace":
        del patch[DIRECTIVE]
        return patch
    if directive == "delete":
        return {}
    raise smperrors.bad_patch_type(directive, patch)


def remove_directives(obj: Any) -> tuple[Any, bool]:
    """patch.go removeDirectives: drop maps carrying `$patch`; (value, keep)."""
    if isinstance(obj, dict):
        if DIRECTIVE in obj:
            return None, False
        for k in list(obj):
            v, keep = remove_directives(obj[k])
            if keep:
                obj[k] = v
            else:
                del obj[k]
        return obj, True
    if isinstance(obj, list):
        kept = [remove_directives(v) for v in obj]
        return [v for v, keep in kept if keep], True
    return obj, True


def _discard_nulls(value: Any) -> None:
    # patch.go discardNullValuesFromPatch
    if isinstance(value, dict):
        for k in list(value):
            if value[k] is None:
                del value[k]
            else:
                _discard_nulls(value[k])
    elif isinstance(value, list):
        for v in value:
            _discard_nulls(v)


def extract_key(key: str, prefix: str) -> str:
    # patch.go extractKey: "<prefix>/<field>"
    head, sep, field = key.partition("/")
    if not sep or head != prefix:
        if prefix == DELETE_PREFIX:
            raise errors.BadRequest(smperrors.BAD_PRIMITIVE_LIST)
        raise errors.BadRequest(smperrors.BAD_SET_ELEMENT_ORDER)
    return field


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any], opts: MergeOptions) -> None:
    # patch.go applyRetainKeysDirective: clear original fields not listed in `$retainKeys`.
    if RETAIN_KEYS not in patch:
        return
    retain = patch.pop(RETAIN_KEYS)
    if not opts.merge_parallel_list:
        if RETAIN_KEYS in original and original[RETAIN_KEYS] != retain:
            raise smperrors.failure(
                f"{smperrors.go_value(original[RETAIN_KEYS])} and {smperrors.go_value(retain)} "
                "are not deep equal: this may happen when calculating the 3-way diff patch")
        original.setdefault(RETAIN_KEYS, retain)
        return
    if not isinstance(retain, list):
        raise errors.BadRequest(smperrors.BAD_RETAIN_KEYS)
    for k, v in patch.items():
        if v is None or k.startswith(DELETE_PREFIX) or k.startswith(ORDER_PREFIX):
            continue
        if not any(ordering.same(k, r) for r in retain):
            raise errors.BadRequest(smperrors.BAD_RETAIN_KEYS)
    for k in list(original):
        if not any(ordering.same(k, r) for r in retain):
            del original[k]


# --- lists --------------------------------------------------------------------------------

def merge_slice_handler(original: list[Any], patch: list[Any], node: Node, strategy: str,
                        merge_key: str, is_delete_list: bool, opts: MergeOptions) -> list[Any]:
    """patch.go mergeSliceHandler: merge-strategy lists (and delete lists) merge, others replace."""
    if strategy == "merge" or is_delete_list:
        return merge_slice(original, patch, node, merge_key, opts, is_delete_list)
    return patch


def merge_slice(original: list[Any], patch: list[Any], node: Node, merge_key: str,
                opts: MergeOptions, is_delete_list: bool) -> list[Any]:
    """patch.go mergeSlice."""
    if not original and not patch:
        return original
    kind = ordering.element_kind(original, patch)
    if kind is not dict:
        if opts.merge_parallel_list and is_delete_list:
            return [v for v in original if not any(ordering.same(v, d) for d in patch)]
        merged = ordering.deduplicate_scalars(original + patch)
    else:
        if not merge_key:
            raise smperrors.failure("cannot merge lists without merge key for struct")
        backing = original
        original, patch, free = _special_elements(backing, patch, merge_key)
        merged = _merge_by_key(original, patch, merge_key, node, opts, backing, free)
    patch_items, server_only = ordering.partition(merged, patch, merge_key)
    return ordering.normalize_element_order(patch_items, server_only, patch, original,
                                            merge_key, kind is dict)


def _special_elements(original: list[Any], patch: list[Any],
                      merge_key: str) -> tuple[list[Any], list[Any], int]:
    # patch.go mergeSliceWithSpecialElements: `$patch: delete|replace` items of a merging list.
    # Returns (list to merge into, plain patch items, free slots left in `original`).
    plain: list[Any] = []
    replace = False
    length = len(original)
    for item in patch:
        if DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == "delete":
            if merge_key not in item:
                raise smperrors.no_merge_key(item, merge_key)
            length = _delete_in_place(original, length, merge_key, item[merge_key])
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise smperrors.failure("merging lists cannot yet be specified in the patch")
        else:
            raise smperrors.bad_patch_type(directive, item)
    if replace:
        return plain, [], 0
    return original[:length], plain, len(original) - length


def _delete_in_place(backing: list[Any], length: int, merge_key: str, value: Any) -> int:
    # patch.go deleteMatchingEntries deletes with append(s[:k], s[k+1:]...), shifting items
    # left inside the caller's array; the caller's view (used as the live order when a
    # $setElementOrder list is merged) sees that, so we reproduce it on `backing`.
    while True:
        k = next((i for i in range(length) if merge_key in backing[i]
                  and ordering.same(backing[i][merge_key], value)), -1)
        if k < 0:
            return length
        backing[k:length - 1] = backing[k + 1:length]
        length -= 1


def _merge_by_key(original: list[Any], patch: list[Any], merge_key: str, node: Node,
                  opts: MergeOptions, backing: list[Any], free: int) -> list[Any]:
    # patch.go mergeSliceWithoutSpecialElements: merge matching items, append the others.
    # Go's first `free` appends land in the slots deletions freed in the caller's array.
    start = len(backing) - free
    original = list(original)  # the caller keeps ordering server-only items by its own view
    for item in patch:
        if merge_key not in item:
            raise smperrors.no_merge_key(item, merge_key)
        i = ordering.find_by_key(original, merge_key, item[merge_key])
        if i >= 0:
            original[i] = merge_map(original[i], item, node, opts)
        else:
            if free:
                backing[start] = item
                start, free = start + 1, free - 1
            original.append(item)
    return original


def _merge_ordered_lists(original: dict[str, Any], patch: dict[str, Any], node: Node,
                         opts: MergeOptions) -> None:
    # patch.go mergePatchIntoOriginal: merge each list that has a `$setElementOrder/<field>`
    # and order it: $setElementOrder > patch order > live order.
    for key in [k for k in patch if k.startswith(ORDER_PREFIX)]:
        order = patch.pop(key)
        if not opts.merge_parallel_list:
            if key in original and original[key] != order:
                raise errors.BadRequest(smperrors.BAD_SET_ELEMENT_ORDER)
            original.setdefault(key, order)
        if not isinstance(order, list):
            raise smperrors.bad_arg_type([], order)
        field = extract_key(key, ORDER_PREFIX)
        orig_list = original.get(field) if field in original else None
        patch_list = patch.get(field) if field in patch else None
        for value, found in ((orig_list, field in original), (patch_list, field in patch)):
            if found and not isinstance(value, list):
                raise smperrors.bad_arg_type([], value)
        sub, strategy, merge_key = lookup_slice(node, field)
        _validate_order(patch_list or [], order, merge_key)

        if orig_list is None and patch_list is None:
            continue
        if patch_list is None:
            merged = orig_list
        elif orig_list is None:
            merged, _ = remove_directives(patch_list)
        else:
            merged = merge_slice_handler(orig_list, patch_list, sub, strategy, merge_key, False, opts)

        in_order, server_only = ordering.partition(merged, order, merge_key)
        kind = ordering.element_kind(orig_list or [], patch_list or [])
        original[field] = ordering.normalize_element_order(in_order, server_only, order,
                                                           orig_list or [], merge_key, kind is dict)
        patch.pop(field, None)


def _validate_order(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
    # patch.go validatePatchWithSetOrderList: patch items must follow the $setElementOrder order.
    if not order or not patch_list:
        return
    items = patch_list
    if merge_key:
        for item in patch_list:
            if not isinstance(item, dict):
                raise smperrors.bad_arg_type({}, item)
        items = [i for i in patch_list if i.get(DIRECTIVE) != "delete"]
    pi = oi = 0
    while pi < len(items) and oi < len(order):
        if isinstance(items[pi], dict) and DIRECTIVE in items[pi]:
            pi += 1
            continue
        if _merge_key_equal(items[pi], order[oi], merge_key):
            pi += 1
        oi += 1
    if pi < len(items) and oi >= len(order):
        raise smperrors.failure(
            f"The order in patch list:\n{smperrors.go_value(patch_list)}\n doesn't match "
            f"{ORDER_PREFIX} list:\n{smperrors.go_value(order)}\n")


def _merge_key_equal(left: Any, right: Any, merge_key: str) -> bool:
    # patch.go mergeKeyValueEqual
    if not merge_key:
        return ordering.same(left, right)
    for side in (left, right):
        if not isinstance(side, dict):
            raise smperrors.bad_arg_type({}, side)
        if merge_key not in side:
            raise smperrors.no_merge_key(side, merge_key)
    return ordering.same(left[merge_key], right[merge_key])


def two_way_merge_patch(original: dict[str, Any], modified: dict[str, Any],
                        def_name: str | None) -> dict[str, Any]:
    """CreateTwoWayMergePatch: a patch turning `original` into `modified` (see two_way.py)."""
    from kubeproc.registry.patch.two_way import create_two_way_merge_patch

    return create_two_way_merge_patch(original, modified, def_name)
