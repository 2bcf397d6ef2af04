"""The probe and lifecycle-hook actions: exec, httpGet, tcpSocket, and grpc (`grpcprobe.py`).

Ports pkg/kubelet/prober/prober.go runProbe, pkg/probe/util.go ResolveContainerPort,
pkg/probe/http (request.go NewRequestForHTTPGetAction, http.go DoHTTPProbe, RedirectChecker),
pkg/probe/tcp DoTCPProbe and pkg/probe/exec (ExecProbeTimeout on). Each action returns an
`Outcome` whose output/error texts follow the Go kubelet's, for the agent's events.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import ssl
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping

import aiohttp
from multidict import CIMultiDict

from kubeproc.agent import grpcprobe
from yarl import URL

from kubeproc.agent.expansion import expand
from kubeproc.agent.podstatus import PROBE_FAILURE, PROBE_SUCCESS, PROBE_UNKNOWN

WARNING = "warning"  # probe.Warning: counts as success, recorded as a ProbeWarning event
MAX_OUTPUT = 10 * 1024  # pkg/probe/exec maxReadLength, pkg/probe/http maxRespBodyLength
KUBE_MINOR = "1.33"
MAX_REDIRECTS = 10
_REDIRECTS = (301, 302, 303, 307, 308)

ExecSync = Callable[[str, list[str], float], Awaitable[tuple[int, bytes]]]


@dataclass(frozen=True)
class Outcome:
    """probe.Result + output + error: result is success | warning | failure | unknown."""

    result: str
    output: str = ""
    error: str | None = None  # set: the prober errored; the worker throws the result away


class ActionError(Exception):
    """A probe/handler that cannot even be attempted (bad port); the text is Go's."""


class ProbeSession:
    """One lazily created aiohttp session for all probes: no TLS verification, no keep-alive
    (pkg/probe/http New: InsecureSkipVerify, DisableKeepAlives)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            conn = aiohttp.TCPConnector(ssl=False, force_close=True, limit=0)
            self._session = aiohttp.ClientSession(connector=conn, auto_decompress=True)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def resolve_port(param: Any, container: Mapping[str, Any]) -> int:
    """pkg/probe/util.go ResolveContainerPort: a number, or a port name of the container, or
    a number written as a string; 1..65535."""
    if isinstance(param, bool) or not isinstance(param, (int, str)):
        raise ActionError(f"intOrString had no kind: {param!r}")
    if isinstance(param, int):
        port = param
    else:
        named = [p for p in container.get("ports") or [] if p.get("name") == param]
        if named:
            port = int(named[0].get("containerPort") or 0)
        elif re.fullmatch(r"[+-]?[0-9]+", param):  # strconv.Atoi, the last-ditch effort
            port = int(param)
        else:
            raise ActionError(f'strconv.Atoi: parsing "{param}": invalid syntax')
    if 0 < port < 65536:
        return port
    raise ActionError(f"invalid port number: {port}")


def join_host_port(host: str, port: int) -> str:
    """net.JoinHostPort: IPv6 literals in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _canonical(name: str) -> str:
    """textproto.CanonicalMIMEHeaderKey for the common (token) case."""
    if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", name):
        return name
    return "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-"))


def http_request(action: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str,
                 purpose: str) -> tuple[str, CIMultiDict[str], tuple[str, ...]]:
    """request.go NewRequestForHTTPGetAction: (url, headers, auto headers to skip).

    purpose is "probe" or "lifecycle" (the User-Agent kube-<purpose>/1.33)."""
    scheme = str(action.get("scheme") or "HTTP").lower()
    host = action.get("host") or pod_ip
    port = resolve_port(action.get("port"), container)
    path = str(action.get("path") or "")
    if path and not path.startswith("/"):
        path = "/" + path  # url.URL.String() inserts the slash between host and a relative path
    url = f"{scheme}://{join_host_port(str(host), port)}{path}"
    headers: CIMultiDict[str] = CIMultiDict()
    for h in action.get("httpHeaders") or []:
        headers.add(_canonical(str(h.get("name") or "")), str(h.get("value") or ""))
    skip: tuple[str, ...] = ()
    if "User-Agent" not in headers:
        headers["User-Agent"] = f"kube-{purpose}/{KUBE_MINOR}"
    if "Accept" not in headers:
        headers["Accept"] = "*/*"
    elif not headers.get("Accept"):
        del headers["Accept"]  # overridden but empty: sent without an Accept header
        skip = ("Accept",)
    return url, headers, skip


