"""PATCH: the four patch types turned into an update of the stored object.

json-patch (RFC 6902), merge-patch (RFC 7386), strategic-merge-patch and apply-patch
(server-side apply), as k8s.io/apiserver/pkg/endpoints/handlers/patch.go dispatches them.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import yaml

from kubeproc.api import errors, jsoncodec, schema
from kubeproc.api.resources import Resource
from kubeproc.registry import objectmeta

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)


def _load_json(body: bytes) -> Any:
    try:
        return jsoncodec.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.BadRequest(f"error decoding patch: {exc}") from None


def _load_yaml(body: bytes) -> Any:
    try:
        return yaml.safe_load(body)
    except yaml.YAMLError as exc:
        raise errors.BadRequest(f"error decoding YAML: {exc}") from None
    except RecursionError:
        raise errors.BadRequest("error decoding YAML: document nested too deeply") from None


def mutator(resource: Resource, patch_type: str, body: bytes, *, def_name: str | None = None):
    """A function old -> new applying the patch, raising StatusErrors on bad patches.

    The function may modify and return `old`: callers pass a copy they own.
    """
    def_name = def_name or schema.definition_name(resource.group, resource.version, resource.kind)
    if patch_type == JSON_PATCH:
        ops = _load_json(body)
        if not isinstance(ops, list):
            raise errors.BadRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch")

        def apply_json(old: dict[str, Any]) -> dict[str, Any]:
            try:
                return jsonpatch.apply_patch(old, ops)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException,
                    TypeError, KeyError, ValueError, AttributeError, IndexError) as exc:
                raise errors.Invalid(
                    f"the server rejected our request due to an error in our request: {exc}",
                    kind=resource.kind, group=resource.group,
                    causes=[errors.Cause("FieldValueInvalid", str(exc), "patch")]) from None
        return apply_json
    if patch_type == MERGE_PATCH:
        from kubeproc.registry.patch.merge import merge_patch, merge_patch_into

        doc = _load_json(body)
        # `old` is the caller's copy: patch it in place (a non-object `old` takes merge_patch)
        return lambda old: merge_patch_into(old, doc) if isinstance(old, dict) else merge_patch(old, doc)
    if patch_type == STRATEGIC_PATCH:
        from kubeproc.registry.patch.strategic import strategic_merge_patch

        doc = _load_json(body)
        if not isinstance(doc, dict):
            raise errors.BadRequest("error decoding patch: expected a JSON object")
        if def_name is None:  # no schema: upstream refuses SMP for such types
            raise errors.UnsupportedMediaType(f"strategic merge patch is not supported for {resource.kind}")
        return lambda old: strategic_merge_patch(old, doc, def_name, reuse_original=True)
    raise errors.UnsupportedMediaType(
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(PATCH_TYPES)}")


def applier(resource: Resource, body: bytes, manager: str, force: bool, subresource: str = ""):
    """(mutate, create_missing) for server-side apply."""
    from kubeproc.registry.patch.apply import server_side_apply

    applied = _load_yaml(body)
    if not isinstance(applied, dict):
        raise errors.BadRequest("error decoding YAML: the applied configuration must be an object")
    if not manager:
        raise errors.BadRequest("PATCH requests with apply content type require fieldManager "
                                "query parameter")
    def_name = schema.definition_name(resource.group, resource.version, resource.kind) or ""
    if subresource == "status":
        reset = ["spec"]
    else:
        reset = ["status"] if resource.subresources.get("status") is not None else []

    def mutate(old: dict[str, Any]) -> dict[str, Any]:
        return server_side_apply(old, applied, manager, force, def_name,
                                 objectmeta.now_rfc3339(), resource.api_version,
                                 subresource=subresource, reset_fields=reset)
    def create_missing() -> dict[str, Any]:
        return server_side_apply(None, applied, manager, force, def_name,
                                 objectmeta.now_rfc3339(), resource.api_version,
                                 subresource=subresource, reset_fields=reset)
    return mutate, create_missing
