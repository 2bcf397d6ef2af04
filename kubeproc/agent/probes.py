"""Container probes: the timing rules, the probe actions and the asyncio worker per probe.

Ports pkg/kubelet/prober/worker.go (initial values, thresholds, initial delay, startup gating,
on-hold), prober.go (result → event message), prober_manager.go (manual readiness trigger,
StopLivenessAndStartup) and the pkg/probe exec/http/tcp semantics. The timing rules (`gate`,
`record`, `next_tick`) are pure; `ProbeManager` runs one task per (container instance, probe
type) and publishes `podstatus.Probes` per container id. Actions live in probeactions.py.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import inspect
import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from kubeproc.agent.podstatus import PROBE_FAILURE, PROBE_SUCCESS, PROBE_UNKNOWN, Probes
from kubeproc.agent.probeactions import WARNING, ExecSync, Outcome, ProbeSession, run_probe

READINESS, LIVENESS, STARTUP = "readiness", "liveness", "startup"
KINDS = (STARTUP, READINESS, LIVENESS)
SPEC_FIELD = {READINESS: "readinessProbe", LIVENESS: "livenessProbe", STARTUP: "startupProbe"}
LABEL = {READINESS: "Readiness", LIVENESS: "Liveness", STARTUP: "Startup"}  # probeType.String()
# worker.go newWorker: the value published until the thresholds decide
INITIAL = {READINESS: PROBE_FAILURE, LIVENESS: PROBE_SUCCESS, STARTUP: PROBE_UNKNOWN}
PROBE, SKIP, STOP = "probe", "skip", "stop"
UNHEALTHY, PROBE_WARNING = "Unhealthy", "ProbeWarning"  # pkg/kubelet/events

log = logging.getLogger(__name__)

OnChange = Callable[[str], Any]  # pod uid; may return an awaitable
OnEvent = Callable[[str, str, str, str], Any]  # pod uid, container name, reason, message


@dataclass(frozen=True)
class Timing:
    """A probe's numbers, API defaults applied (pkg/apis/core/v1/defaults.go SetDefaults_Probe)."""

    initial_delay: int = 0
    period: int = 10
    timeout: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def of(cls, probe: Mapping[str, Any]) -> "Timing":
        def num(key: str, default: int) -> int:
            value = probe.get(key)
            return default if not value else int(value)  # 0/absent → default, as the defaulter

        return cls(initial_delay=int(probe.get("initialDelaySeconds") or 0),
                   period=num("periodSeconds", 10), timeout=num("timeoutSeconds", 1),
                   success_threshold=num("successThreshold", 1),
                   failure_threshold=num("failureThreshold", 3))


@dataclass(frozen=True)
class ProbeState:
    """One worker's memory: the published result, the current run of equal raw results."""

    kind: str
    result: str
    last: str = ""  # last raw probe result ("" = none yet)
    run: int = 0  # how many times in a row `last` came back
    on_hold: bool = False  # worker.go onHold: no probing until a new container instance
    done: bool = False  # the worker exits


def initial_state(kind: str) -> ProbeState:
    return ProbeState(kind=kind, result=INITIAL[kind])


def gate(state: ProbeState, timing: Timing, *, elapsed: float, started: bool,
         deleting: bool) -> tuple[ProbeState, str]:
    """worker.go doProbe before probing: PROBE, SKIP (wait for the next tick) or STOP.

    `elapsed` is seconds since the container started; `started` is the container's Started
    (no startup probe, or it succeeded); `deleting` is the pod's deletionTimestamp being set.
    """
    if state.done:
        return state, STOP
    if state.on_hold:
        return state, SKIP
    # worker.go: graceful shutdown sets liveness/startup to success and stops them; readiness
    # keeps probing a terminating pod.
    if deleting and state.kind in (LIVENESS, STARTUP):
        return replace(state, result=PROBE_SUCCESS, done=True), STOP
    # worker.go: int32(time.Since(startedAt).Seconds()) < InitialDelaySeconds (truncated).
    if int(elapsed) < timing.initial_delay:
        return state, SKIP
    if started == (state.kind == STARTUP):  # startup stops once started; others wait for it
        return state, SKIP
    return state, PROBE