def _errno_text(err: OSError) -> str:
    """Go's syscall.Errno text (lower-case strerror)."""
    if err.errno is None:
        return str(err)
    text = os.strerror(err.errno)
    return text[:1].lower() + text[1:]


def dial_error(addr: str, err: BaseException) -> str:
    """net.OpError text of a failed TCP dial."""
    if isinstance(err, (TimeoutError, asyncio.TimeoutError)):
        return f"dial tcp {addr}: i/o timeout"
    if isinstance(err, OSError) and err.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH,
                                                   errno.ENETUNREACH, errno.ECONNRESET):
        return f"dial tcp {addr}: connect: {_errno_text(err)}"
    if isinstance(err, OSError) and err.errno is not None:
        return f"dial tcp {addr}: {_errno_text(err)}"
    return f"dial tcp {addr}: {err}"


async def _read_limited(resp: aiohttp.ClientResponse) -> bytes:
    """utilio.ReadAtMost: a body past the limit is truncated, not an error."""
    buf = bytearray()
    while len(buf) < MAX_OUTPUT:
        chunk = await resp.content.read(MAX_OUTPUT - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


async def http_get(session: ProbeSession, url: str, headers: CIMultiDict[str],
                   skip: tuple[str, ...], timeout: float | None) -> tuple[int, bytes]:
    """GET with the kubelet's redirect policy (RedirectChecker(false)): follow redirects on the
    same host name (at most 10); a redirect elsewhere returns that 3xx response.

    Raises ActionError with Go's `Get "<url>": ...` text on transport errors and timeouts."""
    first_host = URL(url).host
    current = url
    try:
        async with asyncio.timeout(timeout):
            for hop in range(MAX_REDIRECTS + 1):
                async with session.get().get(current, headers=headers, skip_auto_headers=skip,
                                             allow_redirects=False, ssl=False) as resp:
                    location = resp.headers.get("Location")
                    if resp.status in _REDIRECTS and location:
                        target = resp.url.join(URL(location))
                        if target.host == first_host:
                            if hop == MAX_REDIRECTS:
                                raise ActionError(f'Get "{target}": stopped after 10 redirects')
                            current = str(target)
                            continue
                    return resp.status, await _read_limited(resp)
    except TimeoutError:
        raise ActionError(f'Get "{current}": context deadline exceeded '
                          "(Client.Timeout exceeded while awaiting headers)") from None
    except aiohttp.ClientConnectorError as e:
        if isinstance(e.os_error, ssl.SSLError):
            raise ActionError(f'Get "{current}": {tls_error(e.os_error)}') from None
        addr = join_host_port(e.host, e.port)
        raise ActionError(f'Get "{current}": {dial_error(addr, e.os_error)}') from None
    except (aiohttp.ClientError, ssl.SSLError, OSError) as e:
        raise ActionError(f'Get "{current}": {e}') from None
    raise ActionError(f'Get "{current}": stopped after 10 redirects')  # unreachable


HTTP_RESPONSE_TO_HTTPS = "http: server gave HTTP response to HTTPS client"


def tls_error(err: ssl.SSLError) -> str:
    """Go's text for a failed TLS handshake; OpenSSL's WRONG_VERSION_NUMBER is what a plain
    HTTP server answering a TLS ClientHello looks like."""
    if getattr(err, "reason", None) in ("WRONG_VERSION_NUMBER", "HTTP_REQUEST"):
        return HTTP_RESPONSE_TO_HTTPS
    return f"remote error: tls: {getattr(err, 'reason', None) or err}"


def is_http_response_to_https(err: str) -> bool:
    """handlers.go isHTTPResponseError: an HTTPS request answered in plain HTTP."""
    return HTTP_RESPONSE_TO_HTTPS in err


async def probe_http(action: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str,
                     timeout: float, session: ProbeSession) -> Outcome:
    """pkg/probe/http DoHTTPProbe: 200 <= code < 400 succeeds (3xx: a warning)."""
    try:
        url, headers, skip = http_request(action, container, pod_ip, "probe")
    except ActionError as e:
        return Outcome(PROBE_UNKNOWN, "", str(e))
    try:
        code, body = await http_get(session, url, headers, skip, timeout)
    except ActionError as e:
        return Outcome(PROBE_FAILURE, str(e))  # errors are failures, so timeouts count
    text = body.decode("utf-8", "replace")
    if 200 <= code < 400:
        if code >= 300:
            return Outcome(WARNING, f"Probe terminated redirects, Response body: {text}")
        return Outcome(PROBE_SUCCESS, text)
    # upstream keeps the body out of the user-facing message (issue 99425)
    return Outcome(PROBE_FAILURE, f"HTTP probe failed with statuscode: {code}")


async def probe_tcp(action: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str,
                    timeout: float) -> Outcome:
    """pkg/probe/tcp DoTCPProbe: the connection opens within the timeout."""
    try:
        port = resolve_port(action.get("port"), container)
    except ActionError as e:
        return Outcome(PROBE_UNKNOWN, "", str(e))
    host = str(action.get("host") or pod_ip)
    addr = join_host_port(host, port)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as e:
        return Outcome(PROBE_FAILURE, dial_error(addr, e))
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass  # the peer closing first is still a healthy port
    return Outcome(PROBE_SUCCESS)


def static_command(command: list[Any], container: Mapping[str, Any]) -> list[str]:
    """kubecontainer.ExpandContainerCommandOnlyStatic: $(VAR) from the env's literal values
    only (a valueFrom variable expands to "")."""
    table = {str(e.get("name")): str(e.get("value") or "") for e in container.get("env") or []}
    return [expand(str(arg), table) for arg in command]


async def run_exec(exec_sync: ExecSync, container_id: str, argv: list[str],
                   timeout: float | None) -> tuple[int, bytes]:
    """exec_sync bounded by timeout (None: unbounded); raises TimeoutError when it expires."""
    if timeout is None:
        return await exec_sync(container_id, argv, 0)
    return await asyncio.wait_for(exec_sync(container_id, argv, timeout), timeout)


async def probe_exec(action: Mapping[str, Any], container: Mapping[str, Any], container_id: str,
                     timeout: float, exec_sync: ExecSync) -> Outcome:
    """pkg/probe/exec Probe: exit 0 succeeds; a timeout fails (ExecProbeTimeout, GA)."""
    argv = static_command(list(action.get("command") or []), container)
    try:
        code, out = await run_exec(exec_sync, container_id, argv, timeout)
    except TimeoutError:
        # remote_runtime.go ExecSync: command %q timed out; the timeout text is the output
        return Outcome(PROBE_FAILURE, f'command "{" ".join(argv)}" timed out')
    except Exception as e:  # the runtime could not exec: the prober errored
        return Outcome(PROBE_UNKNOWN, "", str(e) or type(e).__name__)
    text = out[:MAX_OUTPUT].decode("utf-8", "replace")
    return Outcome(PROBE_SUCCESS if code == 0 else PROBE_FAILURE, text)


async def run_probe(probe: Mapping[str, Any], *, container_spec: Mapping[str, Any],
                    container_id: str, pod_ip: str, timeout: float, exec_sync: ExecSync,
                    session: ProbeSession) -> Outcome:
    """prober.go runProbe: dispatch on the probe's handler."""
    if probe.get("exec") is not None:
        return await probe_exec(probe["exec"], container_spec, container_id, timeout, exec_sync)
    if probe.get("httpGet") is not None:
        return await probe_http(probe["httpGet"], container_spec, pod_ip, timeout, session)
    if probe.get("tcpSocket") is not None:
        return await probe_tcp(probe["tcpSocket"], container_spec, pod_ip, timeout)
    if probe.get("grpc") is not None:
        # prober.go: the pod IP, the probe's port and service ("" when unset)
        action = probe["grpc"]
        ok, text = await grpcprobe.probe(pod_ip, int(action.get("port") or 0), action.get("service") or "",
                                         timeout)
        return Outcome(PROBE_SUCCESS if ok else PROBE_FAILURE, text)
    return Outcome(PROBE_UNKNOWN, "", f"missing probe handler for container "
                                      f"{container_spec.get('name')}")
