"""Streaming a watch: newline-delimited JSON events over a chunked response.

Initial state for resourceVersion "" / "0" (and sendInitialEvents, ended by a bookmark with the
`k8s.io/initial-events-end` annotation), BOOKMARK events when asked for, 410 Expired as an ERROR
event when the resourceVersion is older than the window, and a server-side timeout, as
k8s.io/apiserver/pkg/endpoints/handlers/watch.go serves them.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import random
from collections import Counter
from typing import Any

from aiohttp import web

from kubeproc.api import errors
from kubeproc.apiserver import codec, options, tables
from kubeproc.apiserver.paths import Target
from kubeproc.registry.registry import Registry

# Open watches per (group, resource), served as apiserver_longrunning_requests on /metrics.
OPEN_WATCHES: Counter[tuple[str, str]] = Counter()

BOOKMARK_INTERVAL = 10.0  # seconds; upstream sends one about every minute
MIN_TIMEOUT = 1800  # --min-request-timeout: watches last 30–60 minutes unless asked otherwise


def _bookmark(t: Target, rv: int, initial_end: bool = False) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return codec.dumps({"type": "BOOKMARK", "object": {
        "kind": t.resource.kind, "apiVersion": t.resource.api_version, "metadata": meta}}) + b"\n"


async def serve_watch(request: web.Request, reg: Registry, t: Target, accept: codec.Accept,
                      name: str = "") -> web.StreamResponse:
    q = request.query
    timeout = options.integer(q, "timeoutSeconds", 0)
    if timeout is None or timeout == 0:
        timeout = MIN_TIMEOUT + random.randint(0, MIN_TIMEOUT)
    bookmarks = bool(options.boolean(q, "allowWatchBookmarks"))
    send_initial = options.boolean(q, "sendInitialEvents")
    field_selector = q.get("fieldSelector", "")
    if name:
        field_selector = ",".join(filter(None, [field_selector, f"metadata.name={name}"]))
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                   "Cache-Control": "no-cache, private"})
    try:
        stream = reg.watch(t.resource, t.namespace or None, q.get("resourceVersion", ""),
                           q.get("labelSelector", ""), field_selector, send_initial=bool(send_initial))
    except errors.Gone as exc:
        await resp.prepare(request)
        await resp.write(codec.dumps({"type": "ERROR", "object": exc.to_status()}) + b"\n")
        return resp
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    first_table = True
    initial_left = len(stream.initial)
    last_rv = reg.store.resource_version
    key = (t.resource.group, t.resource.plural)
    OPEN_WATCHES[key] += 1
    try:
        if send_initial and initial_left == 0:
            await resp.write(_bookmark(t, last_rv, initial_end=True))
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            wait = min(remaining, BOOKMARK_INTERVAL) if bookmarks else remaining
            try:
                batch = await asyncio.wait_for(stream.next_batch(), wait)
            except asyncio.TimeoutError:
                if bookmarks and loop.time() < deadline:
                    await resp.write(_bookmark(t, max(last_rv, reg.store.resource_version)))
                continue
            if batch is None:
                break
            # every event ready now goes out in one chunk (one write, one drain)
            lines = []
            for kind, entry in batch:
                last_rv = max(last_rv, entry.rv)
                if accept.as_kind == "Table":
                    table = tables.to_table(t.resource, [entry.obj()], _dt.datetime.now(_dt.timezone.utc),
                                            q.get("includeObject", "Metadata") or "Metadata", {})
                    if not first_table:
                        table["columnDefinitions"] = None
                    first_table = False
                    lines.append(codec.dumps({"type": kind, "object": table}) + b"\n")
                else:
                    lines.append(b'{"type":"' + kind.encode() + b'","object":' + entry.data + b"}\n")
                if initial_left:
                    initial_left -= 1
                    if initial_left == 0 and send_initial:
                        lines.append(_bookmark(t, reg.store.resource_version, initial_end=True))
            await resp.write(b"".join(lines))
    except (ConnectionResetError, asyncio.CancelledError):
        stream.close()
        raise
    finally:
        OPEN_WATCHES[key] -= 1
        stream.close()
    return resp
