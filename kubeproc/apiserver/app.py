"""The HTTP application: authentication, error mapping and routing to discovery, OpenAPI,
health and resource handlers.

Every failure leaves as a Kubernetes Status; an unexpected exception is logged and answered as
500 without taking the server down. A request without the bearer token learns nothing (401).
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from kubeproc.api import errors
from kubeproc.apiserver import codec, discovery, handlers, paths

log = logging.getLogger(__name__)

_REGISTRY = web.AppKey("registry", object)
_TOKEN = web.AppKey("token", str)
_ADDRESS = web.AppKey("address", str)
_EXTRA = web.AppKey("extra_routes", dict)


@web.middleware
async def _errors(request: web.Request, handler):
    try:
        return await handler(request)
    except errors.StatusError as exc:
        return handlers.status_response(exc)
    except web.HTTPRequestEntityTooLarge:
        return handlers.status_response(errors.RequestEntityTooLarge("the request body is too large"))
    except web.HTTPException:
        raise
    except RecursionError:
        return handlers.status_response(errors.BadRequest("the request is nested too deeply"))
    except (ConnectionResetError, ConnectionError):
        raise
    except Exception:  # one bad request must never take the server down
        log.exception("internal error serving %s %s", request.method, request.path)
        return handlers.status_response(errors.InternalError("an internal error occurred"))


@web.middleware
async def _auth(request: web.Request, handler):
    token = request.app[_TOKEN]
    header = request.headers.get("Authorization", "")
    given = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        return handlers.status_response(errors.Unauthorized("Unauthorized"))
    return await handler(request)


async def _dispatch(request: web.Request) -> web.StreamResponse:
    path = request.path.rstrip("/") or "/"
    extra = request.app[_EXTRA].get(path)
    if extra is not None:
        return await extra(request)
    if path in ("/healthz", "/livez", "/readyz"):
        return web.Response(text="ok")
    if path == "/version":
        return web.json_response(discovery.version_info())
    if path == "/metrics":
        return web.Response(text=_metrics(), content_type="text/plain")
    if path.startswith("/openapi"):
        return await _openapi(request, path)
    target = paths.parse(path)
    if target is None:
        return _discovery(request, path)
    return await handlers.handle(request, request.app[_REGISTRY], target)


def _metrics() -> str:
    """Prometheus text with the gauge of open watches, named as the upstream apiserver's."""
    from kubeproc.apiserver.watchstream import OPEN_WATCHES

    lines = ["# HELP apiserver_longrunning_requests Gauge of all active long-running apiserver requests",
             "# TYPE apiserver_longrunning_requests gauge"]
    for (group, resource), n in sorted(OPEN_WATCHES.items()):
        lines.append(f'apiserver_longrunning_requests{{component="apiserver",group="{group}",'
                     f'resource="{resource}",scope="",subresource="",verb="WATCH",version=""}} {n}')
    return "\n".join(lines) + "\n"


def _discovery(request: web.Request, path: str) -> web.Response:
    if request.method != "GET":
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
    accept = codec.negotiate(request.headers.get("Accept", ""))
    if path in ("/api", "/apis") and accept.discovery:
        ct = (f"application/json;g=apidiscovery.k8s.io;v={accept.discovery};"
              f"as=APIGroupDiscoveryList")
        body = discovery.aggregated(path == "/api", accept.discovery)
        return web.Response(body=codec.dumps(body), headers={"Content-Type": ct})
    doc = None
    if path == "/api":
        doc = discovery.api_versions(request.app[_ADDRESS])
    elif path == "/apis":
        doc = discovery.api_group_list()
    elif path == "/api/v1":
        doc = discovery.resource_list("", "v1")
    elif path.startswith("/apis/"):
        parts = path.split("/")[2:]
        if len(parts) == 1:
            doc = discovery.api_group(parts[0])
        elif len(parts) == 2:
            doc = discovery.resource_list(parts[0], parts[1])
    if doc is None:
        raise errors.NotFound("the server could not find the requested resource")
    return web.Response(body=codec.dumps(doc), content_type="application/json")


async def _openapi(request: web.Request, path: str) -> web.Response:
    from kubeproc.apiserver import openapi_http

    if request.method != "GET":
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
    inm = request.headers.get("If-None-Match")
    if path == "/openapi/v2":
        r = openapi_http.v2_document(request.headers.get("Accept"), inm)
    elif path == "/openapi/v3":
        r = openapi_http.v3_index(inm)
    else:
        r = openapi_http.v3_document(path[len("/openapi/v3/"):], request.query.get("hash"),
                                     request.headers.get("Accept"), inm)
    return web.Response(status=r.status, headers=r.headers, body=r.body)


def make_app(registry, token: str, address: str, extra_routes: dict | None = None) -> web.Application:
    app = web.Application(middlewares=[_errors, _auth], client_max_size=codec.MAX_BODY + 1)
    app[_REGISTRY] = registry
    app[_TOKEN] = token
    app[_ADDRESS] = address
    app[_EXTRA] = extra_routes or {}
    app.router.add_route("*", "/{tail:.*}", _dispatch)
    return app
