"""JSON merge patch (RFC 7386) as the Kubernetes API server applies it.

The apiserver uses evanphx/json-patch `MergePatch` for `application/merge-patch+json`;
this module reproduces its semantics, including its null pruning quirks, on decoded JSON.
Only the HTTP layer decodes bytes; here both documents are already Python values.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeproc.api import errors

# evanphx/json-patch merge.go ErrBadJSONPatch; the apiserver returns it as a 400.
_BAD_PATCH = "Invalid JSON Patch"


def merge_patch(original: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Apply merge patch `patch` to `original`; returns a new object, inputs untouched.

    Raises errors.BadRequest when the patch is not a JSON object.
    """
    if not isinstance(patch, dict):
        # merge.go doMergePatch: a null/scalar patch is ErrBadJSONPatch; an array patch would
        # replace the whole object, which no Kubernetes object can decode from.
        raise errors.BadRequest(_BAD_PATCH)
    if not isinstance(original, dict):
        return _prune_doc_nulls(copy.deepcopy(patch))
    return merge_patch_into(copy.deepcopy(original), patch)


def merge_patch_into(doc: dict[str, Any], patch: Any) -> dict[str, Any]:
    """merge_patch that reuses `doc` (modified and returned; pass a copy you own).

    `patch` is untouched and nothing of it is shared with the result.
    """
    if not isinstance(patch, dict):
        raise errors.BadRequest(_BAD_PATCH)
    patch = copy.deepcopy(patch)  # _merge_value may place patch values into the result
    _merge_docs(doc, patch)
    return doc


def _merge_docs(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    # merge.go mergeDocs: null deletes, a missing/null target takes the pruned patch value.
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
            continue
        cur = doc.get(key)
        if cur is None:
            doc[key] = _prune_nulls(value)
        else:
            doc[key] = _merge_value(cur, value)


def _merge_value(cur: Any, patch: Any) -> Any:
    # merge.go merge: only object-into-object recurses; a non-object target is replaced by
    # the pruned patch, while an object target replaced by a non-object keeps it unpruned.
    if not isinstance(cur, dict):
        return _prune_nulls(patch)
    if not isinstance(patch, dict):
        return patch
    _merge_docs(cur, patch)
    return cur


def _prune_nulls(value: Any) -> Any:
    # merge.go pruneNulls: drop null members of objects, recursively (null array items stay).
    if isinstance(value, dict):
        return _prune_doc_nulls(value)
    if isinstance(value, list):
        return [_prune_nulls(v) if v is not None else None for v in value]
    return value


def _prune_doc_nulls(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: _prune_nulls(v) for k, v in doc.items() if v is not None}
