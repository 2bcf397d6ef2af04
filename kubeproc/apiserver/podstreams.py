"""HTTP side of the pod streaming subresources: `pods/log`, `pods/exec`, `pods/attach` and
`pods/portforward`.

Owns the route, the pod and container resolution the apiserver does before it reaches the node
(pkg/registry/core/pod/strategy.go), the kubelet's pre-checks, and the log handler (chunked
text/plain). Exec/attach sessions are run by remotecommand.py, port forwarding by portforward.py;
the node itself is reached only through `kubeproc.client.podstreams.PodStreams`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import inspect
from collections.abc import AsyncIterator
from typing import Any, Mapping

from aiohttp import web

from kubeproc.api import errors, resources
from kubeproc.apiserver import remotecommand
from kubeproc.client.podstreams import LogOptions, PodStreams

SUBRESOURCES = frozenset({"log", "exec", "attach", "portforward"})
ROUTE = "/api/v1/namespaces/{namespace}/pods/{name}/{subresource:log|exec|attach|portforward}"
STREAMS = web.AppKey("podstreams", object)
_REGISTRY = web.AppKey("podstreams_registry", object)

# With follow, the response starts once the first chunk arrives or after this long, so an error
# the node reports at once is still an HTTP error while a quiet log does not hold the headers.
HEADER_GRACE = 0.5

_POD = resources.by_kind("", "Pod")


def add_routes(app: web.Application, registry: Any, streams: PodStreams | None) -> None:
    """Serve the four subresources on `app` (made by apiserver.app.make_app). The route is more
    specific than make_app's catch-all, which aiohttp's resolver (longest prefix first) honours;
    the app's auth and error middlewares apply as for every route."""
    app[STREAMS] = streams
    app[_REGISTRY] = registry
    app.router.add_route("*", ROUTE, _route)


async def _route(request: web.Request) -> web.StreamResponse:
    info = request.match_info
    return await serve(request, request.app[_REGISTRY], request.app[STREAMS],
                       info["namespace"], info["name"], info["subresource"])


async def serve(request: web.Request, registry: Any, streams: PodStreams | None,
                namespace: str, name: str, subresource: str) -> web.StreamResponse:
    """Answer GET/POST on pods/<name>/<subresource>; errors are raised as StatusErrors (before
    any byte is sent) for the app's error middleware to render."""
    method = request.method
    if subresource == "log":
        if method != "GET":
            raise errors.MethodNotAllowed(
                "the server does not allow this method on the requested resource")
        return await _serve_log(request, registry, streams, namespace, name)
    if method not in ("GET", "POST"):  # rest/subresources.go upgradeableMethods
        raise errors.MethodNotAllowed(
            "the server does not allow this method on the requested resource")
    if subresource == "portforward":
        return await _serve_portforward(request, registry, streams, namespace, name)
    return await _serve_remote_command(request, registry, streams, namespace, name,
                                       subresource == "exec")


# ---- pod and container resolution -----------------------------------------------------------

def _get_pod(registry: Any, namespace: str, name: str) -> dict[str, Any]:
    assert _POD is not None
    return registry.get_obj(_POD, namespace, name)


def container_names(pod: Mapping[str, Any]) -> list[str]:
    """podutil.VisitContainers order: init containers, containers, ephemeral containers."""
    spec = pod.get("spec") or {}
    return [c.get("name", "") for key in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(key) or []]


def resolve_container(pod: Mapping[str, Any], requested: str) -> str:
    """strategy.go validateContainer: the only container by default, else the named one."""
    name = (pod.get("metadata") or {}).get("name", "")
    if requested:
        # podHasContainerWithName
        if requested not in container_names(pod):
            raise errors.BadRequest(f"container {requested} is not valid for pod {name}")
        return requested
    containers = (pod.get("spec") or {}).get("containers") or []
    if len(containers) == 1:
        return containers[0].get("name", "")
    if not containers:
        raise errors.BadRequest(f"a container name must be specified for pod {name}")
    raise errors.BadRequest(f"a container name must be specified for pod {name}, "
                            f"choose one of: [{' '.join(container_names(pod))}]")


def _node_unreachable(pod: Mapping[str, Any]) -> errors.StatusError:
    """What a client sees when the apiserver cannot reach the pod's kubelet: a 500 Status with
    no reason (ErrorToAPIStatus of a dial error), here naming why."""
    err = errors.StatusError(
        f"no node agent is running (kubeproc serves the control plane only): cannot reach the "
        f"kubelet of node \"{(pod.get('spec') or {}).get('nodeName', '')}\"")
    err.reason = ""
    return err


