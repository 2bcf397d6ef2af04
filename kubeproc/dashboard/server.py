"""The dashboard's HTTP listener: login, sessions, static files and the API behind a cookie.

The page is served over plain HTTP on 127.0.0.1 (a browser would warn about the API's
self-signed CA). `GET /login?token=<dashboard token>` sets an HttpOnly, SameSite=Strict session
cookie; with it, `/api/...` and `/apis/...` reach the very same handlers as the HTTPS API (the
request is re-issued in-process with the admin bearer token, so watches stream unchanged).
Requests whose Host or Origin is not the dashboard's own are refused (CSRF, DNS rebinding).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from typing import Awaitable, Callable

from aiohttp import web
from multidict import CIMultiDict

from kubeproc.apiserver.app import make_app
from kubeproc.ports import remembered_port

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
COOKIE = "kubeproc_dashboard"
_CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
                  ".svg": "image/svg+xml", ".json": "application/json"}
# the page's own security policy: only its own scripts and the API on the same origin
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def token_path(data_dir: str) -> str:
    return os.path.join(data_dir, "pki", "dashboard.token")


def ensure_token(data_dir: str) -> str:
    """The dashboard login token (DATA/pki/dashboard.token, 0600), made on first use.

    A token of its own, not the admin token: the login URL lands in browser history and
    shell scroll-back, and deleting the file (then restarting) revokes it without touching
    the kubeconfig."""
    path = token_path(data_dir)
    try:
        with open(path) as f:
            token = f.read().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    token = secrets.token_urlsafe(32)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.replace(tmp, path)
    return token


def resolve_port(state_file: str, host: str = "127.0.0.1") -> int:
    """The port this data dir's dashboard used before (if still free), else a free one."""
    return remembered_port(state_file, "dashboardPort", host)


def session_value(token: str, nonce: str) -> str:
    """A session cookie: a nonce and its HMAC under the login token (survives restarts, and
    rotating the token ends every session)."""
    mac = hmac.new(token.encode(), b"kubeproc-dashboard-session:" + nonce.encode(), hashlib.sha256)
    return f"{nonce}.{mac.hexdigest()}"


def valid_session(token: str, cookie: str | None) -> bool:
    if not cookie or "." not in cookie:
        return False
    nonce = cookie.split(".", 1)[0]
    return hmac.compare_digest(session_value(token, nonce).encode(), cookie.encode())


def allowed_hosts(port: int) -> frozenset[str]:
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})


def origin_ok(request: web.Request, port: int) -> bool:
    """Host must name this listener (DNS rebinding); Origin, when sent, must be this origin
    (CSRF: browsers send it on every cross-origin fetch and on every non-GET)."""
    hosts = allowed_hosts(port)
    if request.headers.get("Host", "") not in hosts:
        return False
    origin = request.headers.get("Origin")
    return origin is None or origin in {f"http://{h}" for h in hosts}


def same_site(request: web.Request) -> bool:
    """A browser's Sec-Fetch-Site, when sent, must say the API call comes from this page."""
    return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


def _static_files() -> dict[str, str]:
    """URL path -> file, fixed at start: nothing outside static/ can ever be named."""
    files = {"/": os.path.join(STATIC_DIR, "index.html")}
    for name in sorted(os.listdir(STATIC_DIR)):
        full = os.path.join(STATIC_DIR, name)
        if os.path.isfile(full) and os.path.splitext(name)[1] in _CONTENT_TYPES \
                and not name.endswith(".test.js"):  # node's tests are not part of the page
            files[f"/static/{name}"] = full
    return files


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain",
                        headers={"Cache-Control": "no-store"})


def _static(path: str) -> web.Response:
    with open(path, "rb") as f:
        body = f.read()
    ctype = _CONTENT_TYPES[os.path.splitext(path)[1]]
    return web.Response(body=body, headers={
        "Content-Type": f"{ctype}; charset=utf-8", "Cache-Control": "no-cache",
        "Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer"})


def _login(request: web.Request, token: str) -> web.Response:
    given = request.query.get("token", "")
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        return _text(401, "kubeproc dashboard: wrong or missing token; run `kubeproc dashboard`\n")
    # no-referrer: the token in this URL must not leak in a Referer header
    resp = web.Response(status=303, headers={"Location": "/", "Cache-Control": "no-store",
                                             "Referrer-Policy": "no-referrer"})
    resp.set_cookie(COOKIE, session_value(token, secrets.token_urlsafe(16)), httponly=True,
                    samesite="Strict", path="/")
    return resp


def make_middleware(token: str, admin_token: str, port: int):
    files = _static_files()

    @web.middleware
    async def dashboard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not origin_ok(request, port):
            return _text(403, "kubeproc dashboard: foreign Host or Origin refused\n")
        path = request.path
        if path == "/login" and request.method == "GET":
            return _login(request, token)
        if path in files and request.method in ("GET", "HEAD"):
            return _static(files[path])
        if path == "/healthz" and request.method == "GET":
            return _text(200, "ok")
        if not (path in ("/api", "/apis") or path.startswith(("/api/", "/apis/"))):
            return _text(404, "not found\n")
        if not same_site(request):
            return _text(403, "kubeproc dashboard: cross-site API request refused\n")
        if not valid_session(token, request.cookies.get(COOKIE)):
            return _text(401, "kubeproc dashboard: not logged in; run `kubeproc dashboard`\n")
        # the API's own handlers, as the admin (the cookie stands for the admin token)
        headers = CIMultiDict((k, v) for k, v in request.headers.items()
                              if k.lower() not in ("authorization", "cookie"))
        headers["Authorization"] = f"Bearer {admin_token}"
        return await handler(request.clone(headers=headers))

    return dashboard


def make_dashboard_app(registry, admin_token: str, dashboard_token: str, port: int,
                       api_address: str) -> web.Application:
    """The API application (same routes, error mapping and bearer check) behind the dashboard
    middleware, which runs first and decides what reaches the API."""
    app = make_app(registry, admin_token, api_address)
    app.middlewares.insert(0, make_middleware(dashboard_token, admin_token, port))
    return app


async def start(registry, data_dir: str, state_file: str, admin_token: str,
                api_address: str) -> tuple[web.AppRunner, int]:
    """Start the dashboard listener on 127.0.0.1; returns its runner (to clean up) and port."""
    port = resolve_port(state_file)
    app = make_dashboard_app(registry, admin_token, ensure_token(data_dir), port, api_address)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True).start()
    return runner, port
