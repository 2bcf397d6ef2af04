"""StatefulSet revision history (ControllerRevisions): pure.

A revision stores a strategic-merge patch replacing spec.template; its name is
`<set>-<hash>` where hash is FNV-32 of the patch bytes (plus the collision count) safe-encoded.
Ports pkg/controller/history/controller_history.go (NewControllerRevision,
HashControllerRevision, EqualRevision, SortControllerRevisions, CreateControllerRevision's
collision loop) and stateful_set_control.go getStatefulSetRevisions / truncateHistory plus
stateful_set_utils.go getPatch / newRevision / ApplyRevision / nextRevision (Kubernetes 1.36).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from kubeproc.controllers.statefulset.identity import controller_ref, meta, pod_revision, spec, status

Obj = dict[str, Any]
HASH_LABEL = "controller.kubernetes.io/hash"  # history.ControllerRevisionHashLabel
_SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand


def go_json(value: Any) -> bytes:
    """encoding/json of a map[string]interface{}: sorted keys, compact, HTML-escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text.encode()


def safe_encode(s: str) -> str:
    """rand.SafeEncodeString: maps each character to a consonant/digit (no bad words)."""
    return "".join(_SAFE_ALPHANUMS[ord(c) % len(_SAFE_ALPHANUMS)] for c in s)


def fnv32(data: bytes) -> int:
    """hash/fnv New32 (FNV-1, not FNV-1a)."""
    h = 2166136261
    for b in data:
        h = (h * 16777619) & 0xFFFFFFFF
        h ^= b
    return h


def revision_hash(data: Any, collision_count: int | None) -> str:
    """HashControllerRevision over the patch bytes and the decimal collision count."""
    raw = go_json(data)
    if collision_count is not None:
        raw += str(collision_count).encode()
    return safe_encode(str(fnv32(raw)))


def revision_name(prefix: str, hash_: str) -> str:
    """ControllerRevisionName: the prefix is cut to 223 bytes so the name fits 253."""
    return f"{prefix[:223]}-{hash_}"


def patch_of(sts: Mapping[str, Any]) -> Obj:
    """getPatch: {"spec":{"template":{..., "$patch":"replace"}}}."""
    template = copy.deepcopy(dict(spec(sts).get("template") or {}))
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def apply_revision(sts: Mapping[str, Any], revision: Mapping[str, Any]) -> Obj:
    """ApplyRevision: the set with spec.template restored from the revision's patch (a
    `$patch: replace` strategic merge of a map is a plain replacement)."""
    out = copy.deepcopy(dict(sts))
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template"))
    if isinstance(template, dict):
        template.pop("$patch", None)
        out.setdefault("spec", {})["template"] = template
    return out


def number(revision: Mapping[str, Any]) -> int:
    return int(revision.get("revision") or 0)


def sort_revisions(revisions: Sequence[Mapping[str, Any]]) -> list[Obj]:
    """SortControllerRevisions: by revision, then creationTimestamp, then name (stable)."""
    return sorted((dict(r) for r in revisions),
                  key=lambda r: (number(r), str(meta(r).get("creationTimestamp") or ""), str(meta(r).get("name"))))


def next_revision(revisions: Sequence[Mapping[str, Any]]) -> int:
    return number(revisions[-1]) + 1 if revisions else 1


def equal_revision(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """EqualRevision: the stored patches are the same (the hash label is only a shortcut)."""
    return go_json(a.get("data")) == go_json(b.get("data"))


def new_revision(sts: Mapping[str, Any], revision: int, collision_count: int) -> Obj:
    """newRevision + history.NewControllerRevision: labels are the template's plus the hash
    label, annotations are the set's, owned by the set through a controller ref."""
    data = patch_of(sts)
    h = revision_hash(data, collision_count)
    labels = dict(meta(spec(sts).get("template") or {}).get("labels") or {})
    labels[HASH_LABEL] = h
    md: Obj = {"name": revision_name(str(meta(sts).get("name")), h), "namespace": meta(sts).get("namespace"),
               "labels": labels, "ownerReferences": [controller_ref(sts)]}
    if meta(sts).get("annotations"):
        md["annotations"] = dict(meta(sts)["annotations"])
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": md,
            "data": data, "revision": revision}


@dataclass(frozen=True)
class Revisions:
    """getStatefulSetRevisions' outcome: what to write, and the revisions the sync uses."""
    current: Obj
    update: Obj
    collision_count: int
    create: Obj | None = None  # a new revision to create
    bump: tuple[str, int] | None = None  # (name, revision): a rollback renumbers an old one


def resolve_revisions(sts: Mapping[str, Any], owned: Sequence[Mapping[str, Any]],
                      taken_names: Mapping[str, Mapping[str, Any]]) -> Revisions:
    """getStatefulSetRevisions over the sorted owned revisions. `taken_names` holds every
    revision of the namespace by name, so a hash collision with any of them (even one of
    another owner) bumps collisionCount as CreateControllerRevision does on AlreadyExists."""
    revisions = sort_revisions(owned)
    collision = int(status(sts).get("collisionCount") or 0)
    candidate = new_revision(sts, next_revision(revisions), collision)
    equal = [r for r in revisions if equal_revision(r, candidate)]
    create: Obj | None = None
    bump: tuple[str, int] | None = None
    if equal and revisions and equal_revision(revisions[-1], equal[-1]):
        update = revisions[-1]  # unchanged template: the newest revision stays
    elif equal:
        update = dict(equal[-1], revision=number(candidate))  # rollback reuses the old revision
        bump = (str(meta(update).get("name")), number(candidate))
    else:
        while True:
            existing = taken_names.get(str(meta(candidate).get("name")))
            if existing is None:
                create = update = candidate
                break
            if go_json(existing.get("data")) == go_json(candidate.get("data")):
                update = dict(existing)  # created earlier under that name: reuse it
                break
            collision += 1
            candidate = new_revision(sts, number(candidate), collision)
    current = next((r for r in revisions if meta(r).get("name") == status(sts).get("currentRevision")), update)
    return Revisions(current=current, update=update, collision_count=collision, create=create, bump=bump)


def revisions_to_delete(sts: Mapping[str, Any], pods: Sequence[Mapping[str, Any]],
                        owned: Sequence[Mapping[str, Any]], live: Sequence[str]) -> list[str]:
    """truncateHistory: non-live revisions (not current/update, no pod labelled with them),
    oldest first, beyond spec.revisionHistoryLimit."""
    alive = set(live) | {pod_revision(p) for p in pods}
    history = [r for r in sort_revisions(owned) if meta(r).get("name") not in alive]
    limit = spec(sts).get("revisionHistoryLimit")
    limit = 10 if limit is None else int(limit)
    if limit < 0 or len(history) <= limit:
        return []
    return [str(meta(r).get("name")) for r in history[:len(history) - limit]]
