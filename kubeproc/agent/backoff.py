"""Container restart back-off: the kubelet's CrashLoopBackOff timing, as pure values.

Ports k8s.io/client-go/util/flowcontrol/backoff.go (Backoff.Next, IsInBackOffSince, GC,
hasExpired) as the kubelet configures it in pkg/kubelet/kubelet.go (10 s initial, doubling,
5 min max, no jitter). State is an immutable mapping key -> entry that the pod worker keeps
between plans; nothing here reads a clock.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class BackoffConfig:
    """pkg/kubelet/kubelet.go: backOffPeriod 10 s, MaxContainerBackOff 300 s (tests shorten)."""

    initial: float = 10.0
    maximum: float = 300.0


@dataclass(frozen=True)
class BackoffEntry:
    backoff: float  # seconds to wait after the container's last exit
    last_update: _dt.datetime  # when the last restart was allowed (flowcontrol lastUpdate)


@dataclass(frozen=True)
class BackoffState:
    """Per-container back-off entries of one pod, keyed by container name."""

    entries: Mapping[str, BackoffEntry] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, key: str) -> BackoffEntry | None:
        return self.entries.get(key)

    def with_entry(self, key: str, entry: BackoffEntry) -> BackoffState:
        return BackoffState(MappingProxyType({**self.entries, key: entry}))


def _expired(event_time: _dt.datetime, last_update: _dt.datetime, cfg: BackoffConfig) -> bool:
    # flowcontrol hasExpired: stable after twice the maximum (10 min) without a restart
    return (event_time - last_update).total_seconds() > 2 * cfg.maximum


def in_backoff(state: BackoffState, key: str, event_time: _dt.datetime, now: _dt.datetime,
               cfg: BackoffConfig) -> bool:
    """flowcontrol IsInBackOffSince: `event_time` is the finish time of the latest exit."""
    entry = state.get(key)
    if entry is None or _expired(event_time, entry.last_update, cfg):
        return False
    return (now - event_time).total_seconds() < entry.backoff


def next_backoff(state: BackoffState, key: str, event_time: _dt.datetime, now: _dt.datetime,
                 cfg: BackoffConfig) -> BackoffState:
    """flowcontrol Next: the first restart (or one after a stable spell) waits `initial`; then
    each doubles up to `maximum`."""
    entry = state.get(key)
    if entry is None or _expired(event_time, entry.last_update, cfg):
        delay = cfg.initial
    else:
        delay = min(entry.backoff * 2, cfg.maximum)
    return state.with_entry(key, BackoffEntry(delay, now))


def release_at(state: BackoffState, key: str, event_time: _dt.datetime) -> _dt.datetime | None:
    """When a container that exited at `event_time` may be restarted (None: no entry)."""
    entry = state.get(key)
    return None if entry is None else event_time + _dt.timedelta(seconds=entry.backoff)


def gc(state: BackoffState, now: _dt.datetime, cfg: BackoffConfig) -> BackoffState:
    """flowcontrol GC: forget entries not updated for twice the maximum."""
    kept = {k: e for k, e in state.entries.items() if not _expired(now, e.last_update, cfg)}
    return state if len(kept) == len(state.entries) else BackoffState(MappingProxyType(kept))


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String for the whole/fractional seconds back-off values use."""
    if seconds == 0:
        return "0s"
    total_ms = round(seconds * 1000)
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, ms = divmod(rest, 60_000)
    secs = f"{ms // 1000}" if ms % 1000 == 0 else f"{ms / 1000:.3f}".rstrip("0").rstrip(".")
    if total_ms < 1000:
        return f"{total_ms}ms"
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def crashloop_message(backoff: float, container: str, pod_name: str, namespace: str,
                      uid: str) -> str:
    """kuberuntime_manager.go doBackOff's message (format.Pod prints name_namespace(uid))."""
    return (f"back-off {go_duration(backoff)} restarting failed container={container} "
            f"pod={pod_name}_{namespace}({uid})")