def _container_status(pod: Mapping[str, Any], container: str) -> Mapping[str, Any] | None:
    status = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(key) or []:
            if cs.get("name") == container:
                return cs
    return None


def check_log_status(pod: Mapping[str, Any], container: str, previous: bool) -> None:
    """pkg/kubelet/kubelet_pods.go validateContainerLogStatus: is there a container instance
    whose log can be served (kubelet answers 400, relayed as BadRequest by the apiserver)."""
    pod_name = (pod.get("metadata") or {}).get("name", "")
    where = f'container "{container}" in pod "{pod_name}"'
    cs = _container_status(pod, container)
    if cs is None:
        raise errors.BadRequest(f"{where} is not available")
    state = cs.get("state") or {}
    last_term = (cs.get("lastState") or {}).get("terminated")
    waiting, running = state.get("waiting"), state.get("running")
    terminated = state.get("terminated")
    if previous:
        if not last_term or not last_term.get("containerID"):
            raise errors.BadRequest(f"previous terminated {where} not found")
        return
    if running is not None:
        return
    if terminated is not None:
        if not terminated.get("containerID") and not (last_term and last_term.get("containerID")):
            raise errors.BadRequest(f"{where} is terminated")
        return
    if last_term is not None:
        if not last_term.get("containerID"):
            raise errors.BadRequest(f"{where} is terminated")
        return
    if waiting is not None:
        reason = waiting.get("reason", "")
        if reason == "ErrImagePull":
            raise errors.BadRequest(f"{where} is waiting to start: image can't be pulled")
        if reason == "ImagePullBackOff":
            raise errors.BadRequest(
                f"{where} is waiting to start: trying and failing to pull image")
        raise errors.BadRequest(f"{where} is waiting to start: {reason}")
    raise errors.BadRequest(f"{where} is waiting to start - no logs yet")


# ---- pods/log -------------------------------------------------------------------------------

def _int_param(query: Mapping[str, str], key: str) -> int | None:
    if key not in query:
        return None
    raw = query[key]
    try:
        return int(raw, 10)
    except ValueError:
        # runtime Convert_Slice_string_To_int64 -> strconv.ParseInt; the codec error is a 400
        raise errors.BadRequest(f'strconv.ParseInt: parsing "{raw}": invalid syntax') from None


def _bool_param(query: Mapping[str, str], key: str) -> bool:
    if key not in query:
        return False
    value = query[key]
    return not (value == "0" or value.lower() == "false")


def _time_param(query: Mapping[str, str], key: str) -> _dt.datetime | None:
    raw = query.get(key)
    if not raw:
        return None
    try:
        t = _dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise errors.BadRequest(f'parsing time "{raw}" as "2006-01-02T15:04:05Z07:00": '
                                f'cannot parse "{raw}" as RFC 3339') from None
    if t.tzinfo is None:
        raise errors.BadRequest(f'parsing time "{raw}" as "2006-01-02T15:04:05Z07:00": '
                                f'missing time zone')
    return t.astimezone(_dt.timezone.utc)


def parse_log_options(query: Mapping[str, str], name: str) -> tuple[str, LogOptions]:
    """(container, options) from the PodLogOptions query; validation follows
    pkg/apis/core/validation ValidatePodLogOptions (rest/log.go answers NewInvalid)."""
    opts = LogOptions(follow=_bool_param(query, "follow"), previous=_bool_param(query, "previous"),
                      since_seconds=_int_param(query, "sinceSeconds"),
                      since_time=_time_param(query, "sinceTime"),
                      timestamps=_bool_param(query, "timestamps"),
                      tail_lines=_int_param(query, "tailLines"),
                      limit_bytes=_int_param(query, "limitBytes"))
    causes: list[errors.Cause] = []
    if opts.tail_lines is not None and opts.tail_lines < 0:
        causes.append(errors.invalid("tailLines", opts.tail_lines,
                                     "must be greater than or equal to 0"))
    if opts.limit_bytes is not None and opts.limit_bytes < 1:
        causes.append(errors.invalid("limitBytes", opts.limit_bytes, "must be greater than 0"))
    if opts.since_seconds is not None and opts.since_time is not None:
        causes.append(errors.forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be "
                                           "specified"))
    elif opts.since_seconds is not None and opts.since_seconds < 1:
        causes.append(errors.invalid("sinceSeconds", opts.since_seconds, "must be greater than 0"))
    if causes:
        # field.Error.Error() prints "<field>: <detail>" even for the empty root path
        msgs = [f"{c.field}: {c.message}" for c in causes]
        joined = msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"
        raise errors.Invalid(f'PodLogOptions "{name}" is invalid: {joined}',
                             kind="PodLogOptions", name=name, causes=causes)
    return query.get("container", ""), opts


