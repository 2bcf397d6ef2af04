"""Pure probe rules: timing defaults, the worker's gate/threshold state machine, ticks, event
texts, port resolution and the probe request (kubeproc.agent.probes / probeactions)."""

from __future__ import annotations

from typing import Any

import pytest

from kubeproc.agent.probeactions import (WARNING, ActionError, Outcome, http_request,
                                         join_host_port, resolve_port, static_command)
from kubeproc.agent.probes import (LIVENESS, PROBE, READINESS, SKIP, STARTUP, STOP, ProbeState,
                                   Timing, event_for, gate, initial_state, next_tick, record)

F, S, U = "failure", "success", "unknown"


@pytest.mark.parametrize("probe,want", [
    ({}, Timing(0, 10, 1, 1, 3)),
    ({"initialDelaySeconds": 5, "periodSeconds": 2, "timeoutSeconds": 3, "successThreshold": 2,
      "failureThreshold": 1}, Timing(5, 2, 3, 2, 1)),
    ({"periodSeconds": 0, "failureThreshold": 0}, Timing(0, 10, 1, 1, 3)),
], ids=["api-defaults", "explicit", "zero-means-default"])
def test_timing_of(probe: dict[str, Any], want: Timing) -> None:
    assert Timing.of(probe) == want


@pytest.mark.parametrize("kind,result", [(READINESS, F), (LIVENESS, S), (STARTUP, U)],
                         ids=["readiness-starts-failure", "liveness-starts-success", "startup-starts-unknown"])
def test_initial_values(kind: str, result: str) -> None:
    assert initial_state(kind).result == result


@pytest.mark.parametrize("kind,kw,timing,want_decision,want_result", [
    (READINESS, dict(elapsed=0, started=True, deleting=False), Timing(), PROBE, F),
    (READINESS, dict(elapsed=4.9, started=True, deleting=False), Timing(initial_delay=5), SKIP, F),
    (READINESS, dict(elapsed=5.0, started=True, deleting=False), Timing(initial_delay=5), PROBE, F),
    (READINESS, dict(elapsed=100, started=False, deleting=False), Timing(), SKIP, F),
    (LIVENESS, dict(elapsed=100, started=False, deleting=False), Timing(), SKIP, S),
    (STARTUP, dict(elapsed=100, started=False, deleting=False), Timing(), PROBE, U),
    (STARTUP, dict(elapsed=100, started=True, deleting=False), Timing(), SKIP, U),
    (LIVENESS, dict(elapsed=100, started=True, deleting=True), Timing(), STOP, S),
    (STARTUP, dict(elapsed=0, started=False, deleting=True), Timing(), STOP, S),
    (READINESS, dict(elapsed=100, started=True, deleting=True), Timing(), PROBE, F),
], ids=["probe-now", "initial-delay-truncates", "initial-delay-reached", "readiness-waits-startup",
        "liveness-waits-startup", "startup-probes-until-started", "startup-stops-once-started",
        "deleting-liveness-success-stop", "deleting-startup-success-stop",
        "deleting-readiness-keeps-probing"])
def test_gate(kind: str, kw: dict[str, Any], timing: Timing, want_decision: str,
              want_result: str) -> None:
    state, decision = gate(initial_state(kind), timing, **kw)
    assert (decision, state.result) == (want_decision, want_result)


def test_gate_on_hold_skips_and_done_stops() -> None:
    held = ProbeState(kind=LIVENESS, result=F, on_hold=True)
    assert gate(held, Timing(), elapsed=99, started=True, deleting=True)[1] == SKIP
    done = ProbeState(kind=READINESS, result=F, done=True)
    assert gate(done, Timing(), elapsed=99, started=True, deleting=False)[1] == STOP


def run(kind: str, timing: Timing, raws: list[str]) -> tuple[list[str | None], ProbeState]:
    """Feed raw probe results; return what each step published (None: unchanged)."""
    state, published = initial_state(kind), []
    for raw in raws:
        state, changed = record(state, timing, raw)
        published.append(changed)
    return published, state


@pytest.mark.parametrize("kind,timing,raws,want", [
    (READINESS, Timing(), [S], [S]),
    (READINESS, Timing(success_threshold=2), [S, S], [None, S]),
    (READINESS, Timing(success_threshold=2), [S, F, S, S], [None, None, None, S]),
    (READINESS, Timing(failure_threshold=3), [S, F, F, F], [S, None, None, F]),
    (READINESS, Timing(failure_threshold=3), [S, F, F, S, F, F], [S, None, None, None, None, None]),
    (READINESS, Timing(failure_threshold=1), [S, F, S], [S, F, S]),
    (READINESS, Timing(), [F, F, F], [None, None, None]),
    (LIVENESS, Timing(), [S, S], [None, None]),
    (LIVENESS, Timing(failure_threshold=2), [F, F], [None, F]),
    (STARTUP, Timing(failure_threshold=2), [F, S], [None, S]),
    (STARTUP, Timing(failure_threshold=2), [F, F], [None, F]),
], ids=["readiness-success-threshold-1", "success-threshold-2", "success-run-must-be-consecutive",
        "failure-after-threshold", "failures-must-be-consecutive", "threshold-1-flips-each-time",
        "readiness-already-failure-no-change", "liveness-already-success-no-change",
        "liveness-fails-at-threshold", "startup-success-after-failure", "startup-fails-at-threshold"])
def test_record_thresholds(kind: str, timing: Timing, raws: list[str], want: list[str | None]) -> None:
    assert run(kind, timing, raws)[0] == want