def record(state: ProbeState, timing: Timing, raw: str) -> tuple[ProbeState, str | None]:
    """worker.go doProbe after probing: the thresholds. Returns the new state and the newly
    published result when it differs from the previous one (results manager notifies on change)."""
    run = state.run + 1 if state.last == raw else 1
    state = replace(state, last=raw, run=run)
    if ((raw == PROBE_FAILURE and run < timing.failure_threshold)
            or (raw == PROBE_SUCCESS and run < timing.success_threshold)):
        return state, None  # below threshold: leave the published result unchanged
    changed = raw if raw != state.result else None
    state = replace(state, result=raw)
    # worker.go: a liveness failure, or any decided startup result, holds the worker until the
    # container is replaced (which here means a new ProbeManager.start for the new instance).
    if (state.kind == LIVENESS and raw == PROBE_FAILURE) or state.kind == STARTUP:
        state = replace(state, on_hold=True, run=0)
    return state, changed


def next_tick(origin: float, period: float, now: float) -> float:
    """time.Ticker: the first tick origin + k*period strictly after now (missed ticks dropped)."""
    if period <= 0:
        return now
    return origin + (math.floor((now - origin) / period) + 1) * period


def event_for(kind: str, outcome: Outcome) -> tuple[str, str] | None:
    """prober.go probe: the (reason, message) of the Warning event a probe outcome records."""
    label = LABEL[kind]
    if outcome.error is not None:
        return UNHEALTHY, f"{label} probe errored and resulted in {outcome.result} state: {outcome.error}"
    if outcome.result == PROBE_FAILURE:
        return UNHEALTHY, f"{label} probe failed: {outcome.output}"
    if outcome.result == WARNING:
        return PROBE_WARNING, f"{label} probe warning: {outcome.output}"
    return None


@dataclass
class _Worker:
    kind: str
    probe: Mapping[str, Any]
    timing: Timing
    state: ProbeState
    trigger: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


@dataclass
class _Container:
    pod_uid: str
    name: str
    spec: Mapping[str, Any]
    pod_ip: str
    origin: float  # clock() value at which the container started
    deleting: bool
    workers: dict[str, _Worker] = field(default_factory=dict)
    published: Probes = field(default_factory=Probes)


