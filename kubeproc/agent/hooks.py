"""Container lifecycle handlers (postStart / preStop): exec, httpGet and sleep.

Ports pkg/kubelet/lifecycle/handlers.go (handlerRunner.Run, runHTTPHandler with its HTTPS→HTTP
fallback, runSleepHandler) and the event texts kuberuntime_container.go records when a hook
fails. `run_handler` returns the kubelet's error message, or None when the handler succeeded.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Mapping

from kubeproc.agent.probeactions import (ActionError, ExecSync, ProbeSession, http_get,
                                         http_request, is_http_response_to_https, run_exec)

# kuberuntime_container.go: the events carry no handler output, so secrets cannot leak
FAILED_POST_START_HOOK, POST_START_FAILED = "FailedPostStartHook", "PostStartHook failed"
FAILED_PRE_STOP_HOOK, PRE_STOP_FAILED = "FailedPreStopHook", "PreStopHook failed"
LIFECYCLE_HTTP_FALLBACK = "LifecycleHTTPFallback"

OnPodEvent = Callable[[str, str], Any]  # reason, message (a Warning event on the pod)


def format_pod(pod: Mapping[str, Any] | None) -> str:
    """pkg/kubelet/util/format.Pod: name_namespace(uid)."""
    meta = (pod or {}).get("metadata") or {}
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})"


def _go_list(argv: list[Any]) -> str:
    """fmt %v of a []string."""
    return "[" + " ".join(str(a) for a in argv) + "]"


async def _exec(handler: Mapping[str, Any], exec_sync: ExecSync, container_id: str,
                timeout: float | None) -> tuple[str | None, str]:
    """RunInContainer: (error text or None, combined output)."""
    argv = [str(a) for a in handler.get("command") or []]
    try:
        code, out = await run_exec(exec_sync, container_id, argv, timeout)
    except TimeoutError:
        return f'command "{" ".join(argv)}" timed out', ""
    except Exception as e:
        return str(e) or type(e).__name__, ""
    text = out.decode("utf-8", "replace")
    if code != 0:
        # remote_runtime.go ExecSync's CodeExitError (its stderr part: the combined output here)
        return f"command '{' '.join(argv)}' exited with {code}: {text}", text
    return None, text


async def _http(handler: Mapping[str, Any], container_spec: Mapping[str, Any], pod_ip: str,
                timeout: float | None, session: ProbeSession,
                on_pod_event: OnPodEvent | None) -> str | None:
    """runHTTPHandler: only transport errors fail (any status code is accepted)."""
    url, headers, skip = http_request(handler, container_spec, pod_ip, "lifecycle")
    try:
        await http_get(session, url, headers, skip, timeout)
        return None
    except ActionError as e:
        if not (url.startswith("https://") and is_http_response_to_https(str(e))):
            return str(e)
        err = str(e)
    # an HTTPS hook answered in plain HTTP: retry in HTTP without Authorization
    plain = "http://" + url[len("https://"):]
    headers.popall("Authorization", None)
    try:
        await http_get(session, plain, headers, skip, timeout)
    except ActionError:
        return err
    if on_pod_event is not None:
        host = plain.split("/")[2]
        on_pod_event(LIFECYCLE_HTTP_FALLBACK,
                     f"request to HTTPS lifecycle hook {host} got HTTP response, retry with HTTP succeeded")
    return None


async def _sleep(seconds: int, timeout: float | None) -> str | None:
    """runSleepHandler: the sleep ends early (an error) when the hook's time runs out."""
    if timeout is not None and timeout < seconds:
        await asyncio.sleep(max(0.0, timeout))
        return "container terminated before sleep hook finished"
    await asyncio.sleep(seconds)
    return None


async def run_handler(handler: Mapping[str, Any], *, exec_sync: ExecSync, container_id: str,
                      pod: Mapping[str, Any] | None, pod_ip: str,
                      container_spec: Mapping[str, Any], timeout: float | None,
                      session: ProbeSession | None = None,
                      on_pod_event: OnPodEvent | None = None) -> str | None:
    """handlers.go handlerRunner.Run: run one LifecycleHandler; None on success, else the
    kubelet's message (logged; the event itself says POST_START_FAILED / PRE_STOP_FAILED).

    timeout bounds the whole handler (None: unbounded, as postStart upstream); for preStop pass
    the remaining grace period. `session` may be shared with the probes (else one per call)."""
    name, pod_text = container_spec.get("name"), format_pod(pod)
    if handler.get("exec") is not None:
        command = list(handler["exec"].get("command") or [])
        err, out = await _exec(handler["exec"], exec_sync, container_id, timeout)
        if err is None:
            return None
        return (f"Exec lifecycle hook ({_go_list(command)}) for Container \"{name}\" in Pod "
                f"\"{pod_text}\" failed - error: {err}, message: \"{_go_quote(out)}\"")
    if handler.get("httpGet") is not None:
        own = session is None
        sess = session or ProbeSession()
        try:
            err = await _http(handler["httpGet"], container_spec, pod_ip, timeout, sess, on_pod_event)
        except ActionError as e:  # the port did not resolve
            err = str(e)
        finally:
            if own:
                await sess.close()
        if err is None:
            return None
        return (f"HTTP lifecycle hook ({handler['httpGet'].get('path', '')}) for Container "
                f"\"{name}\" in Pod \"{pod_text}\" failed - error: {err}")
    if handler.get("sleep") is not None:
        seconds = int(handler["sleep"].get("seconds") or 0)
        err = await _sleep(seconds, timeout)
        if err is None:
            return None
        return (f"Sleep lifecycle hook ({seconds}) for Container \"{name}\" in Pod "
                f"\"{pod_text}\" failed - error: {err}")
    return f"Cannot run handler: invalid handler: {dict(handler)}"


def _go_quote(text: str) -> str:
    """The inside of Go's %q (enough for command output: escapes, quotes, newlines)."""
    return (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            .replace("\r", "\\r").replace("\t", "\\t"))
