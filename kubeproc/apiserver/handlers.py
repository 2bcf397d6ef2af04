"""Resource verbs over HTTP: turn a parsed request into a registry call and an HTTP answer.

Nothing here decides semantics; the registry does. This module maps verbs, encodes answers
(JSON bytes spliced from the store for lists), adds `Warning` headers, and converts to Tables.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from aiohttp import web

from kubeproc.api import errors, fieldcheck
from kubeproc.apiserver import codec, options, tables
from kubeproc.apiserver.openapi_paths import RETURNS_DELETED
from kubeproc.apiserver.paths import Target
from kubeproc.apiserver.watchstream import serve_watch
from kubeproc.registry import eviction, patching, subresources
from kubeproc.registry.registry import ListResult, Registry, WriteOptions


def _json(body: bytes | dict[str, Any], status: int = 200, warnings: list[str] | None = None,
          content_type: str = "application/json") -> web.Response:
    data = body if isinstance(body, bytes) else codec.dumps(body)
    resp = web.Response(body=data, status=status, content_type=content_type)
    for w in warnings or []:
        resp.headers.add("Warning", '299 - "' + w.replace('"', '\\"') + '"')
    return resp


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _table(t: Target, request: web.Request, objs: list[dict[str, Any]],
           list_meta: dict[str, Any] | None, accept: codec.Accept) -> web.Response:
    include = request.query.get("includeObject", "Metadata")
    if include not in ("", "None", "Metadata", "Object"):
        raise errors.BadRequest(f'unrecognized includeObject value: "{include}"')
    if accept.as_kind == "Table":
        no_headers = request.query.get("noHeaders") in ("true", "1")
        return _json(tables.to_table(t.resource, objs, _now(), include or "Metadata", list_meta,
                                     no_headers=no_headers))
    partial = [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": o.get("metadata", {})} for o in objs]
    if list_meta is not None or accept.as_kind == "PartialObjectMetadataList":
        return _json({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                      "metadata": list_meta or {}, "items": partial})
    return _json(partial[0])


def _list_body(t: Target, result: ListResult) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": str(result.rv)}
    if result.continue_token:
        meta["continue"] = result.continue_token
        meta["remainingItemCount"] = result.remaining
    head = codec.dumps({"kind": t.resource.list_kind, "apiVersion": t.resource.api_version,
                        "metadata": meta})[:-1]
    return head + b',"items":[' + b",".join(e.data for e in result.items) + b"]}"


def write_options(request: web.Request, t: Target, raw: bytes | None = None,
                  body: Any = None) -> WriteOptions:
    q = request.query
    json_body = raw is not None and request.headers.get("Content-Type", "").startswith(codec.JSON)
    return WriteOptions(dry_run=options.dry_run(q), field_manager=q.get("fieldManager", ""),
                        field_validation=options.field_validation(q),
                        user_agent=request.headers.get("User-Agent", ""),
                        subresource=t.subresource, raw=raw if json_body else None,
                        raw_key_count=fieldcheck.count_keys(body) if json_body else None)


async def _body(request: web.Request) -> tuple[Any, bytes]:
    raw = await request.read()
    return codec.decode_body(request.headers.get("Content-Type", ""), raw), raw


async def handle(request: web.Request, reg: Registry, t: Target) -> web.StreamResponse:
    method = request.method
    accept = codec.negotiate(request.headers.get("Accept", ""))
    if method == "GET":
        return await _get(request, reg, t, accept)
    if method == "POST":
        return await _post(request, reg, t)
    if t.is_collection and method == "DELETE":
        return await _delete_collection(request, reg, t)
    if t.is_collection:
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
    if method == "PUT":
        return await _put(request, reg, t)
    if method == "PATCH":
        return await _patch(request, reg, t)
    if method == "DELETE":
        return await _delete(request, reg, t)
    raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")


async def _get(request: web.Request, reg: Registry, t: Target,
               accept: codec.Accept) -> web.StreamResponse:
    q = request.query
    if t.is_collection:
        if t.legacy_watch or options.boolean(q, "watch"):
            return await serve_watch(request, reg, t, accept)
        result = reg.list(t.resource, t.namespace or None, q.get("labelSelector", ""),
                          q.get("fieldSelector", ""), options.integer(q, "limit", 0) or 0,
                          q.get("continue", ""))
        _check_list_rv(reg, q)
        if accept.as_kind:
            meta = {"resourceVersion": str(result.rv)}
            if result.continue_token:
                meta["continue"] = result.continue_token
                meta["remainingItemCount"] = result.remaining
            return _table(t, request, [e.obj() for e in result.items], meta, accept)
        return _json(_list_body(t, result))
    if t.legacy_watch or options.boolean(q, "watch"):
        return await serve_watch(request, reg, t, accept, name=t.name)
    if t.subresource == "scale":
        return _json(subresources.get_scale(reg, t.resource, t.namespace, t.name))
    if t.subresource == "log":
        reg.get(t.resource, t.namespace, t.name)
        return web.Response(body=b"", content_type="text/plain")
    if t.subresource not in ("", "status"):
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
    entry = reg.get(t.resource, t.namespace, t.name)
    if accept.as_kind:
        return _table(t, request, [entry.obj()], None, accept)
    return _json(entry.data)


def _check_list_rv(reg: Registry, q: Any) -> None:
    rv = q.get("resourceVersion", "")
    if rv in ("", "0"):
        return
    try:
        want = int(rv)
    except ValueError:
        raise errors.BadRequest(f'invalid resource version "{rv}"') from None
    current = reg.store.resource_version
    if want > current:
        raise errors.Timeout(f"Too large resource version: {want}, current: {current}",
                             causes=[errors.Cause("ResourceVersionTooLarge",
                                                  "Too large resource version")], retry_after=1)
    if q.get("resourceVersionMatch") == "Exact" and want != current:
        raise errors.Gone(f"too old resource version: {want} ({current})")


async def _post(request: web.Request, reg: Registry, t: Target) -> web.StreamResponse:
    body, raw = await _body(request)
    if t.resource.kind == "SelfSubjectAccessReview":
        return _json(subresources.access_review(body), status=201)
    if t.subresource == "eviction":
        return _json(await eviction.evict(reg, t.namespace, t.name, body,
                                              options.dry_run(request.query)), status=201)
    if t.subresource == "binding":
        return _json(await subresources.bind(reg, t.namespace, t.name, body), status=201)
    if not t.is_collection:
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
    opts = write_options(request, t, raw, body)
    obj = await reg.create(t.resource, t.namespace, body, opts)
    return _json(obj, status=201, warnings=opts.warnings)


async def _put(request: web.Request, reg: Registry, t: Target) -> web.StreamResponse:
    body, raw = await _body(request)
    opts = write_options(request, t, raw, body)
    if t.subresource == "scale":
        return _json(await subresources.update_scale(reg, t.resource, t.namespace, t.name, body, opts))
    if t.subresource not in ("", "status", "finalize"):
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
    obj, created = await reg.update(t.resource, t.namespace, t.name, body, opts)
    return _json(obj, status=201 if created else 200, warnings=opts.warnings)


async def _patch(request: web.Request, reg: Registry, t: Target) -> web.StreamResponse:
    raw = await request.read()
    if not raw:
        raise errors.BadRequest("the request body is empty")
    if len(raw) > codec.MAX_BODY:
        raise errors.RequestEntityTooLarge("the request body is too large")
    patch_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    opts = write_options(request, t)
    if t.subresource == "scale":
        return _json(await subresources.patch_scale(reg, t.resource, t.namespace, t.name,
                                                    patch_type, raw, opts))
    if t.subresource not in ("", "status"):
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
    if patch_type == patching.APPLY_PATCH:
        force = bool(options.boolean(request.query, "force"))
        opts.apply = True
        mutate, create_missing = patching.applier(t.resource, raw, opts.field_manager, force,
                                                   subresource=t.subresource)
        obj, created = await reg.patch_with(t.resource, t.namespace, t.name, mutate, opts,
                                            create_missing=create_missing)
    else:
        if options.boolean(request.query, "force") is not None:
            raise errors.BadRequest("force is only allowed for apply patches")
        mutate = patching.mutator(t.resource, patch_type, raw)
        obj, created = await reg.patch_with(t.resource, t.namespace, t.name, mutate, opts)
    return _json(obj, status=201 if created else 200, warnings=opts.warnings)


async def _delete_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    return codec.decode_body(request.headers.get("Content-Type", ""), raw)


async def _delete(request: web.Request, reg: Registry, t: Target) -> web.StreamResponse:
    if t.subresource:
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
    opts = options.delete_options(request.query, await _delete_body(request))
    obj = await reg.delete(t.resource, t.namespace, t.name, opts, bool(opts.get("dryRun")))
    if obj.get("metadata", {}).get("deletionTimestamp") or (t.resource.group, t.resource.kind) in RETURNS_DELETED:
        return _json(obj)
    meta = obj.get("metadata", {})
    return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                  "details": {"name": meta.get("name", t.name), "group": t.resource.group,
                              "kind": t.resource.plural, "uid": meta.get("uid", "")}})


async def _delete_collection(request: web.Request, reg: Registry, t: Target) -> web.StreamResponse:
    q = request.query
    opts = options.delete_options(q, await _delete_body(request))
    deleted = await reg.delete_collection(t.resource, t.namespace or None,
                                          q.get("labelSelector", ""), q.get("fieldSelector", ""),
                                          opts, bool(opts.get("dryRun")))
    return _json({"kind": t.resource.list_kind, "apiVersion": t.resource.api_version,
                  "metadata": {"resourceVersion": str(reg.store.resource_version)},
                  "items": deleted})


def status_response(exc: errors.StatusError) -> web.Response:
    resp = _json(exc.to_status(), status=exc.code)
    if exc.retry_after:
        resp.headers["Retry-After"] = str(exc.retry_after)
    return resp


__all__ = ["handle", "status_response", "json"]
