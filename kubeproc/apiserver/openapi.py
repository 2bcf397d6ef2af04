"""The OpenAPI documents the API server serves: `/openapi/v3`, `/openapi/v3/<path>`, `/openapi/v2`.

Paths come from `openapi_paths` (built from the resource table); schemas are the upstream
definitions of `kubeproc.api.schema`, limited to those reachable from the paths and, for v3,
reshaped like kube-openapi's builder3 (a `$ref` with siblings becomes `allOf: [{$ref}]`).
Documents are JSON bytes, built once; their hash is upstream's ETag (k8s.io/kube-openapi
pkg/handler3: upper-case hex SHA-512 of the JSON bytes).
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any, Callable
from urllib.parse import urlencode

from kubeproc.api import schema
from kubeproc.api.resources import group_versions
from kubeproc.apiserver import openapi_paths as op

V3_PREFIX = "#/components/schemas/"
V2_PREFIX = "#/definitions/"
META = op.META
# Accept values clients send (client-go): kubectl asks v3 for JSON, v2 for protobuf only.
V3_JSON = "application/json"
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"

_VERSION = f"v{schema.KUBE_MAJOR}.{schema.KUBE_MINOR}.0"  # a live server's info.version
_SECURITY_SCHEME = {"BearerToken": {"description": "Bearer Token authentication",
                                    "in": "header", "name": "authorization", "type": "apiKey"}}


def etag(data: bytes) -> str:
    """The document hash upstream uses as ETag and `?hash=` (handler3.computeETag)."""
    return hashlib.sha512(data).hexdigest().upper()


def _dumps(doc: dict[str, Any]) -> bytes:
    # Go's encoding/json sorts map keys and writes compact output.
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# ---- schemas --------------------------------------------------------------------------------

def _refs(node: Any, found: set[str], prefix: str) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(prefix):
            found.add(ref[len(prefix):])
        for value in node.values():
            _refs(value, found, prefix)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found, prefix)


def reachable(roots: set[str], defs: dict[str, dict[str, Any]], prefix: str) -> list[str]:
    """Names of every definition reachable from `roots` through `$ref`s, sorted."""
    seen: set[str] = set()
    todo = [r for r in roots if r in defs]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        found: set[str] = set()
        _refs(defs[name], found, prefix)
        todo.extend(n for n in found if n in defs and n not in seen)
    return sorted(seen)


def _wrap_ref(node: dict[str, Any], container: bool) -> dict[str, Any]:
    """A schema holding `$ref` plus siblings (or an array/map element) -> allOf form.

    builder3 cannot put siblings next to `$ref` (OpenAPI 3.0 ignores them), so it wraps the
    reference; elements of slices/maps of structs also carry `default: {}` upstream.
    """
    rest = {k: _v3_schema(v) for k, v in node.items() if k != "$ref"}
    if not rest and not container:
        return {"$ref": node["$ref"]}
    out: dict[str, Any] = {"allOf": [{"$ref": node["$ref"]}]}
    if container:
        out["default"] = {}
    out.update(rest)
    return out


def _v3_schema(node: Any, container: bool = False) -> Any:
    """Convert one (sub)schema of the normalised v2 definitions to builder3's v3 shape."""
    if isinstance(node, list):
        return [_v3_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _wrap_ref(node, container)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _v3_property(name, sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _v3_schema(value, container=True)
        else:
            out[key] = _v3_schema(value)
    return out


def _v3_property(name: str, sub: Any) -> Any:
    converted = _v3_schema(sub)
    # ObjectMeta / ListMeta are value fields of every object (`default: {}` upstream).
    if name == "metadata" and isinstance(converted, dict) and "allOf" in converted:
        converted.setdefault("default", {})
    return converted


# Types whose v3 schema is a oneOf (apimachinery OpenAPIV3OneOfTypes), not v2's string.
_V3_ONE_OF = {"io.k8s.apimachinery.pkg.util.intstr.IntOrString": ("integer", "string"),
              "io.k8s.apimachinery.pkg.api.resource.Quantity": ("string", "number")}


def v3_schemas(roots: set[str]) -> dict[str, Any]:
    defs = schema.definitions(V3_PREFIX)
    out = {name: _v3_schema(defs[name]) for name in reachable(roots, defs, V3_PREFIX)}
    for name, types in _V3_ONE_OF.items():
        if name in out:
            out[name].pop("type", None)
            out[name]["oneOf"] = [{"type": t} for t in types]
    return out


def _path_refs(paths: dict[str, op.PathItem]) -> set[str]:
    roots: set[str] = set()
    for item in paths.values():
        for o in item.ops:
            if o.body:
                roots.add(o.body)
            roots.update(r for _, r, _ in o.responses if r and r != op.STRING)
    return roots


# ---- v3 -------------------------------------------------------------------------------------

def _v3_doc(paths: dict[str, op.PathItem]) -> bytes:
    return _dumps({
        "components": {"schemas": v3_schemas(_path_refs(paths)),
                       "securitySchemes": _SECURITY_SCHEME},
        "info": {"title": "Kubernetes", "version": _VERSION},
        "openapi": "3.0.0",
        "paths": op.render_v3(paths, V3_PREFIX),
    })


@functools.lru_cache(maxsize=None)
def v3_document(group: str, version: str) -> bytes:
    """`/openapi/v3/api/<v>` or `/openapi/v3/apis/<group>/<version>` as JSON bytes."""
    if (group, version) not in group_versions():
        raise KeyError(f"group/version {group}/{version} is not served")
    return _v3_doc(op.group_version_paths(group, version))


def _non_gv_paths(path: str) -> dict[str, op.PathItem] | None:
    """Paths of the documents that are not a group/version: api, apis, apis/<g>, version."""
    if path == "api":
        return op.root_path("/api/", "getCoreAPIVersions", "get available API versions",
                            META + "APIVersions", "core")
    if path == "apis":
        return op.root_path("/apis/", "getAPIVersions", "get available API versions",
                            META + "APIGroupList", "apis")
    if path == "version":
        return op.root_path("/version/", "getCodeVersion", "get the version information for "
                            "this server", "io.k8s.apimachinery.pkg.version.Info", "version",
                            produces=("application/json",))
    group = path.removeprefix("apis/")
    if path.startswith("apis/") and any(g == group for g, _ in group_versions() if g):
        camel = op.tag_of(group, "x").removesuffix("_x")
        return op.root_path(f"/apis/{group}/", f"get{camel[:1].upper()}{camel[1:]}APIGroup",
                            "get information of a group", META + "APIGroup", camel)
    return None


def v3_paths() -> list[str]:
    """Every key of the `/openapi/v3` index, e.g. `api/v1`, `apis/apps/v1`, `apis`, `version`."""
    out = ["api", "apis", "version"]
    for group, version in group_versions():
        if group:
            if f"apis/{group}" not in out:
                out.append(f"apis/{group}")
            out.append(f"apis/{group}/{version}")
        else:
            out.append(f"api/{version}")
    return out


@functools.lru_cache(maxsize=None)
def v3_document_for_path(path: str) -> bytes | None:
    """The document under `/openapi/v3/<path>` (no leading slash), or None if not served."""
    path = path.strip("/")
    parts = path.split("/")
    if len(parts) == 2 and parts[0] == "api" and ("", parts[1]) in group_versions():
        return v3_document("", parts[1])
    if len(parts) == 3 and parts[0] == "apis" and (parts[1], parts[2]) in group_versions():
        return v3_document(parts[1], parts[2])
    paths = _non_gv_paths(path)
    return _v3_doc(paths) if paths is not None else None


def server_relative_url(path: str, digest: str) -> str:
    """handler3.constructServerRelativeURL: `/openapi/v3/<path>?hash=<digest>`."""
    return f"/openapi/v3/{path}?{urlencode({'hash': digest})}"


def v3_index(base_hash: Callable[[bytes], str] = etag) -> dict[str, Any]:
    """Body of `GET /openapi/v3`: each document path with its hash-pinned URL.

    `base_hash` maps a document's bytes to its hash (upstream's ETag by default); the group
    version route must answer with the same value as ETag and redirect (301) on a stale hash.
    """
    paths = {}
    for path in v3_paths():
        data = v3_document_for_path(path)
        assert data is not None
        paths[path] = {"serverRelativeURL": server_relative_url(path, base_hash(data))}
    return {"paths": paths}


# ---- v2 -------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def v2_document() -> bytes:
    """`/openapi/v2` (swagger 2.0) for every served group/version, JSON bytes."""
    paths: dict[str, op.PathItem] = {}
    for path in ("api", "apis", "version"):
        paths.update(_non_gv_paths(path) or {})
    for group, version in group_versions():
        if group:
            paths.update(_non_gv_paths(f"apis/{group}") or {})
        paths.update(op.group_version_paths(group, version))
    defs = schema.definitions(V2_PREFIX)
    return _dumps({
        "definitions": {n: defs[n] for n in reachable(_path_refs(paths), defs, V2_PREFIX)},
        "info": {"title": "Kubernetes", "version": _VERSION},
        "paths": op.render_v2(paths, V2_PREFIX),
        "security": [{"BearerToken": []}],
        "securityDefinitions": _SECURITY_SCHEME,
        "swagger": "2.0",
    })
