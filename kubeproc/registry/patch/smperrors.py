"""Strategic merge patch failures, worded and classified as the Kubernetes API server does.

Messages follow k8s.io/apimachinery/pkg/util/mergepatch/errors.go (Go `%v` rendering of
values included); the status class follows apiserver handlers/patch.go
interpretStrategicMergePatchError: format errors are 400, everything else is a plain Go
error that the apiserver reports as a 500 with an empty (Unknown) reason.
"""

from __future__ import annotations

from typing import Any

from kubeproc.api import errors

BAD_PRIMITIVE_LIST = "invalid patch format of primitive list"
BAD_RETAIN_KEYS = "invalid patch format of retainKeys"
BAD_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"
NO_LIST_OF_LISTS = "lists of lists are not supported"


class PatchFailure(errors.StatusError):
    """A non-Status error from the patch code; the apiserver turns those into 500/Unknown."""

    code = 500
    reason = ""  # metav1.StatusReasonUnknown


def bad_request(message: str) -> errors.BadRequest:
    return errors.BadRequest(message)


def list_of_lists() -> errors.StatusError:
    # patch.go interpretStrategicMergePatchError: ErrNoListOfLists -> generic 422 response.
    return errors.Invalid("the server rejected our request due to an error in our request")


def go_value(value: Any) -> str:
    """Go's `%v` of a decoded JSON value (maps print with sorted keys)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        inner = " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value))
        return f"map[{inner}]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return str(value)


def go_type(value: Any) -> str:
    """reflect.TypeOf(...) of a decoded JSON value, as Go prints it."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "string"


def no_merge_key(item: dict[str, Any], merge_key: str) -> PatchFailure:
    # mergepatch.ErrNoMergeKey
    return PatchFailure(f"map: {go_value(item)} does not contain declared merge key: {merge_key}")


def bad_arg_type(expected: Any, actual: Any) -> PatchFailure:
    # mergepatch.ErrBadArgType (expected is a sample value of the wanted type)
    return PatchFailure(f"expected a {go_type(expected)}, but received a {go_type(actual)}")


def bad_patch_type(directive: Any, patch: dict[str, Any]) -> PatchFailure:
    # mergepatch.ErrBadPatchType
    return PatchFailure(f"unknown patch type: {go_value(directive)} in map: {go_value(patch)}")


def failure(message: str) -> PatchFailure:
    return PatchFailure(message)
