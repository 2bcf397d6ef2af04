"""Server-side `meta.k8s.io/v1 Table` output: what `kubectl get` asks for and prints.

Owns the Table envelope (list metadata, includeObject handling, the default NAME/CREATED AT
table), HumanDuration for AGE cells and the formatting helpers shared by the per-kind printers
in `tables_core` (core/v1) and `tables_apps` (apps, discovery, policy, storage, coordination).
Like upstream's server-side printers, every table is generated "wide" (priority-1 columns
included); kubectl hides priority-1 columns unless `-o wide`.
"""

from __future__ import annotations

import copy
import functools
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from kubeproc.api import schema, selectors
from kubeproc.api.resources import Resource

# A printer: (column definitions factory, row builder returning {"cells": [...], ...}).
RowFn = Callable[[dict, datetime], dict]
Printer = tuple[Callable[[], list[dict]], RowFn]

_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


# --- durations and timestamps -------------------------------------------------------------

def human_duration(delta: timedelta) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration: ~2-3 significant figures."""
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    # Go's int(d.Seconds()) truncates toward zero; up to 2s in the future reads as "0s".
    seconds = micros // 1_000_000 if micros >= 0 else -((-micros) // 1_000_000)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if dy == 0 else f"{years}y{dy}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: Any) -> datetime | None:
    """Parse an RFC3339 / MicroTime string; None (Go's zero time) when absent or unparsable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def since(value: Any, now: datetime) -> str:
    """printers.go translateTimestampSince: "<unknown>" for a zero time."""
    ts = parse_time(value)
    if ts is None:
        return "<unknown>"
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return human_duration(now - ts)


def rfc3339(value: Any) -> str:
    """Go's Time.UTC().Format(time.RFC3339); the zero time for a missing timestamp."""
    ts = parse_time(value)
    if ts is None:
        return "0001-01-01T00:00:00Z"
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- column definitions -------------------------------------------------------------------

def doc(definition: str, field: str) -> str:
    """A field's description, as Go's SwaggerDoc() gives it (same text as the OpenAPI doc)."""
    props = schema.definitions().get(definition, {}).get("properties", {})
    return props.get(field, {}).get("description", "")


def col(name: str, typ: str, description: str, priority: int = 0, fmt: str = "") -> dict:
    return {"name": name, "type": typ, "format": fmt, "description": description,
            "priority": priority}


def name_col(priority: int = 0) -> dict:
    return col("Name", "string", doc(_META, "name"), priority, "name")


def age_col() -> dict:
    return col("Age", "string", doc(_META, "creationTimestamp"))


CONTAINERS_DOC = "Names of each container in the template."
IMAGES_DOC = "Images referenced by each container in the template."


# --- shared cell formatting ---------------------------------------------------------------

def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def age(obj: dict, now: datetime) -> str:
    return since(meta(obj).get("creationTimestamp"), now)


def format_labels(labels: dict | None) -> str:
    """k8s.io/apimachinery/pkg/labels.FormatLabels: sorted "k=v" pairs, "<none>" if empty."""
    pairs = sorted(f"{k}={v}" for k, v in (labels or {}).items())
    return ",".join(pairs) or "<none>"


def selector_string(selector: dict | None) -> str | None:
    """metav1.LabelSelectorAsSelector(...).String(); None when the selector is invalid."""
    return selectors.selector_text(selector)


def format_label_selector(selector: dict | None) -> str:
    """metav1.FormatLabelSelector: "<error>" if invalid, "<none>" if it prints empty."""
    text = selector_string(selector)
    if text is None:
        return "<error>"
    return text or "<none>"


def layout_containers(pod_spec: dict | None) -> tuple[str, str]:
    """printers.go layoutContainerCells: comma-joined container names and images."""
    containers = (pod_spec or {}).get("containers") or []
    return (",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers))


def template_spec(obj: dict) -> dict:
    return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}


# --- the Table envelope -------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _printers() -> dict[tuple[str, str], Printer]:
    # Imported lazily: the printer modules import the helpers above.
    from kubeproc.apiserver import tables_apps, tables_core

    return {**tables_core.PRINTERS, **tables_apps.PRINTERS}


@functools.lru_cache(maxsize=None)
def columns_for(group: str, kind: str) -> tuple[dict, ...]:
    printer = _printers().get((group, kind))
    if printer is None:
        # apiserver/pkg/registry/rest/table.go defaultTableConvertor
        return (name_col(), col("Created At", "date", doc(_META, "creationTimestamp")))
    return tuple(printer[0]())


def _default_row(obj: dict, now: datetime) -> dict:
    return {"cells": [meta(obj).get("name", ""), rfc3339(meta(obj).get("creationTimestamp"))]}


def _row_object(obj: dict, include_object: str) -> dict | None:
    # apiserver endpoints/handlers/response.go asTable
    if include_object == "Object":
        return copy.deepcopy(obj)
    if include_object == "None":
        return None
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": copy.deepcopy(meta(obj))}


def to_table(resource: Resource, objects: list[dict], now: datetime,
             include_object: str = "Metadata", list_meta: dict | None = None,
             no_headers: bool = False) -> dict:
    """Build the `meta.k8s.io/v1 Table` for `objects` (one GET result or a list's items).

    `include_object` is TableOptions.includeObject ("" counts as Metadata); anything else
    raises ValueError (upstream answers 400 "unrecognized includeObject value"). Pass
    `list_meta` for a LIST (its resourceVersion/continue/remainingItemCount are copied);
    without it a single object's resourceVersion is used, as upstream does for a GET.
    With no_headers, columnDefinitions is null (TableOptions.noHeaders).
    """
    include_object = include_object or "Metadata"
    if include_object not in ("None", "Metadata", "Object"):
        raise ValueError(f"unrecognized includeObject value: {include_object!r}")
    printer = _printers().get((resource.group, resource.kind))
    row_fn: RowFn = printer[1] if printer else _default_row
    rows = []
    for obj in objects:
        row = row_fn(obj, now)
        row["object"] = _row_object(obj, include_object)
        rows.append(row)
    table_meta: dict[str, Any] = {}
    if list_meta is not None:
        for key in ("resourceVersion", "continue", "remainingItemCount"):
            if list_meta.get(key) not in (None, ""):
                table_meta[key] = list_meta[key]
    elif len(objects) == 1 and meta(objects[0]).get("resourceVersion"):
        table_meta["resourceVersion"] = meta(objects[0])["resourceVersion"]
    columns = None if no_headers else [dict(c) for c in columns_for(resource.group, resource.kind)]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": table_meta,
        "columnDefinitions": columns,
        # Upstream's default convertor leaves Rows nil (JSON null) when there are no items.
        "rows": rows if rows or printer else None,
    }
