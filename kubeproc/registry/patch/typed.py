"""Schema-aware walks of objects for server-side apply: the import point callers use.

Ports sigs.k8s.io/structured-merge-diff typed over kubeproc's OpenAPI schemas. This module
owns no logic: it re-exports the schema-derived types (typed_types.py), the comparison walk
(typed_compare.py) and the field-set / merge / removal walks (typed_walks.py) as `typed.X`.
"""

from __future__ import annotations

from kubeproc.registry.patch.typed_compare import Comparison, compare
from kubeproc.registry.patch.typed_types import (
    DEDUCED, MISSING, SchemaError, TypeInfo, effective, elem_type, field_type, item_element,
    root_type, shared_zero_object, type_of, zero_object)
from kubeproc.registry.patch.typed_walks import (
    ensure_named_fields_are_members, merge, remove_items, to_field_set)

__all__ = [
    "Comparison", "DEDUCED", "MISSING", "SchemaError", "TypeInfo", "compare", "effective",
    "elem_type", "ensure_named_fields_are_members", "field_type", "item_element", "merge",
    "remove_items", "root_type", "shared_zero_object", "to_field_set", "type_of",
    "zero_object",
]
