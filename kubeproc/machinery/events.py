"""Recording core/v1 Events the way client-go's tools/record package does.

`EventRecorder.event(obj, type, reason, message)` builds the Event (record/event.go makeEvent),
runs it through an `EventCorrelator` (record/events_cache.go: similar-message aggregation, then
deduplication into `count`/`lastTimestamp` patches of the existing Event, then the per-object
spam filter) and writes it. Failures are logged, never raised: events are best effort.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from kubeproc.api import errors, resources
from kubeproc.client.local import LocalClient

log = logging.getLogger(__name__)
_EVENTS = resources.by_kind("", "Event")

NORMAL = "Normal"
WARNING = "Warning"

# record/events_cache.go defaults.
LRU_SIZE = 4096
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL_SECONDS = 600
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300.0
WRITE_TIMEOUT = 5.0  # a write that takes longer is abandoned (the caller must not stall)

_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def event_name(ref_name: str, unix_nanos: int) -> str:
    """record/util.GenerateEventName: `<name>.<hex nanos>`, a UUID when that is no valid name."""
    name = f"{ref_name}.{unix_nanos:x}"
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(name):
        return str(uuid.uuid4())
    return name


def _rfc3339(unix_nanos: int) -> str:
    t = datetime.fromtimestamp(unix_nanos / 1e9, tz=timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def object_reference(obj: Mapping[str, Any], field_path: str = "") -> dict[str, Any]:
    """reference.GetReference: an ObjectReference of `obj` (or `obj` itself if it is one)."""
    if "metadata" not in obj:  # already a reference
        ref = {k: v for k, v in obj.items() if v not in (None, "")}
    else:
        meta = obj.get("metadata") or {}
        ref = {"kind": obj.get("kind", ""), "namespace": meta.get("namespace", ""),
               "name": meta.get("name", ""), "uid": meta.get("uid", ""),
               "apiVersion": obj.get("apiVersion", ""),
               "resourceVersion": meta.get("resourceVersion", "")}
        ref = {k: v for k, v in ref.items() if v}  # ObjectReference fields are omitempty
    if field_path:
        ref["fieldPath"] = field_path
    return ref


def _ref_part(ev: Mapping[str, Any], key: str) -> str:
    return str((ev.get("involvedObject") or {}).get(key, ""))


def _source(ev: Mapping[str, Any], key: str) -> str:
    return str((ev.get("source") or {}).get(key, ""))


def event_key(ev: Mapping[str, Any]) -> str:
    # events_cache.go getEventKey (joined without a separator, as upstream)
    return "".join([_source(ev, "component"), _source(ev, "host"), _ref_part(ev, "kind"),
                    _ref_part(ev, "namespace"), _ref_part(ev, "name"),
                    _ref_part(ev, "fieldPath"), _ref_part(ev, "uid"),
                    _ref_part(ev, "apiVersion"), ev.get("type", ""), ev.get("reason", ""),
                    ev.get("message", "")])


def _spam_key(ev: Mapping[str, Any]) -> str:
    # events_cache.go getSpamKey: one budget per source, object and event type
    return "".join([_source(ev, "component"), _source(ev, "host"), _ref_part(ev, "kind"),
                    _ref_part(ev, "namespace"), _ref_part(ev, "name"), _ref_part(ev, "uid"),
                    _ref_part(ev, "apiVersion"), ev.get("type", "")])


def _aggregate_keys(ev: Mapping[str, Any]) -> tuple[str, str]:
    # events_cache.go EventAggregatorByReasonFunc: similar = same everything but the message
    return "".join([_source(ev, "component"), _source(ev, "host"), _ref_part(ev, "kind"),
                    _ref_part(ev, "namespace"), _ref_part(ev, "name"), _ref_part(ev, "uid"),
                    _ref_part(ev, "apiVersion"), ev.get("type", ""), ev.get("reason", ""),
                    ev.get("reportingComponent", ""), ev.get("reportingInstance", "")]), \
        ev.get("message", "")


class _LRU(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)

    def fetch(self, key: str) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        return None


class EventCorrelator:
    """events_cache.go EventCorrelator: pure bookkeeping, no I/O; `now` is unix nanoseconds.

    `correlate(event)` returns (event to write, is_update) or None when the spam filter drops
    it; is_update means "patch count/lastTimestamp/message of the Event named event's name".
    `update_state(stored)` records what the server stored (name, count, first timestamp).
    """

    def __init__(self, now: Callable[[], int] = time.time_ns, size: int = LRU_SIZE) -> None:
        self.now = now
        self._spam: _LRU = _LRU(size)  # spam key -> [tokens, last refill nanos]
        self._aggregate: _LRU = _LRU(size)  # aggregate key -> (set of messages, last nanos)
        self._log: _LRU = _LRU(size)  # event key -> (count, firstTimestamp, name)

    def _aggregate_event(self, ev: dict[str, Any]) -> tuple[dict[str, Any], str]:
        # EventAggregate: the 10th distinct message within 10 minutes turns into one combined
        # event per reason, counted from then on instead of new events per message.
        now = self.now()
        akey, local = _aggregate_keys(ev)
        record = self._aggregate.fetch(akey)
        if record is None or now - record[1] > AGGREGATE_INTERVAL_SECONDS * 1_000_000_000:
            record = (set(), now)
        messages = record[0]
        messages.add(local)
        self._aggregate.put(akey, (messages, now))
        if len(messages) < AGGREGATE_MAX_EVENTS:
            return ev, event_key(ev)
        messages.pop()
        ts = _rfc3339(now)
        combined = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": event_name(_ref_part(ev, "name"), now),
                         "namespace": ev["metadata"]["namespace"]},
            "involvedObject": ev["involvedObject"], "count": 1,
            "firstTimestamp": ts, "lastTimestamp": ts,
            "message": "(combined from similar events): " + ev.get("message", ""),
            "type": ev.get("type", ""), "reason": ev.get("reason", ""),
            "source": ev.get("source", {}),
            # upstream's combined event carries no reporting fields (their JSON is "" / null)
            "reportingComponent": "", "reportingInstance": "", "eventTime": None,
        }
        return combined, akey

    def _observe(self, ev: dict[str, Any], key: str) -> tuple[dict[str, Any], bool]:
        # eventLogger.eventObserve: a repeat takes the first one's name and first timestamp
        last = self._log.fetch(key)
        update = last is not None and last[0] > 0
        if update:
            ev = copy.deepcopy(ev)
            ev["metadata"]["name"] = last[2]
            ev["firstTimestamp"] = last[1]
            ev["count"] = last[0] + 1
        self._log.put(key, (ev.get("count", 1), ev.get("firstTimestamp"), ev["metadata"]["name"]))
        return ev, update

    def _spam_filtered(self, ev: Mapping[str, Any]) -> bool:
        # EventSourceObjectSpamFilter: a token bucket (burst 25, one per 5 minutes) per key
        now = self.now()
        key = _spam_key(ev)
        bucket = self._spam.fetch(key) or [float(SPAM_BURST), now]
        bucket[0] = min(float(SPAM_BURST), bucket[0] + (now - bucket[1]) / 1e9 * SPAM_QPS)
        bucket[1] = now
        allowed = bucket[0] >= 1.0
        if allowed:
            bucket[0] -= 1.0
        self._spam.put(key, bucket)
        return not allowed

    def correlate(self, ev: dict[str, Any]) -> tuple[dict[str, Any], bool] | None:
        aggregated, key = self._aggregate_event(ev)
        observed, update = self._observe(aggregated, key)
        if self._spam_filtered(observed):
            return None
        return observed, update

    def update_state(self, stored: Mapping[str, Any]) -> None:
        self._log.put(event_key(stored), (int(stored.get("count") or 1),
                                          stored.get("firstTimestamp"),
                                          stored["metadata"]["name"]))


class EventRecorder:
    """record.EventRecorder writing through a LocalClient as `component` (on `host`)."""

    def __init__(self, client: LocalClient, component: str, host: str = "", *,
                 now: Callable[[], int] = time.time_ns) -> None:
        self.client = client
        self.component = component
        self.host = host
        self.now = now
        self.correlator = EventCorrelator(now)
        self._lock = asyncio.Lock()
        self._emitting: set[asyncio.Task] = set()  # emit()'s writes in flight (kept referenced)

    def make_event(self, obj: Mapping[str, Any], type: str, reason: str, message: str,
                   field_path: str = "", action: str = "") -> dict[str, Any]:
        """record/event.go makeEvent + generateEvent: the Event as first written."""
        ref = object_reference(obj, field_path)
        nanos = self.now()
        ts = _rfc3339(nanos)
        source = {"component": self.component}
        if self.host:
            source["host"] = self.host
        ev: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Event",
            # cluster-scoped objects' events live in "default" (metav1.NamespaceDefault)
            "metadata": {"name": event_name(ref.get("name", ""), nanos),
                         "namespace": ref.get("namespace") or "default"},
            "involvedObject": ref, "reason": reason, "message": message,
            "firstTimestamp": ts, "lastTimestamp": ts, "count": 1, "type": type,
            "source": source, "reportingComponent": self.component,
            "reportingInstance": self.host,
            "eventTime": None,  # a legacy event has no MicroTime; the field is never omitted
        }
        if action:
            ev["action"] = action
        return ev

    async def event(self, obj: Mapping[str, Any], type: str, reason: str, message: str, *,
                    field_path: str = "", action: str = "") -> dict[str, Any] | None:
        """Record one event; returns the stored Event, or None when dropped or failed."""
        if type not in (NORMAL, WARNING):  # util.ValidateEventType
            log.error("unsupported event type %r (reason %s)", type, reason)
            return None
        try:
            ev = self.make_event(obj, type, reason, message, field_path, action)
        except Exception:
            log.exception("could not build event %s for %r", reason, obj)
            return None
        async with self._lock:
            result = self.correlator.correlate(ev)
            if result is None:
                return None
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                async with asyncio.timeout(WRITE_TIMEOUT):
                    stored = await self._write(*result)
            except errors.StatusError as exc:
                # record/event.go recordEvent: a rejected event is never retried
                log.debug("server rejected event %s/%s: %s", reason, message, exc)
                return None
            except Exception as exc:  # best effort: events never fail their caller
                log.warning("unable to write event %s %s: %r", reason, message, exc)
                return None
            self.correlator.update_state(stored)
            return stored

    def emit(self, obj: Mapping[str, Any], type: str, reason: str, message: str, **kw: Any) -> None:
        """Record one event without waiting for it, as client-go's recorder does (Eventf hands
        the event to the broadcaster's goroutine): a controller or the kubelet goes on while
        the event is written."""
        task = asyncio.get_running_loop().create_task(self.event(obj, type, reason, message, **kw))
        self._emitting.add(task)
        task.add_done_callback(self._emitting.discard)

    async def _write(self, ev: dict[str, Any], update: bool) -> dict[str, Any]:
        assert _EVENTS is not None
        meta = ev["metadata"]
        if update:
            def bump(old: dict[str, Any]) -> dict[str, Any]:
                # the strategic patch eventObserve builds carries exactly these three fields
                old["count"] = ev["count"]
                old["lastTimestamp"] = ev["lastTimestamp"]
                old["message"] = ev["message"]
                return old
            try:
                return await self.client.mutate(_EVENTS, meta["namespace"], meta["name"], bump)
            except errors.NotFound:
                pass  # the Event was deleted since (TTL, user): create it again
        meta.pop("resourceVersion", None)
        return await self.client.create(_EVENTS, ev)

    async def normal(self, obj: Mapping[str, Any], reason: str, message: str,
                     **kw: Any) -> dict[str, Any] | None:
        return await self.event(obj, NORMAL, reason, message, **kw)

    async def warning(self, obj: Mapping[str, Any], reason: str, message: str,
                      **kw: Any) -> dict[str, Any] | None:
        return await self.event(obj, WARNING, reason, message, **kw)
