"""metadata.managedFields: manager identifiers, FieldsV1 entries, conflicts, housekeeping.

Ports k8s.io/apimachinery/pkg/util/managedfields/internal: managers are keyed by the JSON
identifier upstream builds (manager, operation, apiVersion for updaters, subresource);
entries are encoded and sorted as the API server writes them; conflicts become the 409
Status upstream returns. Also the strip-meta and cap-managers rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from kubeproc.api import errors
from kubeproc.registry.patch.fieldset import FieldSet, PathElement

_ANCIENT_CHANGES = "ancient-changes"
_MAX_UPDATE_MANAGERS = 10  # internal.DefaultMaxUpdateManagers


@dataclass
class VersionedSet:
    fields: FieldSet
    api_version: str
    applied: bool
    # The FieldsV1 JSON text `fields` was decoded from: encoding an entry that came through a
    # write untouched reuses it (see _encoded_fields). A decoded set is never changed in
    # place; a changed one is a new VersionedSet, without a source.
    source: bytes | None = field(default=None, compare=False, repr=False)


Managers = dict[str, VersionedSet]  # keyed by manager identifier (JSON)
Times = dict[str, str]


def field_path(*names: str) -> tuple[PathElement, ...]:
    return tuple(PathElement.field(n) for n in names)


# internal/stripmeta.go: fields never tracked in managedFields.
_STRIP = FieldSet.of(
    field_path("apiVersion"), field_path("kind"), field_path("metadata"),
    *(field_path("metadata", n)
      for n in ("name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
                "generation", "managedFields", "resourceVersion")))


# Manager identifiers and managedFields encoding ------------------------------------------
_CACHE_LIMIT = 1 << 12  # bound the caches below (manager names come from requests)
_ids: dict[tuple[str, str, str, str], str] = {}
_idents: dict[str, dict[str, Any]] = {}
_decoded: dict[bytes, FieldSet] = {}
_encoded: dict[bytes, bytes] = {}  # FieldsV1 text -> the text upstream re-encodes it as
_DECODE_LIMIT = 128  # decoded sets are large: few, and of small entries only
_DECODE_MAX_TEXT = 8 * 1024


def manager_id(manager: str, operation: str, api_version: str = "", subresource: str = "") -> str:
    """internal.BuildManagerIdentifier: appliers are identified without their apiVersion."""
    key = (manager, operation, api_version, subresource)
    # cached for strings only: 1 and True would share a key but not an identifier
    if type(manager) is str and type(operation) is str and type(api_version) is str \
            and type(subresource) is str:
        mid = _ids.get(key)
        if mid is None:
            if len(_ids) >= _CACHE_LIMIT:
                _ids.clear()
            mid = _ids[key] = _manager_id(manager, operation, api_version, subresource)
        return mid
    return _manager_id(manager, operation, api_version, subresource)


def _manager_id(manager: str, operation: str, api_version: str, subresource: str) -> str:
    entry: dict[str, str] = {"manager": manager, "operation": operation}
    if api_version and operation != "Apply":
        entry["apiVersion"] = api_version
    if subresource:
        entry["subresource"] = subresource
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False)


def decode_managed_fields(entries: list[dict[str, Any]] | None) -> tuple[Managers, Times]:
    """internal.DecodeManagedFields; raises ValueError on a malformed entry."""
    managers: Managers = {}
    times: Times = {}
    for e in entries or []:
        if not isinstance(e, dict):
            raise ValueError("managedFields entries must be objects")
        if e.get("fieldsType", "FieldsV1") != "FieldsV1":
            raise ValueError(f"unsupported fieldsType {e.get('fieldsType')!r}")
        op = e.get("operation", "")
        mid = manager_id(e.get("manager", ""), op, e.get("apiVersion", ""), e.get("subresource", ""))
        if mid in managers:
            raise ValueError(f"duplicate manager {mid}")
        fields, text = _fields_and_text(e.get("fieldsV1") or {})
        managers[mid] = VersionedSet(fields, e.get("apiVersion", ""), op == "Apply", text)
        if e.get("time"):
            times[mid] = e["time"]
    return managers, times


def _fields_of(raw: Any) -> FieldSet:
    """FieldSet.from_fields_v1, memoized by the JSON text of a FieldsV1 object (the same
    entries are decoded write after write). Callers get their own copy."""
    return _fields_and_text(raw)[0]


def _fields_and_text(raw: Any) -> tuple[FieldSet, bytes | None]:
    """_fields_of, and the JSON text of `raw` (None when it has none)."""
    if type(raw) is not dict:
        return FieldSet.from_fields_v1(raw), None
    try:
        text = orjson.dumps(raw)
    except (orjson.JSONEncodeError, TypeError):
        return FieldSet.from_fields_v1(raw), None
    cached = _decoded.get(text)
    if cached is None:
        cached = FieldSet.from_fields_v1(raw)  # raises on a bad entry: nothing is cached
        if len(text) <= _DECODE_MAX_TEXT:
            if len(_decoded) >= _DECODE_LIMIT:
                del _decoded[next(iter(_decoded))]  # the oldest
            _decoded[text] = cached.copy()
        return cached, text
    return cached.copy(), text


def _encoded_fields(vs: VersionedSet) -> dict[str, Any]:
    """vs.fields.to_fields_v1(). A set decoded from text T and not changed since encodes as
    every set decoded from T does: that encoding is memoized by T (it equals T itself when
    the server wrote T; a client's T may differ in key order or '.' markers)."""
    text = vs.source
    if text is None or len(text) > _DECODE_MAX_TEXT:
        return vs.fields.to_fields_v1()
    canonical = _encoded.get(text)
    if canonical is None:
        fields_v1 = vs.fields.to_fields_v1()
        if len(_encoded) >= _DECODE_LIMIT:
            del _encoded[next(iter(_encoded))]  # the oldest
        _encoded[text] = orjson.dumps(fields_v1)
        return fields_v1
    return orjson.loads(canonical)


def _ident(mid: str) -> dict[str, Any]:
    """json.loads of a manager identifier, memoized; callers only read it."""
    ident = _idents.get(mid)
    if ident is None:
        if len(_idents) >= _CACHE_LIMIT:
            _idents.clear()
        ident = _idents[mid] = json.loads(mid)
    return ident


def unix_seconds(t: str | None) -> float:
    if not t:
        return 0
    try:
        return int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def encode_managed_fields(managers: Managers, times: Times) -> list[dict[str, Any]]:
    """internal.encodeManagedFields + sortEncodedManagedFields (operation, time, manager, ...)."""
    out = [encode_entry(mid, vs.api_version, vs.applied, times, _encoded_fields(vs))
           for mid, vs in managers.items()]
    out.sort(key=lambda e: (e["operation"], unix_seconds(e.get("time")), e["manager"],
                            e.get("apiVersion", ""), e.get("subresource", "")))
    return out


def encode_entry(mid: str, api_version: str, applied: bool, times: Times,
                 fields_v1: dict[str, Any]) -> dict[str, Any]:
    """One managedFields entry (internal.encodeManagedFields), keys in upstream order."""
    ident = _ident(mid)
    entry: dict[str, Any] = {"manager": ident.get("manager", "")}
    entry["operation"] = "Apply" if applied else ident.get("operation", "")
    if api_version:
        entry["apiVersion"] = api_version
    if mid in times:
        entry["time"] = times[mid]
    entry["fieldsType"] = "FieldsV1"
    entry["fieldsV1"] = fields_v1
    if ident.get("subresource"):
        entry["subresource"] = ident["subresource"]
    return entry


def _print_manager(mid: str) -> str:
    # internal/conflict.go printManager
    ident = _ident(mid)
    s = json.dumps(ident.get("manager", ""), ensure_ascii=False)
    if ident.get("subresource"):
        s += f' with subresource {json.dumps(ident["subresource"], ensure_ascii=False)}'
    if ident.get("operation") == "Update":
        s += f' using {ident.get("apiVersion", "")}'
    return s


def conflict_error(conflicts: list[tuple[str, str]]) -> errors.Conflict:
    """internal.NewConflictError: 409 with one FieldManagerConflict cause per (manager, path)."""
    causes = [errors.Cause("FieldManagerConflict", f"conflict with {_print_manager(m)}", p)
              for m, p in conflicts]
    if len(conflicts) == 1:
        m, p = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {_print_manager(m)}: {p}"
    else:
        lines: list[str] = []
        for m in sorted({m for m, _ in conflicts}):
            lines.append(f"conflicts with {_print_manager(m)}:")
            lines.extend(f"- {p}" for mm, p in conflicts if mm == m)
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return errors.Conflict(message, causes=causes)


def strip_meta(managers: Managers) -> None:
    # internal/stripmeta.go stripFields; empty managers disappear.
    for mid in list(managers):
        vs = managers[mid]
        if not vs.fields.empty() and vs.fields.intersection(_STRIP).empty():
            continue  # nothing to strip (a stored entry): the same set, its source kept
        rest = vs.fields.difference(_STRIP)
        if rest.empty():
            del managers[mid]
        else:
            managers[mid] = VersionedSet(rest, vs.api_version, vs.applied)


def strip_meta_fields(fields: FieldSet) -> None:
    """strip_meta for one set the caller owns: drops the never-tracked fields in place."""
    fields.discard(_STRIP)


def managed_of(obj: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    meta = (obj or {}).get("metadata")
    return meta.get("managedFields") if isinstance(meta, dict) else None


def is_reset(entries: list[Any] | None) -> bool:
    # internal.isResetManagedFields: [] or [{}] asks to clear managedFields.
    if entries is None:
        return False
    return len(entries) == 0 or (len(entries) == 1 and entries[0] == {})


def cap_update_managers(managers: Managers, times: Times) -> None:
    """internal/capmanagers.go: fold the oldest Update managers into ancient-changes buckets."""
    updaters = [m for m, vs in managers.items() if not vs.applied]
    if len(updaters) <= _MAX_UPDATE_MANAGERS:
        return
    updaters.sort(key=lambda m: (unix_seconds(times.get(m)), m))
    first_of: dict[str, str] = {}
    length = len(updaters)
    for mid in updaters:
        if length <= _MAX_UPDATE_MANAGERS:
            break
        vs = managers[mid]
        bucket = manager_id(_ANCIENT_CHANGES, "Update", vs.api_version)
        if vs.api_version not in first_of:
            first_of[vs.api_version] = mid
            continue
        if bucket not in managers:
            managers[bucket] = managers.pop(first_of[vs.api_version])
        managers[bucket] = VersionedSet(vs.fields.union(managers[bucket].fields),
                                        vs.api_version, vs.applied)
        del managers[mid]
        length -= 1
        if mid in times:
            times[bucket] = times[mid]
        times.pop(mid, None)
