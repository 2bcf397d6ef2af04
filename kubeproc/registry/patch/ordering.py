"""List bookkeeping for strategic merge patch: equality, de-duplication, partitioning, order.

Ports the ordering helpers of k8s.io/apimachinery/pkg/util/strategicpatch/patch.go so a
merged list comes out in upstream order: `$setElementOrder` first, then patch order, then
the live object's order for server-only items.
"""

from __future__ import annotations

from typing import Any

from kubeproc.registry.patch import smperrors

DIRECTIVE = "$patch"


def same(a: Any, b: Any) -> bool:
    """Go interface equality of JSON values: same dynamic type and equal value (1 != 1.0 != true)."""
    return type(a) is type(b) and a == b


def key_of(item: Any, merge_key: str) -> Any:
    # patch.go index getValFn: merge-key value of a map item, the item itself for scalars.
    if merge_key:
        return item.get(merge_key) if isinstance(item, dict) else None
    return item


def index(items: list[Any], value: Any, merge_key: str) -> int:
    # patch.go index
    wanted = key_of(value, merge_key)
    for i, v in enumerate(items):
        if same(key_of(v, merge_key), wanted):
            return i
    return -1


def deduplicate_scalars(items: list[Any]) -> list[Any]:
    # patch.go deduplicateScalars (its swap-with-last order is repaired by normalize_element_order)
    out: list[Any] = []
    for v in items:
        if not any(same(v, o) for o in out):
            out.append(v)
    return out


def find_by_key(items: list[Any], merge_key: str, value: Any) -> int:
    # patch.go findMapInSliceBasedOnKeyValue: index of the map whose merge key equals value.
    for i, v in enumerate(items):
        if not isinstance(v, dict):
            raise smperrors.failure(f"value for key {i} is not a map")
        if merge_key in v and same(v[merge_key], value):
            return i
    return -1


def partition_primitives(merged: list[Any], by: list[Any]) -> tuple[list[Any], list[Any]]:
    # patch.go partitionPrimitivesByPresentInList
    present = [v for v in merged if any(same(v, b) for b in by)]
    server_only = [v for v in merged if not any(same(v, b) for b in by)]
    return present, server_only


def partition_maps(merged: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    # patch.go partitionMapsByPresentInList
    present: list[Any] = []
    server_only: list[Any] = []
    for v in merged:
        if not isinstance(v, dict):
            raise smperrors.bad_arg_type({}, v)
        if merge_key not in v:
            raise smperrors.no_merge_key(v, merge_key)
        (present if find_by_key(by, merge_key, v[merge_key]) >= 0 else server_only).append(v)
    return present, server_only


def partition(merged: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    if merge_key:
        return partition_maps(merged, by, merge_key)
    return partition_primitives(merged, by)


def _validate_merge_key(merge_key: str, *lists: list[Any]) -> None:
    # patch.go validateMergeKeyInLists
    for lst in lists:
        for item in lst:
            if not isinstance(item, dict):
                raise smperrors.bad_arg_type({}, item)
            if merge_key not in item:
                raise smperrors.no_merge_key(item, merge_key)


def sort_by(to_sort: list[Any], order: list[Any], merge_key: str, maps: bool) -> list[Any]:
    # patch.go normalizeSliceOrder; `$patch: delete` items go last. Items missing from
    # `order` (upstream's comparator is then not a strict order) keep their place at the end.
    to_delete: list[Any] = []
    if maps:
        _validate_merge_key(merge_key, to_sort, order)
        to_delete = [v for v in to_sort if v.get(DIRECTIVE) == "delete"]
        to_sort = [v for v in to_sort if v.get(DIRECTIVE) != "delete"]

    def rank(item: Any) -> int:
        i = index(order, item, merge_key if maps else "")
        return i if i >= 0 else len(order)

    return sorted(to_sort, key=rank) + to_delete


def _merge_sorted(left: list[Any], right: list[Any], server_order: list[Any],
                  merge_key: str, maps: bool) -> list[Any]:
    # patch.go mergeSortedSlice: interleave server-only items (left) into patch items (right)
    # using the live order where both are known; otherwise the patch item goes first.
    mk = merge_key if maps else ""
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li, ri = index(server_order, left[i], mk), index(server_order, right[j], mk)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def normalize_element_order(patch_items: list[Any], server_only: list[Any], patch_order: list[Any],
                            server_order: list[Any], merge_key: str, maps: bool) -> list[Any]:
    """patch.go normalizeElementOrder: sort both parts, then interleave them."""
    patch_items = sort_by(patch_items, patch_order, merge_key, maps)
    server_only = sort_by(server_only, server_order, merge_key, maps)
    return _merge_sorted(server_only, patch_items, server_order, merge_key, maps)


def element_kind(*lists: list[Any]) -> type:
    """patch.go sliceElementType: the one JSON type shared by all elements of all lists."""
    prev: type | None = None
    for lst in lists:
        for v in lst:
            cur = type(v)
            if prev is None:
                if cur is list:
                    raise smperrors.list_of_lists()
                prev = cur
            elif cur is not prev:
                rendered = "[" + " ".join(smperrors.go_value(x) for x in lists) + "]"
                raise smperrors.failure(f"list element types are not identical: {rendered}")
    if prev is None:
        raise smperrors.failure("no elements in any of the given slices")
    return prev


def deep_equal(a: Any, b: Any) -> bool:
    """reflect.DeepEqual of decoded JSON values (types must match: 1 != 1.0 != true)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b))
    return bool(a == b)
