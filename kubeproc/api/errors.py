"""Typed API errors, one class per Kubernetes Status reason.

Every failure the API can report is a StatusError; `to_status()` renders the metav1.Status
body that kubectl and client libraries understand. Only the apiserver turns these into HTTP.
Reasons and codes follow k8s.io/apimachinery/pkg/api/errors/errors.go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cause:
    """One field-level cause (metav1.StatusCause)."""

    reason: str  # e.g. FieldValueInvalid, FieldValueRequired
    message: str
    field: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"reason": self.reason, "message": self.message}
        if self.field:
            d["field"] = self.field
        return d


class StatusError(Exception):
    """Base of all API errors; subclasses fix the code and reason."""

    code = 500
    reason = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        kind: str = "",
        group: str = "",
        name: str = "",
        causes: list[Cause] | None = None,
        retry_after: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.group = group
        self.name = name
        self.causes = list(causes or [])
        self.retry_after = retry_after

    def to_status(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after:
            details["retryAfterSeconds"] = self.retry_after
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if not self.reason:  # an unclassified failure has no reason, as upstream omits it
            del status["reason"]
        if details:
            status["details"] = details
        return status


def _resource_desc(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


class BadRequest(StatusError):
    code = 400
    reason = "BadRequest"


class Unauthorized(StatusError):
    code = 401
    reason = "Unauthorized"


class Forbidden(StatusError):
    code = 403
    reason = "Forbidden"


class NotFound(StatusError):
    code = 404
    reason = "NotFound"

    @classmethod
    def of(cls, resource: str, group: str, name: str) -> "NotFound":
        return cls(f'{_resource_desc(resource, group)} "{name}" not found',
                   kind=resource, group=group, name=name)


class MethodNotAllowed(StatusError):
    code = 405
    reason = "MethodNotAllowed"


class NotAcceptable(StatusError):
    code = 406
    reason = "NotAcceptable"


class AlreadyExists(StatusError):
    code = 409
    reason = "AlreadyExists"

    @classmethod
    def of(cls, resource: str, group: str, name: str) -> "AlreadyExists":
        return cls(f'{_resource_desc(resource, group)} "{name}" already exists',
                   kind=resource, group=group, name=name)


class Conflict(StatusError):
    code = 409
    reason = "Conflict"

    @classmethod
    def of(cls, resource: str, group: str, name: str, why: str) -> "Conflict":
        return cls(f'Operation cannot be fulfilled on {_resource_desc(resource, group)} "{name}": {why}',
                   kind=resource, group=group, name=name)


class Gone(StatusError):
    code = 410
    reason = "Expired"


class RequestEntityTooLarge(StatusError):
    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaType(StatusError):
    code = 415
    reason = "UnsupportedMediaType"


class Invalid(StatusError):
    code = 422
    reason = "Invalid"

    @classmethod
    def of(cls, kind: str, group: str, name: str, causes: list[Cause]) -> "Invalid":
        # errors.go NewInvalid: `<Kind>.<group> "<name>" is invalid: [cause, cause]`
        qualified = f"{kind}.{group}" if group else kind
        msgs = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
        joined = msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"
        return cls(f'{qualified} "{name}" is invalid: {joined}', kind=kind, group=group,
                   name=name, causes=causes)


class TooManyRequests(StatusError):
    code = 429
    reason = "TooManyRequests"


class InternalError(StatusError):
    code = 500
    reason = "InternalError"


class Timeout(StatusError):
    code = 504
    reason = "Timeout"


# Field error helpers, mirroring k8s.io/apimachinery/pkg/util/validation/field/errors.go.
def _fmt_value(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def required(path: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", "Required value" + (f": {detail}" if detail else ""), path)


def invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {_fmt_value(value)}: {detail}", path)


def not_supported(path: str, value: Any, valid: list[str]) -> Cause:
    quoted = ", ".join(f'"{v}"' for v in valid)
    return Cause("FieldValueNotSupported",
                 f"Unsupported value: {_fmt_value(value)}: supported values: {quoted}", path)


def forbidden(path: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", path)


def duplicate(path: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {_fmt_value(value)}", path)


def too_long(path: str, value: Any, limit: int) -> Cause:
    return Cause("FieldValueTooLong", f"Too long: may not be more than {limit} bytes", path)


def unknown_field(path: str) -> Cause:
    return Cause("FieldValueInvalid", f'unknown field "{path}"', path)


@dataclass
class FieldErrors:
    """Accumulates causes while validating; raise `Invalid` once at the end."""

    causes: list[Cause] = field(default_factory=list)

    def add(self, cause: Cause) -> None:
        self.causes.append(cause)

    def extend(self, causes: list[Cause]) -> None:
        self.causes.extend(causes)

    def __bool__(self) -> bool:
        return bool(self.causes)
