"""managedFields of a create, memoized: objects of one shape own the same fields.

A create that sends no managedFields gives its writer every field the object sets (less the
reset fields and the metadata strip_meta drops). Those fields depend on the object only
through what strip_meta keeps, so objects that differ only in their name, uid, timestamps
(the replicas of one template, say) share one FieldsV1. The key is the object's exact JSON
text without those fields; it counts only when decoding it gives the object back (orjson
writes NaN as null, which compares differently), and only when the dropped fields are
scalars (an object there would leave owned children behind after stripping).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson

from kubeproc.registry.patch.fieldset import FieldSet
from kubeproc.registry.patch.managed import encode_entry

# metadata fields strip_meta removes (managed._STRIP), and managedFields (never compared)
_DROPPED = frozenset({"name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
                      "generation", "resourceVersion", "managedFields"})
_SCALARS = (str, int, float, bool, type(None))
MAX_TEXT = 16 * 1024
SIZE = 128
_EMPTY = b""
_memo: OrderedDict[tuple[str, tuple[str, ...], bytes], bytes] = OrderedDict()


def _key_text(new: dict[str, Any]) -> bytes | None:
    meta = new.get("metadata")
    if not isinstance(meta, dict):
        return None
    kept: dict[str, Any] = {}
    for k, v in meta.items():
        if k in _DROPPED:
            if k != "managedFields" and type(v) not in _SCALARS:
                return None
            continue
        kept[k] = v
    reduced = dict(new)
    reduced["metadata"] = kept
    try:
        text = orjson.dumps(reduced)
    except (orjson.JSONEncodeError, TypeError):
        return None
    if len(text) > MAX_TEXT or orjson.loads(text) != reduced:
        return None
    return text


def entries(new: dict[str, Any], def_name: str, reset_fields: tuple[str, ...], mid: str,
            api_version: str, now: str, fields_of: Callable[[], FieldSet]) -> list[dict[str, Any]]:
    """The managedFields of a create of `new` by manager `mid` at `now`: `fields_of()`'s set
    encoded as one Update entry (none if it is empty), memoized as described above."""
    text = _key_text(new)
    key = (def_name, reset_fields, text) if text is not None else None
    raw = _memo.get(key) if key is not None else None
    if raw is None:
        fields = fields_of()
        raw = _EMPTY if fields.empty() else orjson.dumps(fields.to_fields_v1())
        if key is not None:
            _memo[key] = raw
            if len(_memo) > SIZE:
                _memo.popitem(last=False)
    elif key is not None:
        _memo.move_to_end(key)
    if raw == _EMPTY:
        return []
    return [encode_entry(mid, api_version, False, {mid: now}, orjson.loads(raw))]
