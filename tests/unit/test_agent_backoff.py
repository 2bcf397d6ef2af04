"""Container restart back-off (kubeproc.agent.backoff) against upstream
k8s.io/client-go/util/flowcontrol/backoff.go (Next, IsInBackOffSince, GC, hasExpired) as the
kubelet configures it (10 s initial, doubling, 5 min max) and kuberuntime_manager.go doBackOff."""

from __future__ import annotations

import datetime as dt

import pytest

from kubeproc.agent.backoff import (BackoffConfig, BackoffEntry, BackoffState, crashloop_message,
                                    gc, go_duration, in_backoff, next_backoff, release_at)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
CFG = BackoffConfig()


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def state(backoff: float, last_update: float) -> BackoffState:
    return BackoffState().with_entry("app", BackoffEntry(backoff, at(last_update)))


NEXT_CASES = [
    # (id, state, exit time, now, config, expected backoff)
    ("first-restart-waits-initial", BackoffState(), 5, 5, CFG, 10.0),
    ("crashloop-backoff-doubles", state(10, 0), 30, 31, CFG, 20.0),
    ("crashloop-backoff-doubles-again", state(40, 0), 100, 140, CFG, 80.0),
    ("backoff-capped-at-5-minutes", state(160, 0), 200, 360, CFG, 300.0),
    ("backoff-stays-at-5-minutes", state(300, 0), 400, 700, CFG, 300.0),
    ("backoff-resets-after-10-minutes", state(160, 0), 601, 602, CFG, 10.0),
    ("backoff-not-reset-at-exactly-10-minutes", state(160, 0), 600, 602, CFG, 300.0),
    ("backoff-base-configurable-for-tests", BackoffState(), 1, 1, BackoffConfig(0.1, 0.4), 0.1),
    ("configured-max-caps", state(0.4, 0), 0.5, 1, BackoffConfig(0.1, 0.4), 0.4),
    ("configured-reset-after-twice-max", state(0.4, 0), 0.81, 1, BackoffConfig(0.1, 0.4), 0.1),
]


@pytest.mark.parametrize("st,exited,now,cfg,expected", [c[1:] for c in NEXT_CASES],
                         ids=[c[0] for c in NEXT_CASES])
def test_next_backoff(st: BackoffState, exited: float, now: float, cfg: BackoffConfig,
                      expected: float) -> None:
    new = next_backoff(st, "app", at(exited), at(now), cfg)
    entry = new.get("app")
    assert entry is not None
    assert entry.backoff == pytest.approx(expected)
    assert entry.last_update == at(now)  # flowcontrol: lastUpdate is the clock at Next
    assert st.get("app") is None or st.get("app") != entry  # the input state is not changed


IN_CASES = [
    # (id, state, exit time, now, expected)
    ("no-entry-not-in-backoff", BackoffState(), 0, 1, False),
    ("within-window-in-backoff", state(10, 0), 20, 29, True),
    ("window-elapsed-not-in-backoff", state(10, 0), 20, 30, False),
    ("doubled-window-in-backoff", state(40, 0), 20, 59, True),
    ("stale-entry-not-in-backoff", state(300, 0), 601, 602, False),
]


@pytest.mark.parametrize("st,exited,now,expected", [c[1:] for c in IN_CASES],
                         ids=[c[0] for c in IN_CASES])
def test_in_backoff(st: BackoffState, exited: float, now: float, expected: bool) -> None:
    assert in_backoff(st, "app", at(exited), at(now), CFG) is expected


def test_crashloop_backoff_sequence_doubles_to_cap() -> None:
    st, seen = BackoffState(), []
    t = 0.0
    for _ in range(8):
        st = next_backoff(st, "app", at(t), at(t), CFG)
        entry = st.get("app")
        assert entry is not None
        seen.append(entry.backoff)
        t += entry.backoff + 1  # the container crashes right after each restart
    assert seen == [10, 20, 40, 80, 160, 300, 300, 300]


def test_release_at_is_exit_plus_backoff() -> None:
    assert release_at(state(40, 0), "app", at(100)) == at(140)
    assert release_at(BackoffState(), "app", at(100)) is None


def test_gc_forgets_stale_entries_only() -> None:
    st = state(10, 0).with_entry("db", BackoffEntry(10, at(500)))
    assert set(gc(st, at(700), CFG).entries) == {"db"}
    assert gc(st, at(100), CFG) is st


DURATIONS = [
    ("seconds", 10, "10s"), ("minutes-and-seconds", 80, "1m20s"), ("five-minutes", 300, "5m0s"),
    ("two-minutes-forty", 160, "2m40s"), ("sub-second", 0.5, "500ms"),
    ("fractional-seconds", 1.5, "1.5s"), ("zero", 0, "0s"), ("hour", 3725, "1h2m5s"),
]


@pytest.mark.parametrize("seconds,expected", [c[1:] for c in DURATIONS], ids=[c[0] for c in DURATIONS])
def test_go_duration(seconds: float, expected: str) -> None:
    assert go_duration(seconds) == expected


def test_crashloop_message_matches_kubelet() -> None:
    assert crashloop_message(20, "app", "web", "default", "u-1") == \
        "back-off 20s restarting failed container=app pod=web_default(u-1)"