async def _serve_log(request: web.Request, registry: Any, streams: PodStreams | None,
                     namespace: str, name: str) -> web.StreamResponse:
    requested, opts = parse_log_options(request.query, name)
    pod = _get_pod(registry, namespace, name)
    container = resolve_container(pod, requested)
    if not (pod.get("spec") or {}).get("nodeName"):
        # strategy.go LogLocation: an unscheduled pod has no location, an empty log
        return web.Response(body=b"", content_type="text/plain")
    if streams is None:
        raise _node_unreachable(pod)
    check_log_status(pod, container, opts.previous)
    chunks = streams.logs(pod, container, opts)
    if inspect.isawaitable(chunks):
        chunks = await chunks
    return await _stream_log(request, chunks, opts.follow)


async def _stream_log(request: web.Request, chunks: AsyncIterator[bytes],
                      follow: bool) -> web.StreamResponse:
    """rest/log.go LocationStreamer: text/plain, flushed per chunk; the first chunk is awaited
    before the headers so that an immediate node error is still an HTTP Status."""
    it = aiter(chunks)
    first: asyncio.Future[bytes] = asyncio.ensure_future(anext(it))
    resp: web.StreamResponse | None = None
    try:
        done, _ = await asyncio.wait({first}, timeout=HEADER_GRACE if follow else None)
        pending: bytes | None = None
        ended = False
        if done:
            try:
                pending = first.result()
            except StopAsyncIteration:
                ended = True
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        if not done:
            try:
                pending = await first
            except StopAsyncIteration:
                ended = True
        if not ended:
            if pending:
                await resp.write(pending)
            async for chunk in it:
                if chunk:
                    await resp.write(chunk)
        await resp.write_eof()
        return resp
    except errors.StatusError:
        if resp is None:
            raise
        # the headers are out: as upstream, a failure midway just ends the body
        with contextlib.suppress(Exception):
            await resp.write_eof()
        return resp
    finally:
        if not first.done():
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
        closer = getattr(it, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()


# ---- pods/exec, pods/attach, pods/portforward ----------------------------------------------------

def _check_host(pod: Mapping[str, Any], name: str) -> None:
    if not (pod.get("spec") or {}).get("nodeName"):
        # strategy.go streamLocation / PortForwardLocation
        raise errors.BadRequest(f"pod {name} does not have a host assigned")


async def _serve_remote_command(request: web.Request, registry: Any, streams: PodStreams | None,
                                namespace: str, name: str, exec_: bool) -> web.StreamResponse:
    opts = remotecommand.parse_options(request.query, exec_)
    pod = _get_pod(registry, namespace, name)
    container = resolve_container(pod, opts.container)
    _check_host(pod, name)
    phase = (pod.get("status") or {}).get("phase", "")
    if phase in ("Succeeded", "Failed"):
        # kubectl exec/attach refuse this client side (cmd/exec/exec.go, cmd/attach/attach.go);
        # answered here too so that every client learns it before the upgrade
        what = "exec into" if exec_ else "attach"
        raise errors.BadRequest(f"cannot {what} a container in a completed pod; "
                                f"current phase is {phase}")
    if streams is None:
        raise _node_unreachable(pod)
    node = streams

    async def start():
        if exec_:
            return await node.exec(pod, container, list(opts.command), opts.stdin, opts.tty)
        return await node.attach(pod, container, opts.stdin, opts.tty)

    return await remotecommand.serve(request, opts, start, report_exit=exec_)


async def _serve_portforward(request: web.Request, registry: Any, streams: PodStreams | None,
                             namespace: str, name: str) -> web.StreamResponse:
    pod = _get_pod(registry, namespace, name)
    _check_host(pod, name)
    if streams is None:
        raise _node_unreachable(pod)
    try:
        from kubeproc.apiserver import portforward
    except ImportError:
        raise errors.NotFound("the server could not find the requested resource") from None
    return await portforward.serve_portforward(request, streams, pod)
