"""Server-side apply and metadata.managedFields bookkeeping, as the Kubernetes API server does.

Ports sigs.k8s.io/structured-merge-diff merge.Updater (apply, prune, conflicts) and the
managers chain of k8s.io/apimachinery/pkg/util/managedfields/internal (decode/encode,
build manager info, strip meta, managedFields updater, cap managers, skip non-applied).
Callers pass whole JSON objects; nothing passed in is mutated.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from kubeproc.api import errors
from kubeproc.registry.patch import created, typed
from kubeproc.registry.patch.fieldset import FieldSet, Path, go_json, path_string
from kubeproc.registry.patch.managed import (
    Managers, VersionedSet, cap_update_managers, conflict_error, decode_managed_fields,
    encode_managed_fields, field_path, is_reset, managed_of, manager_id, strip_meta,
    strip_meta_fields)

_CURRENT_OPERATION = "current-operation"
_BEFORE_FIRST_APPLY = "before-first-apply"
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_ANNOTATIONS_SIZE_LIMIT = 256 * 1024  # apimachinery ValidateAnnotationsSize


class _Conflicts(Exception):
    """merge.Conflicts: (manager identifier, path) pairs, before becoming a 409."""

    def __init__(self, items: list[tuple[str, Path]]) -> None:
        super().__init__(f"{len(items)} conflicts")
        self.items = items

    def error(self, keep: FieldSet | None = None) -> errors.Conflict:
        return conflict_error([(m, path_string(p)) for m, p in self.items
                               if keep is None or not keep.has(p)])


# The structured-merge-diff updater -----------------------------------------------------
@dataclass
class _Updater:
    root: typed.TypeInfo
    version: str
    ignore: FieldSet  # reset fields: neither owned nor compared (Updater.IgnoreFilter)

    def filter(self, s: FieldSet) -> FieldSet:
        return s.recursive_difference(self.ignore) if not self.ignore.empty() else s

    def update(self, old: dict[str, Any], new: dict[str, Any], managers: Managers,
               workflow: str, force: bool) -> typed.Comparison:
        """merge.Updater.update: others lose changed fields (or it is a conflict)."""
        cmp = typed.compare(old, new, self.root)
        if all(mid == workflow for mid in managers):
            return cmp  # nobody else owns anything: no conflicts, nothing to take away
        changed = self.filter(cmp.changed)
        removed = self.filter(cmp.removed)
        conflicts: dict[str, FieldSet] = {}
        for mid, vs in managers.items():
            if mid == workflow:
                continue
            c = vs.fields.intersection(changed)
            if not c.empty():
                conflicts[mid] = c
        if conflicts and not force:
            raise _Conflicts([(mid, p) for mid in sorted(conflicts)
                              for p in conflicts[mid].paths()])
        for mid in list(managers):
            if mid == workflow:
                continue
            vs = managers[mid]
            if mid not in conflicts and not vs.fields.empty() \
                    and vs.fields.intersection(removed).empty():
                continue  # loses nothing: the same set (and its encoding) stays
            rest = vs.fields.difference(conflicts.get(mid, FieldSet()))
            rest.discard(removed)  # `rest` is a new set: no second copy
            if rest.empty():
                del managers[mid]
            else:
                managers[mid] = VersionedSet(rest, vs.api_version, vs.applied)
        return cmp

    def apply_update(self, old: dict[str, Any], new: dict[str, Any], managers: Managers,
                     manager: str) -> None:
        """merge.Updater.Update: the writer owns what it added or modified."""
        cmp = self.update(old, new, managers, manager, True)
        prev = managers.get(manager)
        # `s` is a new set either way (cmp is ours), so the filter may work in place.
        if prev:
            s = prev.fields.difference(cmp.removed)
            s.absorb(cmp.changed)
        else:
            s = cmp.changed
        if not self.ignore.empty():
            s.discard_recursive(self.ignore)
        if s.empty():
            managers.pop(manager, None)
        else:
            managers[manager] = VersionedSet(s, self.version, False)

    def apply(self, live: dict[str, Any], config: dict[str, Any], managers: Managers,
              manager: str, force: bool) -> dict[str, Any]:
        """merge.Updater.Apply: merge, prune what the applier dropped, settle ownership."""
        merged = typed.merge(live, config, self.root)
        last = managers.get(manager)
        managers[manager] = VersionedSet(self.filter(typed.to_field_set(config, self.root)),
                                         self.version, True)
        new = self._prune(merged, managers, manager, last)
        self.update(live, new, managers, manager, force)
        return new

    def _named(self, s: FieldSet) -> FieldSet:
        return typed.ensure_named_fields_are_members(s, self.root)

    def _fs(self, obj: dict[str, Any]) -> FieldSet:
        return self._named(typed.to_field_set(obj, self.root))

    def _prune(self, merged: dict[str, Any], managers: Managers, manager: str,
               last: VersionedSet | None) -> dict[str, Any]:
        # Remove what the applier owned last time and no longer applies, unless another
        # manager owns it (addBackOwnedItems) or the applier never owned it (addBackDanglingItems).
        if last is None or last.fields.empty():
            return merged
        last_set = self._named(last.fields)
        pruned = _obj(typed.remove_items(merged, last_set, self.root))
        managed = FieldSet()
        for vs in managers.values():
            managed = managed.union(vs.fields)
        merged_set = self._fs(merged)
        pruned = _obj(typed.remove_items(
            merged, merged_set.difference(self._fs(pruned).union(self._named(managed))), self.root))
        dangling = merged_set.difference(self._fs(pruned)).intersection(last_set)
        return _obj(typed.remove_items(merged, dangling, self.root))


def _obj(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


# Helpers shared by both entry points ----------------------------------------------------
def _without_managed_fields(obj: dict[str, Any] | None) -> dict[str, Any]:
    if not obj:
        return {}
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


def _reset_set(reset_fields: list[str] | None) -> FieldSet:
    return FieldSet.of(*(field_path(*f.split(".")) for f in reset_fields or ()))


def _decode_live_or_new(old: dict[str, Any] | None, new: dict[str, Any],
                        subresource: str) -> tuple[Managers, dict[str, str]]:
    """internal.decodeLiveOrNew: managedFields sent with a main-resource write win."""
    def decode(entries: Any) -> tuple[Managers, dict[str, str]]:
        try:
            return decode_managed_fields(entries)
        except ValueError:
            return {}, {}
    if subresource:
        return decode(managed_of(old))
    if is_reset(managed_of(new)):
        return {}, {}
    managers, times = decode(managed_of(new))
    return (managers, times) if managers else decode(managed_of(old))


# Public API -----------------------------------------------------------------------------
def update_managed_fields(old: dict[str, Any] | None, new: dict[str, Any], manager: str,
                          operation: str, def_name: str, now: str, api_version: str,
                          subresource: str = "", reset_fields: list[str] | None = None
                          ) -> list[dict[str, Any]]:
    """managedFields after a create/update/patch of `old` (None on create) into `new`.

    The writer gains the fields it added or changed; other managers lose them. managedFields
    sent in `new` (not for subresources) replace the live ones; `[]` clears them. On any
    error the result is empty, as upstream's UpdateNoErrors.
    """
    try:
        managers, times = _decode_live_or_new(old, new, subresource)
        # internal/skipnonapplied.go: an existing object without managedFields stays untracked.
        if not managers and old is not None and (old.get("metadata") or {}).get("uid"):
            return []
        if old is None and not managers:
            mid = manager_id(manager, operation, api_version, subresource)
            return created.entries(new, def_name, tuple(reset_fields or ()), mid, api_version, now,
                                   lambda: _created_fields(new, def_name, _reset_set(reset_fields)))
        updater = _Updater(typed.root_type(def_name), api_version, _reset_set(reset_fields))
        base = (_without_managed_fields(old) if old is not None
                else typed.shared_zero_object(def_name))
        updater.apply_update(base, _without_managed_fields(new), managers, _CURRENT_OPERATION)
        strip_meta(managers)
        # internal/managedfieldsupdater.go: fold the operation into the manager's entry.
        mid = manager_id(manager, operation, api_version, subresource)
        current = managers.pop(_CURRENT_OPERATION, None)
        if current is not None:
            prev = managers.get(mid)
            fields = current.fields.union(prev.fields) if prev else current.fields
            managers[mid] = VersionedSet(fields, api_version, False)
            times[mid] = now
        cap_update_managers(managers, times)
        return encode_managed_fields(managers, times)
    except typed.SchemaError:
        return []


def _created_fields(new: dict[str, Any], def_name: str, reset: FieldSet) -> FieldSet:
    """The writer's fields for a create that sends no managedFields (the common write).

    What the general path computes, without its bookkeeping: the writer alone owns what
    the object adds to or changes in the empty object of its kind, less the reset fields
    and the fields strip_meta drops. Sets built here are ours, so they are pruned in place.
    """
    fields = typed.compare(typed.shared_zero_object(def_name), _without_managed_fields(new),
                           typed.root_type(def_name)).changed
    if not reset.empty():
        fields.discard_recursive(reset)
    strip_meta_fields(fields)
    return fields


def _created_entries(new: dict[str, Any], manager: str, operation: str, def_name: str,
                     now: str, api_version: str, subresource: str, reset: FieldSet
                     ) -> list[dict[str, Any]]:
    """update_managed_fields for such a create, without the memo of created.entries."""
    fields = _created_fields(new, def_name, reset)
    if fields.empty():
        return []
    mid = manager_id(manager, operation, api_version, subresource)
    return encode_managed_fields({mid: VersionedSet(fields, api_version, False)}, {mid: now})


def server_side_apply(live: dict[str, Any] | None, applied: dict[str, Any], manager: str,
                      force: bool, def_name: str, now: str, api_version: str,
                      subresource: str = "", reset_fields: list[str] | None = None
                      ) -> dict[str, Any]:
    """The object after `manager` applies `applied` to `live` (None: create).

    Raises errors.Conflict (409, FieldManagerConflict causes) when a field another manager
    owns would change and not `force`; errors.BadRequest for a malformed configuration.
    Fields named by `reset_fields` (e.g. ["status"]) keep their live value and are not owned.
    """
    if managed_of(applied) is not None:
        raise errors.BadRequest("metadata.managedFields must be nil")
    live_obj = _without_managed_fields(live)
    mid = manager_id(manager, "Apply", api_version, subresource)
    updater = _Updater(typed.root_type(def_name), api_version, _reset_set(reset_fields))
    try:
        try:
            new, managers, times = _apply_once(updater, live, live_obj, applied, mid, force,
                                               def_name, now)
        except _Conflicts as c:
            # internal/lastappliedmanager.go: `kubectl apply --server-side` may take over
            # fields it set through client-side apply (same value as last-applied and live).
            if manager != "kubectl":
                raise c.error() from None
            allowed = _allowed_from_last_applied(updater, live_obj, api_version)
            if allowed is None or any(not allowed.has(p) for _, p in c.items):
                raise c.error(allowed) from None
            new, managers, times = _apply_once(updater, live, live_obj, applied, mid, True,
                                               def_name, now)
    except typed.SchemaError as e:
        raise errors.BadRequest(f"failed to create typed patch object: {e}") from e
    _keep_reset_fields(new, live_obj, reset_fields)
    _drop_applied_nulls(new, applied)
    if new != live_obj:  # managedfieldsupdater.go: the time moves only when the object changed
        times[mid] = now
    new = copy.deepcopy(new)
    if manager == "kubectl":
        _sync_last_applied(new, applied)
    entries = encode_managed_fields(managers, times)
    meta = new.setdefault("metadata", {})
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)
    return new


def _apply_once(updater: _Updater, live: dict[str, Any] | None, live_obj: dict[str, Any],
                applied: dict[str, Any], mid: str, force: bool, def_name: str, now: str
                ) -> tuple[dict[str, Any], Managers, dict[str, str]]:
    try:
        managers, times = decode_managed_fields(managed_of(live))
    except ValueError as e:
        raise errors.BadRequest(f"failed to decode managed fields: {e}") from e
    if not managers and live_obj:
        # internal/skipnonapplied.go Apply: existing fields go to "before-first-apply".
        updater.apply_update(typed.shared_zero_object(def_name), live_obj, managers,
                             manager_id(_BEFORE_FIRST_APPLY, "Update", updater.version))
        for m in managers:
            times[m] = now
    new = updater.apply(live_obj, applied, managers, mid, force)
    strip_meta(managers)
    return new, managers, times


def _last_applied(obj: dict[str, Any]) -> str:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(_LAST_APPLIED) if isinstance(annotations, dict) else None
    return value if isinstance(value, str) else ""


def _allowed_from_last_applied(updater: _Updater, live: dict[str, Any],
                               api_version: str) -> FieldSet | None:
    """lastAppliedManager.allowedConflictsFromLastApplied: last-applied fields still live."""
    raw = _last_applied(live)
    if not raw:
        return None
    try:
        last = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(last, dict) or last.get("apiVersion") != api_version:
        return None
    cmp = typed.compare(last, live, updater.root)
    return typed.to_field_set(last, updater.root).difference(cmp.changed).difference(cmp.removed)


def _sync_last_applied(new: dict[str, Any], applied: dict[str, Any]) -> None:
    # internal/lastappliedupdater.go: kubectl's server-side apply keeps an existing
    # client-side apply annotation in step with what it applied.
    if not _last_applied(new):
        return
    config = copy.deepcopy(applied)
    cfg_ann = (config.get("metadata") or {}).get("annotations")
    if isinstance(cfg_ann, dict):
        cfg_ann.pop(_LAST_APPLIED, None)
    annotations = dict(new["metadata"]["annotations"])
    annotations[_LAST_APPLIED] = go_json(config) + "\n"  # runtime.Encode adds a newline
    if sum(len(k) + len(v) for k, v in annotations.items()) > _ANNOTATIONS_SIZE_LIMIT:
        del annotations[_LAST_APPLIED]  # SetLastApplied drops an annotation that is too big
    new["metadata"]["annotations"] = annotations


def _keep_reset_fields(new: dict[str, Any], live: dict[str, Any],
                       reset_fields: list[str] | None) -> None:
    # The strategy resets these (e.g. status on the main resource, spec on status writes):
    # the result keeps the live value. Dotted names reach into nested objects.
    for name in reset_fields or ():
        *parents, leaf = name.split(".")
        node, src = new, live
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                break
            node[part] = child = dict(child)  # copy on write: `new` shares structure
            node, src = child, src.get(part) if isinstance(src, dict) else None
        else:
            if isinstance(src, dict) and leaf in src:
                node[leaf] = src[leaf]
            else:
                node.pop(leaf, None)


def _drop_applied_nulls(new: dict[str, Any], applied: dict[str, Any]) -> None:
    # An explicit null in the configuration clears the field: typed objects omit nil fields.
    for key, value in applied.items():
        if value is None:
            new.pop(key, None)
        elif isinstance(value, dict) and isinstance(new.get(key), dict):
            new[key] = dict(new[key])
            _drop_applied_nulls(new[key], value)
