"""HTTP semantics of the OpenAPI routes, as pure functions returning (status, headers, body).

Follows k8s.io/kube-openapi pkg/handler3 (`/openapi/v3`, `/openapi/v3/<path>`: Accept
negotiation, quoted ETag, 301 to the current `?hash=`, immutable caching when pinned) and
pkg/handler (`/openapi/v2`, also in protobuf: openapi_v2pb.py). The v3 documents are JSON
only: protobuf-only requests get 406, what the upstream handlers answer for any type they
cannot produce.
"""

from __future__ import annotations

import email.utils
import json
import time
from typing import NamedTuple

from kubeproc.apiserver import openapi, openapi_v2pb

JSON = "application/json"
_YEAR = 365 * 24 * 3600


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


def _clauses(accept: str | None) -> list[tuple[str, str]]:
    """goautoneg.ParseAccept: the (type, subtype) of each clause with q > 0, by quality (stable)."""
    clauses: list[tuple[float, int, str, str]] = []
    for i, part in enumerate((accept or "*/*").split(",")):
        fields = [f.strip() for f in part.split(";")]
        typ, _, sub = fields[0].partition("/")
        q = 1.0
        for f in fields[1:]:
            key, _, value = f.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if typ and sub and q > 0:
            clauses.append((-q, i, typ, sub))
    return [(typ, sub) for _, _, typ, sub in sorted(clauses)]


def _admits_json(typ: str, sub: str) -> bool:
    return typ in ("application", "*") and sub in ("json", "*")


def _accepts_json(accept: str | None) -> bool:
    """handler3's match loop, for the one type the v3 documents come in: JSON is the first
    entry of upstream's `accepted` table, so any clause that admits it selects JSON."""
    return any(_admits_json(t, s) for t, s in _clauses(accept))


def _not_modified(tag: str, if_none_match: str | None) -> bool:
    if not if_none_match:
        return False
    return any(t.strip() in (tag, "*") for t in if_none_match.split(","))


def _serve(data: bytes, digest: str, if_none_match: str | None,
           extra: dict[str, str] | None = None) -> Reply:
    tag = f'"{digest}"'
    headers = {"Content-Type": JSON, "Etag": tag, **(extra or {})}
    if _not_modified(tag, if_none_match):  # http.ServeContent's conditional GET
        return Reply(304, headers, b"")
    return Reply(200, headers, data)


def v3_index(if_none_match: str | None = None) -> Reply:
    """`GET /openapi/v3` (handler3.HandleDiscovery)."""
    data = json.dumps(openapi.v3_index(), sort_keys=True, separators=(",", ":")).encode()
    return _serve(data, openapi.etag(data), if_none_match)


def v3_document(path: str, hash_param: str | None, accept: str | None,
                if_none_match: str | None = None) -> Reply:
    """`GET /openapi/v3/<path>[?hash=...]` (handler3.HandleGroupVersion)."""
    data = openapi.v3_document_for_path(path)
    if data is None:
        return Reply(404, {"Content-Type": "text/plain; charset=utf-8"}, b"404 page not found\n")
    if not _accepts_json(accept):
        return Reply(406, {"Vary": "Accept"}, b"")
    digest = openapi.etag(data)
    extra = {"Vary": "Accept"}
    if hash_param:
        if hash_param != digest:
            location = openapi.server_relative_url(path.strip("/"), digest)
            return Reply(301, {"Location": location, "Vary": "Accept"}, b"")
        extra["Cache-Control"] = "public, immutable"
        extra["Expires"] = email.utils.formatdate(time.time() + _YEAR, usegmt=True)
    return _serve(data, digest, if_none_match, extra)


def v2_document(accept: str | None, if_none_match: str | None = None) -> Reply:
    """`GET /openapi/v2` (kube-openapi pkg/handler): JSON, or the protobuf form client-go asks
    for (strict client-side validation of a `kind: List`, explain's plaintext-openapiv2); the
    first Accept clause, by quality, that either admits wins, JSON before protobuf as upstream's
    table orders them; 406 when neither is admitted."""
    chosen = _v2_type(accept)
    if chosen is None:
        return Reply(406, {"Vary": "Accept"}, b"")
    data = openapi.v2_document()
    if chosen != JSON:
        data = openapi_v2pb.encode(data)
    reply = _serve(data, openapi.etag(data), if_none_match, {"Vary": "Accept"})
    reply.headers["Content-Type"] = chosen
    return reply


def _v2_type(accept: str | None) -> str | None:
    for typ, sub in _clauses(accept):
        if _admits_json(typ, sub):
            return JSON
        if f"{typ}/{sub}" in openapi_v2pb.MEDIA_TYPES:
            return openapi_v2pb.MEDIA_TYPE
    return None
