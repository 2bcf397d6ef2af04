"""Request-object checks shared by every write: decoding rules, field validation, defaults,
validation and managed fields.

Decoding rules follow k8s.io/apiserver/pkg/endpoints/handlers (create.go, update.go): the body's
apiVersion/kind/namespace/name must agree with the URL; fieldValidation Strict|Warn|Ignore
follows the strict decoding of k8s.io/apimachinery/pkg/runtime/serializer/json.
"""

from __future__ import annotations

import logging
from typing import Any

from kubeproc.api import errors, schema
from kubeproc.api.resources import Resource
from kubeproc.registry import objectmeta

log = logging.getLogger(__name__)


def _cannot_handle(resource: Resource, detail: str) -> errors.BadRequest:
    return errors.BadRequest(f'{resource.kind} in version "{resource.version}" cannot be handled '
                             f"as a {resource.kind}: {detail}")


def decoded_object(resource: Resource, obj: Any, namespace: str, opts: Any,
                   name: str | None = None) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise errors.BadRequest("the body of the request was in an unknown format - accepted "
                                "media types include: application/json, application/yaml, "
                                "application/vnd.kubernetes.protobuf")
    # the endpoint's kind and version are the decoding defaults (runtime.Decode with defaultGVK)
    kind = obj.setdefault("kind", resource.kind) or resource.kind
    if not obj.get("apiVersion"):
        obj["apiVersion"] = resource.api_version
    if not isinstance(kind, str):
        raise errors.BadRequest(f"Object 'Kind' is missing in '{_short(obj)}'")
    expected_kind = resource.kind
    obj["kind"] = kind
    if kind != expected_kind:
        raise errors.BadRequest(f"{kind} in version \"{resource.version}\" cannot be handled as a "
                                f"{expected_kind}: no kind \"{kind}\" is registered for version "
                                f"\"{resource.api_version}\"")
    if obj.get("apiVersion") != resource.api_version:
        raise errors.BadRequest(f"the API version in the data ({obj.get('apiVersion')}) does not "
                                f"match the expected API version ({resource.api_version})")
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise _cannot_handle(resource, "json: cannot unmarshal into Go struct field "
                                       f"{resource.kind}.metadata of type v1.ObjectMeta")
    _field_validation(resource, obj, opts)
    if resource.namespaced:
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.BadRequest("the namespace of the provided object does not match the "
                                    "namespace sent on the request")
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    if name is not None:
        if meta.get("name") and meta["name"] != name:
            raise errors.BadRequest(f"the name of the object ({meta['name']}) does not match the "
                                    f"name on the URL ({name})")
        meta["name"] = name
    return obj


def _short(obj: dict[str, Any]) -> str:
    import json
    text = json.dumps(obj, separators=(",", ":"))
    return text if len(text) < 200 else text[:200] + "..."


def _field_validation(resource: Resource, obj: dict[str, Any], opts: Any) -> None:
    from kubeproc.api import fieldcheck

    def_name = schema.definition_name(resource.group, resource.version, resource.kind)
    if def_name is None:
        return
    type_causes = fieldcheck.type_errors(def_name, obj)
    if type_causes:
        raise _cannot_handle(resource, type_causes[0].message)
    mode = getattr(opts, "field_validation", "Strict") or "Strict"
    if mode == "Ignore":
        return
    problems = [f'unknown field "{p}"' for p in fieldcheck.unknown_fields(def_name, obj)]
    raw = getattr(opts, "raw", None)
    if raw:
        count = getattr(opts, "raw_key_count", None)
        problems += [f'duplicate field "{p}"' for p in fieldcheck.duplicate_fields(raw, count)]
    if not problems:
        return
    if mode == "Strict":
        raise _cannot_handle(resource, "strict decoding error: " + ", ".join(problems))
    opts.warnings.extend(problems)


def default_and_validate(resource: Resource, obj: dict[str, Any], old: dict[str, Any] | None,
                         create: bool, skip_validation: bool = False,
                         owned: bool = False,
                         default_storage_class: str | None = None) -> dict[str, Any]:
    """The defaulted object (a copy, or with `owned` on update `obj` itself), validated."""
    from kubeproc.api import admission, defaults, validation

    if create:  # admission defaults the object itself, before and after its mutations
        obj = admission.admit_defaults(obj, now=objectmeta.now_rfc3339(),
                                       default_storage_class=default_storage_class)
    elif owned and isinstance(obj, dict):
        defaults.default_in_place(obj)  # apply_defaults without its copy: nobody else holds obj
    else:
        obj = defaults.apply_defaults(obj)
    if skip_validation:  # binding: upstream's BindingREST checks only the target
        return obj
    causes = validation.validate(resource, obj, old)
    if causes:
        name = (obj.get("metadata") or {}).get("name", "")
        raise errors.Invalid.of(resource.kind, resource.group, name, causes)
    return obj


def managed_fields_for(resource: Resource, old: dict[str, Any] | None, new: dict[str, Any],
                       opts: Any) -> None:
    from kubeproc.registry.patch import apply as ssa

    def_name = schema.definition_name(resource.group, resource.version, resource.kind)
    if def_name is None:
        return
    subresource = opts.subresource if opts.subresource in ("status", "scale") else ""
    # fields a write path cannot change are not owned by it (the strategies' GetResetFields)
    if subresource == "status":
        reset = ["spec"]
    elif resource.subresources.get("status") is not None:
        reset = ["status"]
    else:
        reset = []
    try:
        managed = ssa.update_managed_fields(old, new, opts.manager, "Update", def_name,
                                            objectmeta.now_rfc3339(), resource.api_version,
                                            subresource=subresource, reset_fields=reset)
    except errors.StatusError:
        raise
    except Exception:  # field tracking must never block a valid write
        log.exception("managedFields tracking failed for %s", resource.kind)
        return
    if managed:
        new["metadata"]["managedFields"] = managed
    else:
        new["metadata"].pop("managedFields", None)
