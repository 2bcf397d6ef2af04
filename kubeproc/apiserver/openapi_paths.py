"""The REST operations of every served resource, as OpenAPI path items (v3 and swagger 2.0).

One neutral operation model (`Op`) is built per resource from `kubeproc.api.resources`, the
way the upstream route installer names and describes them (k8s.io/apiserver
pkg/endpoints/installer.go), then rendered either in OpenAPI v3 or in swagger 2.0 form.
Schema documents and hashing live in `openapi.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from kubeproc.api import schema
from kubeproc.api.resources import RESOURCES, Resource
from kubeproc.apiserver.openapi_params import (
    DELETE, DELETE_COLLECTION, JSON_YAML_PB, LIST, LOG, LOG_TYPES, PATCH_PARAMS, PATCH_TYPES,
    QUERY_PARAMS, STREAMING, WRITE)

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
STATUS = META + "Status"
DELETE_OPTIONS = META + "DeleteOptions"
PATCH = META + "Patch"
WATCH_EVENT = META + "WatchEvent"
RESOURCE_LIST = META + "APIResourceList"
STRING = "<string>"  # response body that is plain text (pods/log), not a definition

# Kinds whose DELETE answers with the deleted object, not a Status (registry ReturnDeletedObject).
RETURNS_DELETED = {("", "Pod"), ("", "Service"), ("", "PersistentVolume"),
                    ("", "PersistentVolumeClaim")}

# Subresource kinds served by another group (installer.go uses the storage's GroupVersionKind).
_SUBRESOURCE_GROUPS = {"Scale": ("autoscaling", "v1"), "Eviction": ("policy", "v1"),
                       "Binding": ("", "v1")}


@dataclass(frozen=True)
class Op:
    """One HTTP operation on one path, independent of the OpenAPI flavour."""
    method: str
    action: str
    op_id: str
    description: str
    gvk: dict[str, str] | None
    params: tuple[str, ...]
    body: str | None            # request body definition name
    body_types: tuple[str, ...]  # request content types
    body_required: bool
    responses: tuple[tuple[str, str | None, str], ...]  # (code, definition|STRING|None, text)
    produces: tuple[str, ...]
    tag: str


@dataclass
class PathItem:
    path_params: tuple[str, ...]  # "namespace", "name" — always followed by query "pretty"
    ops: list[Op]
    pretty: bool = True
    name_of: str = ""             # kind named in the {name} parameter's description


def _camel(group: str) -> str:
    """`rbac.authorization.k8s.io` -> `RbacAuthorization` (installer.go/openapi naming)."""
    if not group:
        return "Core"
    return "".join(p[:1].upper() + p[1:] for p in group.removesuffix(".k8s.io").split("."))


def tag_of(group: str, version: str) -> str:
    camel = _camel(group)
    return f"{camel[:1].lower()}{camel[1:]}_{version}"


def gv_prefix(group: str, version: str) -> str:
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def _def(group: str, version: str, kind: str) -> str:
    name = schema.definition_name(group, version, kind)
    if name is None:
        raise KeyError(f"no upstream definition for {group}/{version} {kind}")
    return name


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "kind": kind, "version": version}


_CODES = {"200": "OK", "201": "Created", "202": "Accepted"}


def _ok(ref: str | None, *extra: str) -> tuple[tuple[str, str | None, str], ...]:
    """Responses: 200 (+ the extra success codes) with `ref`, and 401 without a body."""
    return tuple((c, ref, _CODES[c]) for c in ("200",) + extra) + (("401", None, "Unauthorized"),)


_CREATED = "201"
_ACCEPTED = "202"


def resource_paths(res: Resource) -> dict[str, PathItem]:
    """Path template -> path item for one resource and its subresources (installer.go rules)."""
    g, v, kind, tag = res.group, res.version, res.kind, tag_of(res.group, res.version)
    prefix, camel = gv_prefix(g, v), _camel(g) + v[:1].upper() + v[1:]
    verbs = set(res.verbs)
    obj = _def(g, v, kind)
    # create-only kinds (SelfSubjectAccessReview) have no List type upstream
    lst = _def(g, v, res.list_kind) if verbs & {"list", "watch"} else None
    gvk = _gvk(g, v, kind)
    scope = "Namespaced" if res.namespaced else ""
    ns_path = "/namespaces/{namespace}" if res.namespaced else ""
    ns_params: tuple[str, ...] = ("namespace",) if res.namespaced else ()
    out: dict[str, PathItem] = {}

    def op(method: str, action: str, verb: str, desc: str, params: tuple[str, ...],
           responses: tuple[tuple[str, str | None, str], ...], produces: tuple[str, ...] = JSON_YAML_PB,
           body: str | None = None, body_types: tuple[str, ...] = ("*/*",), required: bool = True,
           suffix: str = "", op_gvk: dict[str, str] | None = None) -> Op:
        return Op(method, action, f"{verb}{camel}{suffix}", desc, op_gvk or gvk, params, body,
                  body_types if body else (), required, responses, produces, tag)

    coll: list[Op] = []
    if "list" in verbs:
        coll.append(op("get", "list", "list", f"list or watch objects of kind {kind}", LIST,
                       _ok(lst), STREAMING, suffix=scope + kind))
    if "create" in verbs:
        coll.append(op("post", "post", "create", f"create a {kind}", WRITE,
                       _ok(obj, _CREATED, _ACCEPTED), body=obj, suffix=scope + kind))
    if "deletecollection" in verbs:
        coll.append(op("delete", "deletecollection", "delete", f"delete collection of {kind}",
                       DELETE_COLLECTION, _ok(STATUS), body=DELETE_OPTIONS, required=False,
                       suffix="Collection" + scope + kind))
    if coll:
        out[f"{prefix}{ns_path}/{res.plural}"] = PathItem(ns_params, coll)

    item: list[Op] = []
    if "get" in verbs:
        item.append(op("get", "get", "read", f"read the specified {kind}", (), _ok(obj),
                       suffix=scope + kind))
    if "update" in verbs:
        item.append(op("put", "put", "replace", f"replace the specified {kind}", WRITE,
                       _ok(obj, _CREATED), body=obj, suffix=scope + kind))
    if "patch" in verbs:
        item.append(op("patch", "patch", "patch", f"partially update the specified {kind}",
                       PATCH_PARAMS, _ok(obj, _CREATED), body=PATCH, body_types=PATCH_TYPES,
                       suffix=scope + kind))
    if "delete" in verbs:
        deleted = obj if (g, kind) in RETURNS_DELETED else STATUS
        item.append(op("delete", "delete", "delete", f"delete a {kind}", DELETE,
                       _ok(deleted, _ACCEPTED), body=DELETE_OPTIONS, required=False,
                       suffix=scope + kind))
    if item:
        out[f"{prefix}{ns_path}/{res.plural}/{{name}}"] = PathItem(ns_params + ("name",), item,
                                                                   name_of=kind)

    if res.namespaced and "list" in verbs:
        out[f"{prefix}/{res.plural}"] = PathItem((), [op(
            "get", "list", "list", f"list or watch objects of kind {kind}", LIST, _ok(lst),
            STREAMING, suffix=f"{kind}ForAllNamespaces")])

    if "watch" in verbs:
        # Deprecated watch paths are still published (installer.go, "watch" prefix).
        wprefix = f"{prefix}/watch{ns_path}/{res.plural}"
        out[wprefix] = PathItem(ns_params, [op(
            "get", "watchlist", "watch",
            f"watch individual changes to a list of {kind}. deprecated: use the 'watch' "
            "parameter with a list operation instead.", LIST, _ok(WATCH_EVENT), STREAMING,
            suffix=f"{scope}{kind}List")])
        out[wprefix + "/{name}"] = PathItem(ns_params + ("name",), [op(
            "get", "watch", "watch",
            f"watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter "
            "with a list operation instead, filtered to a single item with the 'fieldSelector' "
            "parameter.", LIST, _ok(WATCH_EVENT), STREAMING, suffix=scope + kind)],
            name_of=kind)
        if res.namespaced:
            out[f"{prefix}/watch/{res.plural}"] = PathItem((), [op(
                "get", "watchlist", "watch",
                f"watch individual changes to a list of {kind}. deprecated: use the 'watch' "
                "parameter with a list operation instead.", LIST, _ok(WATCH_EVENT), STREAMING,
                suffix=f"{kind}ListForAllNamespaces")])

    for sub, sub_kind in res.subresources.items():
        ops = _subresource_ops(res, sub, sub_kind or kind, op, scope)
        if ops:
            out[f"{prefix}{ns_path}/{res.plural}/{{name}}/{sub}"] = PathItem(
                ns_params + ("name",), ops, pretty=sub not in ("log",), name_of=sub_kind or kind)
    return out


# pods/exec, attach, portforward: upstream documents them as "connect" operations over an
# upgraded stream; kubeproc serves them (apiserver/podstreams.py) without OpenAPI entries.
CONNECT_SUBRESOURCES = ("exec", "attach", "portforward")


def _subresource_ops(res: Resource, sub: str, sub_kind: str, op: Any, scope: str) -> list[Op]:
    """Operations of one subresource (installer.go registerResourceHandlers per storage verb)."""
    if sub in CONNECT_SUBRESOURCES:
        return []  # connect verbs (upgrade streams) are not described here; kubectl needs none
    g, v = (res.group, res.version)
    if sub_kind != res.kind:
        g, v = _SUBRESOURCE_GROUPS.get(sub_kind, (g, v))
    ref = _def(g, v, sub_kind)
    gvk = _gvk(g, v, sub_kind)
    title = sub[:1].upper() + sub[1:]
    suffix = f"{scope}{res.kind}{title}"
    if sub == "log":
        return [op("get", "get", "read", f"read log of the specified {res.kind}", LOG,
                   _ok(STRING), LOG_TYPES, suffix=suffix)]
    if sub in ("eviction", "binding"):
        return [op("post", "post", "create", f"create {sub} of a {res.kind}", WRITE,
                   _ok(ref, _CREATED, _ACCEPTED), body=ref, suffix=suffix, op_gvk=gvk)]
    if sub == "finalize":
        return [op("put", "put", "replace", f"replace {sub} of the specified {res.kind}", WRITE,
                   _ok(ref, _CREATED), body=ref, suffix=suffix, op_gvk=gvk)]
    return [  # status, scale and anything like them: get / replace / patch
        op("get", "get", "read", f"read {sub} of the specified {res.kind}", (), _ok(ref),
           suffix=suffix, op_gvk=gvk),
        op("put", "put", "replace", f"replace {sub} of the specified {res.kind}", WRITE,
           _ok(ref, _CREATED), body=ref, suffix=suffix, op_gvk=gvk),
        op("patch", "patch", "patch", f"partially update {sub} of the specified {res.kind}",
           PATCH_PARAMS, _ok(ref, _CREATED), body=PATCH, body_types=PATCH_TYPES, suffix=suffix,
           op_gvk=gvk),
    ]


def group_version_paths(group: str, version: str) -> dict[str, PathItem]:
    """All paths of one group/version: its resource-list root and every resource."""
    tag = tag_of(group, version)
    camel = _camel(group) + version[:1].upper() + version[1:]
    out = {gv_prefix(group, version) + "/": PathItem((), [Op(
        "get", "", f"get{camel}APIResources", "get available resources", None, (), None, (),
        False, _ok(RESOURCE_LIST), JSON_YAML_PB, tag)], pretty=False)}
    for res in RESOURCES:
        if (res.group, res.version) == (group, version):
            out.update(resource_paths(res))
    return out


def root_path(path: str, op_id: str, description: str, ref: str, tag: str,
              produces: tuple[str, ...] = JSON_YAML_PB) -> dict[str, PathItem]:
    """A single GET path answering discovery-style documents (/api/, /apis/, /version/)."""
    return {path: PathItem((), [Op("get", "", op_id, description, None, (), None, (), False,
                                   _ok(ref), produces, tag)], pretty=False)}


# ---- rendering ------------------------------------------------------------------------------

def _path_param(name: str, of: str) -> dict[str, Any]:
    desc = (f"name of the {of}" if name == "name"
            else "object name and auth scope, such as for teams and projects")
    return {"description": desc, "in": "path", "name": name, "required": True, "type": "string",
            "uniqueItems": True}


def _query_param(name: str) -> dict[str, Any]:
    typ, desc = QUERY_PARAMS[name]
    return {"description": desc, "in": "query", "name": name, "type": typ, "uniqueItems": True}


def _v3_param(p: dict[str, Any]) -> dict[str, Any]:
    """swagger 2.0 parameter -> OpenAPI v3 parameter (type moves under `schema`)."""
    out = {k: p[k] for k in ("description", "in", "name", "required") if k in p}
    out["schema"] = {"type": p["type"], "uniqueItems": True}
    return out


def _item_params(item: PathItem) -> list[dict[str, Any]]:
    params = [_path_param(n, item.name_of) for n in item.path_params]
    return params + ([_query_param("pretty")] if item.pretty else [])


def render_v3(paths: dict[str, PathItem], ref_prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, item in paths.items():
        rendered: dict[str, Any] = {}
        if params := _item_params(item):
            rendered["parameters"] = [_v3_param(p) for p in params]
        for o in item.ops:
            body: dict[str, Any] = {"description": o.description, "operationId": o.op_id}
            if o.params:
                body["parameters"] = [_v3_param(_query_param(n)) for n in o.params]
            if o.body:
                req: dict[str, Any] = {"content": {t: {"schema": {"$ref": ref_prefix + o.body}}
                                                   for t in o.body_types}}
                if o.body_required:
                    req["required"] = True
                body["requestBody"] = req
            body["responses"] = {code: _v3_response(ref, text, o.produces, ref_prefix)
                                 for code, ref, text in o.responses}
            body["tags"] = [o.tag]
            _extensions(body, o)
            rendered[o.method] = body
        out[path] = rendered
    return out


def _v3_response(ref: str | None, text: str, produces: Iterable[str], prefix: str) -> dict:
    if ref is None:
        return {"description": text}
    sch = {"type": "string"} if ref == STRING else {"$ref": prefix + ref}
    return {"content": {t: {"schema": dict(sch)} for t in produces}, "description": text}


def _extensions(body: dict[str, Any], o: Op) -> None:
    if o.action:
        body["x-kubernetes-action"] = o.action
    if o.gvk is not None:
        body["x-kubernetes-group-version-kind"] = dict(o.gvk)


def render_v2(paths: dict[str, PathItem], ref_prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, item in paths.items():
        rendered: dict[str, Any] = {}
        if params := _item_params(item):
            rendered["parameters"] = params
        for o in item.ops:
            body: dict[str, Any] = {"description": o.description, "operationId": o.op_id,
                                    "consumes": list(o.body_types or ("*/*",)),
                                    "produces": list(o.produces), "schemes": ["https"]}
            params = [_query_param(n) for n in o.params]
            if o.body:
                params.insert(0, {"in": "body", "name": "body", "required": o.body_required,
                                  "schema": {"$ref": ref_prefix + o.body}})
            if params:
                body["parameters"] = params
            body["responses"] = {code: _v2_response(ref, text, ref_prefix)
                                 for code, ref, text in o.responses}
            body["tags"] = [o.tag]
            _extensions(body, o)
            rendered[o.method] = body
        out[path] = rendered
    return out


def _v2_response(ref: str | None, text: str, prefix: str) -> dict[str, Any]:
    if ref is None:
        return {"description": text}
    sch = {"type": "string"} if ref == STRING else {"$ref": prefix + ref}
    return {"description": text, "schema": sch}