@pytest.mark.parametrize("kind,timing,raws,on_hold", [
    (LIVENESS, Timing(failure_threshold=1), [F], True),
    (LIVENESS, Timing(failure_threshold=2), [F], False),
    (STARTUP, Timing(), [S], True),
    (STARTUP, Timing(failure_threshold=1), [F], True),
    (READINESS, Timing(failure_threshold=1), [S, F], False),
], ids=["liveness-failure-holds", "liveness-below-threshold-runs", "startup-success-holds",
        "startup-failure-holds", "readiness-never-holds"])
def test_on_hold(kind: str, timing: Timing, raws: list[str], on_hold: bool) -> None:
    _, state = run(kind, timing, raws)
    assert state.on_hold is on_hold
    if on_hold:
        assert state.run == 0  # worker.go resets resultRun when it holds


@pytest.mark.parametrize("origin,period,now,want", [
    (0.0, 10.0, 0.0, 10.0), (0.0, 10.0, 9.99, 10.0), (0.0, 10.0, 10.0, 20.0),
    (0.0, 10.0, 35.0, 40.0), (5.0, 1.0, 5.5, 6.0),
], ids=["first-tick", "just-before", "on-tick-is-next", "missed-ticks-dropped", "offset-origin"])
def test_next_tick(origin: float, period: float, now: float, want: float) -> None:
    assert next_tick(origin, period, now) == pytest.approx(want)


@pytest.mark.parametrize("kind,outcome,want", [
    (READINESS, Outcome(F, "HTTP probe failed with statuscode: 500"),
     ("Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 500")),
    (LIVENESS, Outcome(U, "", 'strconv.Atoi: parsing "http": invalid syntax'),
     ("Unhealthy", 'Liveness probe errored and resulted in unknown state: strconv.Atoi: parsing "http": invalid syntax')),
    (STARTUP, Outcome(WARNING, "Probe terminated redirects, Response body: x"),
     ("ProbeWarning", "Startup probe warning: Probe terminated redirects, Response body: x")),
    (READINESS, Outcome(S, "ok"), None),
], ids=["failure-unhealthy", "error-unknown-state", "redirect-warning", "success-no-event"])
def test_event_for(kind: str, outcome: Outcome, want: tuple[str, str] | None) -> None:
    assert event_for(kind, outcome) == want


CONTAINER = {"name": "c", "ports": [{"name": "http", "containerPort": 8080},
                                    {"name": "http", "containerPort": 9090}]}


@pytest.mark.parametrize("param,want", [
    (80, 80), ("http", 8080), ("8081", 8081),
], ids=["number", "name-first-match", "number-as-string"])
def test_resolve_port(param: Any, want: int) -> None:
    assert resolve_port(param, CONTAINER) == want


@pytest.mark.parametrize("param,message", [
    ("web", 'strconv.Atoi: parsing "web": invalid syntax'),
    (0, "invalid port number: 0"), (70000, "invalid port number: 70000"),
    ("-1", "invalid port number: -1"),
], ids=["unknown-name", "zero", "too-large", "negative-string"])
def test_resolve_port_errors(param: Any, message: str) -> None:
    with pytest.raises(ActionError) as exc:
        resolve_port(param, CONTAINER)
    assert str(exc.value) == message


@pytest.mark.parametrize("action,want_url,want_headers", [
    ({"port": 8080, "path": "/healthz"}, "http://10.0.0.5:8080/healthz",
     {"User-Agent": "kube-probe/1.33", "Accept": "*/*"}),
    ({"port": "http", "path": "ready?x=1", "scheme": "HTTPS", "host": "example.test"},
     "https://example.test:8080/ready?x=1", {"User-Agent": "kube-probe/1.33", "Accept": "*/*"}),
    ({"port": 80, "httpHeaders": [{"name": "user-agent", "value": "me"},
                                  {"name": "x-custom", "value": "a"}, {"name": "X-Custom", "value": "b"}]},
     "http://10.0.0.5:80", {"User-Agent": "me", "X-Custom": "a", "Accept": "*/*"}),
    ({"port": 80, "httpHeaders": [{"name": "Accept", "value": ""}]}, "http://10.0.0.5:80",
     {"User-Agent": "kube-probe/1.33"}),
], ids=["defaults-pod-ip", "named-port-https-host-relative-path", "user-agent-override-multi-values",
        "empty-accept-removed"])
def test_http_request(action: dict[str, Any], want_url: str, want_headers: dict[str, str]) -> None:
    url, headers, _ = http_request(action, CONTAINER, "10.0.0.5", "probe")
    assert url == want_url
    assert {k: headers[k] for k in headers} == want_headers
    if "httpHeaders" in action and len(action["httpHeaders"]) == 3:
        assert headers.getall("X-Custom") == ["a", "b"]


def test_http_request_lifecycle_agent_and_ipv6() -> None:
    url, headers, _ = http_request({"port": 80}, CONTAINER, "fd00::5", "lifecycle")
    assert (url, headers["User-Agent"]) == ("http://[fd00::5]:80", "kube-lifecycle/1.33")
    assert join_host_port("1.2.3.4", 1) == "1.2.3.4:1"


@pytest.mark.parametrize("env,command,want", [
    ([{"name": "A", "value": "x"}], ["echo", "$(A)", "$$(A)"], ["echo", "x", "$(A)"]),
    ([{"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}], ["$(B)"], [""]),
    ([], ["$(C)"], ["$(C)"]),
], ids=["static-value", "value-from-is-empty", "unknown-kept"])
def test_static_command(env: list[dict[str, Any]], command: list[str], want: list[str]) -> None:
    assert static_command(command, {"env": env}) == want