class ProbeManager:
    """Runs the probes of running container instances and keeps their latest results.

    `exec_sync(container_id, argv, timeout)` runs a command in the container and returns
    (exit code, combined output); it raises TimeoutError when the command outlives the timeout
    and any other exception when the runtime could not run it. `on_change(pod_uid)` is called
    whenever a published result flips; `on_event(pod_uid, container, reason, message)` for the
    kubelet's Unhealthy / ProbeWarning Warning events. `time_scale` multiplies every duration
    (delay, period, timeout): 1.0 in production, smaller only in tests.
    """

    def __init__(self, exec_sync: ExecSync, on_change: OnChange, on_event: OnEvent | None = None,
                 *, time_scale: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self._exec_sync = exec_sync
        self._on_change = on_change
        self._on_event = on_event
        self._scale = time_scale
        self._clock = clock
        self._wall = wall
        self._containers: dict[str, _Container] = {}
        self._session = ProbeSession()
        self._bg: set[asyncio.Task[Any]] = set()

    def start(self, pod: Mapping[str, Any], container_spec: Mapping[str, Any], container_id: str,
              pod_ip: str, started_at: _dt.datetime | float | None) -> None:
        """prober_manager.go AddPod for one running container instance (idempotent per id).

        Call it for regular and restartable init (sidecar) containers once they run; the probes
        are read from container_spec. Must be called from the event loop."""
        if container_id in self._containers:
            return
        meta = pod.get("metadata") or {}
        since = 0.0
        if isinstance(started_at, _dt.datetime):
            since = max(0.0, self._wall() - started_at.timestamp())
        elif started_at is not None:
            since = max(0.0, self._wall() - float(started_at))
        c = _Container(pod_uid=str(meta.get("uid") or ""), name=str(container_spec.get("name")),
                       spec=container_spec, pod_ip=pod_ip, origin=self._clock() - since * self._scale,
                       deleting=bool(meta.get("deletionTimestamp")))
        self._containers[container_id] = c
        for kind in KINDS:
            probe = container_spec.get(SPEC_FIELD[kind])
            if probe:
                c.workers[kind] = _Worker(kind, probe, Timing.of(probe), initial_state(kind))
        c.published = self._compute(c)  # initial values: the caller syncs after starting anyway
        for w in c.workers.values():
            w.task = asyncio.get_running_loop().create_task(self._run(container_id, c, w),
                                                            name=f"probe {container_id} {w.kind}")

    def stop(self, container_id: str) -> None:
        """The container instance exited or was removed: stop its workers, drop its results."""
        c = self._containers.pop(container_id, None)
        if c is not None:
            for w in c.workers.values():
                if w.task is not None:
                    w.task.cancel()

    def stop_liveness_and_startup(self, pod_uid: str) -> None:
        """prober_manager.go StopLivenessAndStartup (the pod is terminating): those workers stop
        and read as success, so no probe kills a terminating container; readiness goes on."""
        for c in self._containers.values():
            if c.pod_uid != pod_uid:
                continue
            c.deleting = True
            for kind in (LIVENESS, STARTUP):
                w = c.workers.get(kind)
                if w is not None and not w.state.done:
                    if w.task is not None:
                        w.task.cancel()
                    w.state = replace(w.state, result=PROBE_SUCCESS, done=True)
            self._publish(c)

    def trigger_readiness(self, container_id: str) -> None:
        """prober_manager.go UpdatePodStatus: probe readiness now (started but not ready)."""
        c = self._containers.get(container_id)
        w = c.workers.get(READINESS) if c else None
        if w is not None:
            w.trigger.set()

    def results(self, container_id: str) -> Probes:
        c = self._containers.get(container_id)
        return c.published if c is not None else Probes()

    def container_ids(self) -> list[str]:
        return list(self._containers)

    async def stop_all(self) -> None:
        tasks = [w.task for c in self._containers.values() for w in c.workers.values() if w.task]
        for cid in list(self._containers):
            self.stop(cid)
        for t in list(self._bg):
            t.cancel()
        await asyncio.gather(*tasks, *self._bg, return_exceptions=True)
        await self._session.close()

    # -- the worker loop ---------------------------------------------------------------------

    async def _run(self, cid: str, c: _Container, w: _Worker) -> None:
        """worker.go run: probe, then wait for the next tick or a manual trigger."""
        period = w.timing.period * self._scale
        origin = self._clock()
        while await self._guarded(cid, c, w):
            now = self._clock()
            try:
                await asyncio.wait_for(w.trigger.wait(), max(0.0, next_tick(origin, period, now) - now))
            except TimeoutError:
                continue
            w.trigger.clear()
            origin = self._clock()  # worker.go: a manual run resets the ticker

    async def _guarded(self, cid: str, c: _Container, w: _Worker) -> bool:
        """worker.go doProbe's HandleCrash: a crashing probe round keeps the worker going."""
        try:
            return await self._do_probe(cid, c, w)
        except Exception:
            log.exception("%s probe of container %s crashed", LABEL[w.kind], cid)
            return True

    async def _do_probe(self, cid: str, c: _Container, w: _Worker) -> bool:
        started = self._started(c)
        elapsed = (self._clock() - c.origin) / self._scale
        w.state, decision = gate(w.state, w.timing, elapsed=elapsed, started=started,
                                 deleting=c.deleting)
        if decision != PROBE:
            self._publish(c)
            return decision == SKIP
        outcome = await run_probe(w.probe, container_spec=c.spec, container_id=cid, pod_ip=c.pod_ip,
                                  timeout=w.timing.timeout * self._scale,
                                  exec_sync=self._exec_sync, session=self._session)
        if self._containers.get(cid) is not c:
            return False  # stopped while probing: drop the result
        ev = event_for(w.kind, outcome)
        if ev is not None and self._on_event is not None:
            self._call(self._on_event, c.pod_uid, c.name, ev[0], ev[1])
        if outcome.error is not None:
            return True  # worker.go: a prober error throws the result away
        raw = PROBE_SUCCESS if outcome.result in (PROBE_SUCCESS, WARNING) else PROBE_FAILURE
        w.state, changed = record(w.state, w.timing, raw)
        self._publish(c)
        if changed == PROBE_SUCCESS and w.kind == STARTUP:
            self.trigger_readiness(cid)  # UpdatePodStatus triggers readiness once started
        return True

    @staticmethod
    def _started(c: _Container) -> bool:
        w = c.workers.get(STARTUP)
        return w is None or w.state.result == PROBE_SUCCESS

    @staticmethod
    def _compute(c: _Container) -> Probes:
        got = {k: w.state.result for k, w in c.workers.items()}
        return Probes(readiness=got.get(READINESS, PROBE_UNKNOWN),
                      liveness=got.get(LIVENESS, PROBE_UNKNOWN), startup=got.get(STARTUP, PROBE_UNKNOWN))

    def _publish(self, c: _Container) -> None:
        now = self._compute(c)
        if now != c.published:
            c.published = now
            self._call(self._on_change, c.pod_uid)

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        out = fn(*args)
        if inspect.isawaitable(out):
            task = asyncio.ensure_future(out)
            self._bg.add(task)
            task.add_done_callback(self._bg.discard)


