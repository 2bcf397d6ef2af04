"""Field sets and their FieldsV1 encoding (metadata.managedFields).

Ports sigs.k8s.io/structured-merge-diff fieldpath set.go / serialize.go: a FieldSet is a
trie of path elements where a node may itself be a member (`.`); the FieldsV1 JSON is
upstream's, byte for byte. Path elements live in pathelement.py (re-exported here).
"""

from __future__ import annotations

import json
from typing import Any, Iterator

from kubeproc.registry.patch.pathelement import (
    Path, PathElement, canonical, compare_elements, compare_values, go_json,
    path_string, sorted_elements, value_string)

__all__ = [
    "FieldSet", "Path", "PathElement", "canonical", "compare_elements", "compare_values",
    "go_json", "path_string", "sorted_elements", "value_string",
]


class FieldSet:
    """A set of field paths, stored as a trie (fieldpath.Set). Mutable only via insert."""

    __slots__ = ("members", "children")

    def __init__(self) -> None:
        self.members: set[PathElement] = set()
        self.children: dict[PathElement, FieldSet] = {}

    @classmethod
    def of(cls, *paths: Path) -> "FieldSet":
        s = cls()
        for p in paths:
            s.insert(p)
        return s

    def insert(self, path: Path) -> None:
        if not path:
            return
        node = self
        for pe in path[:-1]:
            node = node.children.setdefault(pe, FieldSet())
        node.members.add(path[-1])

    def has(self, path: Path) -> bool:
        node: FieldSet | None = self
        for pe in path[:-1]:
            node = node.children.get(pe) if node else None
        return bool(path) and node is not None and path[-1] in node.members

    def with_prefix(self, pe: PathElement) -> "FieldSet":
        return self.children.get(pe) or FieldSet()

    def empty(self) -> bool:
        return not self.members and all(c.empty() for c in self.children.values())

    def union(self, other: "FieldSet") -> "FieldSet":
        out = FieldSet()
        out.members = self.members | other.members
        for pe in self.children.keys() | other.children.keys():
            a, b = self.children.get(pe), other.children.get(pe)
            out.children[pe] = a.union(b) if a and b else (a or b).copy()  # type: ignore[union-attr]
        return out

    def intersection(self, other: "FieldSet") -> "FieldSet":
        out = FieldSet()
        out.members = self.members & other.members
        for pe, child in self.children.items():
            if pe in other.children:
                sub = child.intersection(other.children[pe])
                if not sub.empty():
                    out.children[pe] = sub
        return out

    def difference(self, other: "FieldSet") -> "FieldSet":
        """Paths in self not in other; removing a member keeps its children (as upstream)."""
        out = FieldSet()
        out.members = self.members - other.members
        for pe, child in self.children.items():
            sub = child.difference(other.children[pe]) if pe in other.children else child.copy()
            if not sub.empty():
                out.children[pe] = sub
        return out

    def recursive_difference(self, other: "FieldSet") -> "FieldSet":
        """Paths in self neither in other nor below a member of other (Set.RecursiveDifference)."""
        out = FieldSet()
        out.members = self.members - other.members
        for pe, child in self.children.items():
            if pe in other.members:
                continue
            sub = child.recursive_difference(other.children[pe]) if pe in other.children else child.copy()
            if not sub.empty():
                out.children[pe] = sub
        return out

    # In-place forms of difference / recursive_difference, for a set the caller built and
    # shares with nothing: they avoid copying the subtrees `other` does not touch.
    def discard(self, other: "FieldSet") -> None:
        """Make self what self.difference(other) returns."""
        self.members -= other.members
        children = self.children
        for pe in list(children):
            child, sub = children[pe], other.children.get(pe)
            if sub is not None:
                child.discard(sub)
            if child.empty():
                del children[pe]

    def discard_recursive(self, other: "FieldSet") -> None:
        """Make self what self.recursive_difference(other) returns."""
        self.members -= other.members
        children = self.children
        for pe in list(children):
            if pe in other.members:
                del children[pe]
                continue
            child, sub = children[pe], other.children.get(pe)
            if sub is not None:
                child.discard_recursive(sub)
            if child.empty():
                del children[pe]

    def absorb(self, other: "FieldSet") -> None:
        """Make self what self.union(other) returns (other's subtrees are copied, not shared)."""
        self.members |= other.members
        for pe, b in other.children.items():
            a = self.children.get(pe)
            if a is None:
                self.children[pe] = b.copy()
            else:
                a.absorb(b)

    def copy(self) -> "FieldSet":
        out = FieldSet()
        out.members = set(self.members)
        out.children = {pe: c.copy() for pe, c in self.children.items()}
        return out

    def paths(self, prefix: Path = ()) -> Iterator[Path]:
        """All member paths: this level's members in order, then each child (Set.Iterate)."""
        for pe in sorted_elements(self.members):
            yield prefix + (pe,)
        for pe in sorted_elements(self.children):
            yield from self.children[pe].paths(prefix + (pe,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSet) and set(self.paths()) == set(other.paths())

    def __repr__(self) -> str:
        return "FieldSet(" + ", ".join(path_string(p) for p in self.paths()) + ")"

    # FieldsV1 -------------------------------------------------------------------------
    def to_fields_v1(self) -> dict[str, Any]:
        """The FieldsV1 object (fieldpath/serialize.go emitContentsV1), keys in upstream order."""
        return self._emit(include_self=False)

    def _emit(self, include_self: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if include_self and (self.members or self.children):
            out["."] = {}
        members, children = self.members, self.children
        for pe in sorted_elements(members | children.keys()):
            key = "f:" + pe.payload if pe.kind == "f" else pe.serialize()
            child = children.get(pe)
            out[key] = {} if child is None else child._emit(include_self=pe in members)
        return out

    def to_json(self) -> str:
        """FieldsV1 bytes as the apiserver writes them."""
        return _emit_json(self.to_fields_v1())

    @classmethod
    def from_fields_v1(cls, raw: dict[str, Any] | str | bytes) -> "FieldSet":
        """Decode FieldsV1 (readIterV1); unknown element types are skipped as upstream."""
        if isinstance(raw, (str, bytes)):
            raw = json.loads(raw)
        if not isinstance(raw, dict):
            raise ValueError("FieldsV1 must be a JSON object")
        return cls._read(raw)[0] or FieldSet()

    @classmethod
    def _read(cls, raw: dict[str, Any]) -> tuple["FieldSet | None", bool]:
        children: FieldSet | None = None
        is_member = False
        for key, sub in raw.items():
            if key == ".":
                is_member = True
                continue
            try:
                pe = PathElement.deserialize(key)
            except ValueError as e:
                if str(e).startswith("unknown path element type"):
                    continue
                raise
            grand, child_member = cls._read(sub if isinstance(sub, dict) else {})
            if child_member:
                children = children or FieldSet()
                children.members.add(pe)
            if grand is not None:
                children = children or FieldSet()
                children.children[pe] = grand
        if children is None:
            is_member = True
        return children, is_member


def _emit_json(obj: dict[str, Any]) -> str:
    # Keys are already serialized path elements; escape them as Go writes object keys.
    return "{" + ",".join(f"{go_json(k)}:{_emit_json(v)}" for k, v in obj.items()) + "}"
