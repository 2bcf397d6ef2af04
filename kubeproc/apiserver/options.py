"""Query parameters and DeleteOptions, checked as upstream checks them.

Unknown values of dryRun, fieldValidation or propagationPolicy are errors, never ignored
(k8s.io/apimachinery/pkg/apis/meta/v1/validation ValidateCreateOptions / ValidateDeleteOptions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeproc.api import errors

FIELD_VALIDATION = ("Strict", "Warn", "Ignore")


def dry_run(query: Any) -> bool:
    values = query.getall("dryRun", []) if hasattr(query, "getall") else query.get("dryRun", [])
    for v in values:
        if v != "All":
            raise errors.Invalid.of("CreateOptions", "meta.k8s.io", "",
                                    [errors.not_supported("dryRun", v, ["All"])])
    return bool(values)


def field_validation(query: Mapping[str, str]) -> str:
    value = query.get("fieldValidation", "")
    if value == "":
        return "Warn"  # the server's default when the client says nothing
    if value not in FIELD_VALIDATION:
        raise errors.BadRequest(f'fieldValidation: Unsupported value: "{value}": supported values: '
                                '"Ignore", "Strict", "Warn"')
    return value


def boolean(query: Mapping[str, str], name: str) -> bool | None:
    value = query.get(name)
    if value is None:
        return None
    if value in ("true", "1", "True"):
        return True
    if value in ("false", "0", "False", ""):
        return False
    raise errors.BadRequest(f'invalid value for {name}: "{value}": must be true or false')


def integer(query: Mapping[str, str], name: str, minimum: int | None = None) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        n = int(value)
    except ValueError:
        raise errors.BadRequest(f'invalid value for {name}: "{value}": must be an integer') from None
    if minimum is not None and n < minimum:
        raise errors.BadRequest(f"invalid value for {name}: {n}: must be >= {minimum}")
    return n


def delete_options(query: Any, body: Any) -> dict[str, Any]:
    """DeleteOptions from the body (if any) overlaid with query parameters."""
    opts: dict[str, Any] = {}
    if body is not None:
        if not isinstance(body, dict):
            raise errors.BadRequest("the body of a delete request must be a DeleteOptions object")
        opts.update(body)
    grace = integer(query, "gracePeriodSeconds")
    if grace is not None:
        opts["gracePeriodSeconds"] = grace
    if "propagationPolicy" in query:
        opts["propagationPolicy"] = query["propagationPolicy"]
    orphan = boolean(query, "orphanDependents")
    if orphan is not None:
        opts["orphanDependents"] = orphan
    if dry_run(query):
        opts["dryRun"] = ["All"]
    return opts
