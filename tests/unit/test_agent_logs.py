"""CRI log reading (kubeproc.agent.logs) over written files: record parsing, partial-line
joining, tail counted backwards across blocks and rotated files, since, timestamps, limitBytes,
and follow ending once the container stops."""

from __future__ import annotations

import asyncio
import datetime as dt
import os

import pytest

from kubeproc.agent import logs
from kubeproc.agent.logs import Record, format_timestamp, parse_record, parse_timestamp, read_logs
from kubeproc.agent.streams import AgentStreams, ContainerRef, log_files
from kubeproc.api import errors
from kubeproc.client.podstreams import LogOptions

T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z
SEC = 1_000_000_000


def ts(i: int) -> str:
    return format_timestamp(T0 + i * SEC)


def rec(i: int, text: str, stream: str = "stdout", tag: str = "F") -> str:
    return f"{ts(i)} {stream} {tag} {text}\n"


def write(tmp_path, name: str, *records: str) -> str:
    p = tmp_path / name
    p.write_text("".join(records))
    return str(p)


def collect(paths, opts: LogOptions, running=lambda: False) -> bytes:
    async def go():
        return b"".join([c async for c in read_logs(paths, opts, running)])
    return asyncio.run(go())


@pytest.mark.parametrize("raw, expected", [
    (b"2023-11-14T22:13:20.000000001Z", T0 + 1),
    (b"2023-11-14T22:13:20.5Z", T0 + SEC // 2),
    (b"2023-11-14T22:13:20Z", T0),
    (b"2023-11-14T23:13:20.000000000+01:00", T0),
    (b"2023-11-14 22:13:20Z", None),
    (b"garbage", None),
], ids=["nano", "short-fraction", "no-fraction", "offset", "space-separator", "garbage"])
def test_parse_timestamp(raw, expected) -> None:
    assert parse_timestamp(raw) == expected


@pytest.mark.parametrize("line, expected", [
    (b"2023-11-14T22:13:20.000000000Z stdout F hello world", Record(T0, 1, False, b"hello world")),
    (b"2023-11-14T22:13:20.000000000Z stderr P part", Record(T0, 2, True, b"part")),
    (b"2023-11-14T22:13:20.000000000Z stdout F ", Record(T0, 1, False, b"")),
    (b"2023-11-14T22:13:20.000000000Z stdout F", Record(T0, 1, False, b"")),
    (b"2023-11-14T22:13:20.000000000Z stdout P:x y", Record(T0, 1, True, b"y")),
    (b"2023-11-14T22:13:20.000000000Z stdin F x", None),
    (b"not a record", None),
], ids=["full", "partial", "empty-text", "no-text", "extra-tags-ignored", "bad-stream", "malformed"])
def test_parse_record(line, expected) -> None:
    assert parse_record(line) == expected


def test_format_timestamp_is_fixed_width_utc() -> None:
    assert format_timestamp(T0 + 1_000) == "2023-11-14T22:13:20.000001000Z"


LOG = [rec(0, "one"), rec(1, "err", "stderr"), rec(2, "thr", tag="P"), rec(3, "ee"), rec(4, "four")]


@pytest.mark.parametrize("opts, expected", [
    (LogOptions(), b"one\nerr\nthree\nfour\n"),
    (LogOptions(tail_lines=2), b"three\nfour\n"),
    (LogOptions(tail_lines=1), b"four\n"),
    (LogOptions(tail_lines=10), b"one\nerr\nthree\nfour\n"),
    (LogOptions(tail_lines=0), b""),
    (LogOptions(timestamps=True, tail_lines=2),
     f"{ts(2)} three\n{ts(4)} four\n".encode()),
    (LogOptions(since_time=dt.datetime.fromtimestamp(T0 // SEC + 1, dt.timezone.utc)), b"err\nthree\nfour\n"),
    (LogOptions(since_time=dt.datetime.fromtimestamp(T0 // SEC + 3, dt.timezone.utc)), b"four\n"),
    (LogOptions(since_seconds=1), b""),
    (LogOptions(limit_bytes=6), b"one\ner"),
    (LogOptions(limit_bytes=8), b"one\nerr\n"),
    (LogOptions(limit_bytes=5, timestamps=True), ts(0)[:5].encode()),
    (LogOptions(tail_lines=3, since_time=dt.datetime.fromtimestamp(T0 // SEC + 3, dt.timezone.utc)), b"four\n"),
], ids=["all", "tail-2-joins-partial", "tail-1", "tail-more-than-lines", "tail-0-is-empty",
        "timestamps-once-per-line-first-record-time", "since-time", "since-uses-line-start-time",
        "since-seconds-old-log", "limit-bytes-cuts-a-line", "limit-bytes-exact", "limit-counts-timestamp",
        "tail-then-since"])
def test_read_logs_options(tmp_path, opts, expected) -> None:
    assert collect([write(tmp_path, "0.log", *LOG)], opts) == expected


def test_partial_lines_join_per_stream(tmp_path) -> None:
    path = write(tmp_path, "0.log", rec(0, "a", tag="P"), rec(1, "x", "stderr"), rec(2, "b", tag="P"),
                 rec(3, "c"))
    assert collect([path], LogOptions()) == b"x\nabc\n"


def test_unfinished_line_at_the_end_is_written_without_newline(tmp_path) -> None:
    path = write(tmp_path, "0.log", rec(0, "one"), rec(1, "half", tag="P"))
    assert collect([path], LogOptions()) == b"one\nhalf"
    assert collect([path], LogOptions(tail_lines=1)) == b"half"
    assert collect([path], LogOptions(tail_lines=2)) == b"one\nhalf"


def test_unterminated_last_record_and_malformed_lines(tmp_path) -> None:
    p = tmp_path / "0.log"
    p.write_text(rec(0, "one") + "garbage line\n" + rec(1, "two").rstrip("\n"))
    assert collect([str(p)], LogOptions()) == b"one\ntwo"


@pytest.mark.parametrize("tail", [0, 1, 7, 499, 500, 501], ids=lambda t: f"tail-{t}")
def test_tail_across_blocks(tmp_path, monkeypatch, tail) -> None:
    monkeypatch.setattr(logs, "BLOCK", 100)  # many blocks, records straddling block edges
    lines = [rec(i, f"line-{i}-" + "x" * (i % 37)) for i in range(500)]
    path = write(tmp_path, "0.log", *lines)
    expected = "".join(f"line-{i}-" + "x" * (i % 37) + "\n" for i in range(max(0, 500 - tail), 500))
    assert collect([path], LogOptions(tail_lines=tail)) == expected.encode()


def test_rotated_files_read_oldest_first_and_tail_spans_them(tmp_path) -> None:
    old = write(tmp_path, "0.log.20231114-221320", rec(0, "a"), rec(1, "b"))
    cur = write(tmp_path, "0.log", rec(2, "c"))
    assert collect([old, cur], LogOptions()) == b"a\nb\nc\n"
    assert collect([old, cur], LogOptions(tail_lines=2)) == b"b\nc\n"


def test_big_log_streams_in_chunks(tmp_path) -> None:
    path = write(tmp_path, "0.log", *(rec(0, "y" * 100) for _ in range(5000)))

    async def go():
        return [c async for c in read_logs([path], LogOptions(), lambda: False)]
    chunks = asyncio.run(go())
    assert len(chunks) > 1
    assert b"".join(chunks) == (b"y" * 100 + b"\n") * 5000


def test_follow_sees_appended_lines_and_stops_when_the_container_exits(tmp_path) -> None:
    path = write(tmp_path, "0.log", rec(0, "one"))
    state = {"running": True}

    async def go():
        got = []
        gen = read_logs([path], LogOptions(follow=True), lambda: state["running"])
        got.append(await gen.__anext__())
        with open(path, "a") as f:
            f.write(rec(1, "two", tag="P"))
            f.flush()
            f.write(rec(2, "!"))
        got.append(await gen.__anext__())
        with open(path, "a") as f:  # written just before the exit: still delivered (drain)
            f.write(rec(3, "last"))
        state["running"] = False
        got += [c async for c in gen]
        return got
    assert asyncio.run(go()) == [b"one\n", b"two!\n", b"last\n"]


def test_follow_with_tail_starts_near_the_end(tmp_path) -> None:
    path = write(tmp_path, "0.log", rec(0, "a"), rec(1, "b"), rec(2, "c"))
    assert collect([path], LogOptions(follow=True, tail_lines=1)) == b"c\n"
    assert collect([path], LogOptions(follow=True, tail_lines=0)) == b""


def test_follow_of_a_stopped_container_reads_to_the_end(tmp_path) -> None:
    path = write(tmp_path, "0.log", rec(0, "a"), rec(1, "b"))
    assert collect([path], LogOptions(follow=True)) == b"a\nb\n"


def test_empty_and_missing_inputs(tmp_path) -> None:
    assert collect([], LogOptions()) == b""
    assert collect([write(tmp_path, "0.log")], LogOptions(tail_lines=3)) == b""
    assert os.path.exists(tmp_path / "0.log")


# ---- AgentStreams.logs: which instance's file (kubelet_pods.go validateContainerLogStatus) ----

POD = {"metadata": {"namespace": "ns", "name": "web", "uid": "u1"},
       "status": {"containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}


def node_logs(tmp_path, files: dict[str, str], ref: ContainerRef | None, opts: LogOptions,
              pod=POD) -> bytes:
    cdir = tmp_path / "ns_web_u1" / "app"
    cdir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (cdir / name).write_text(text)
    streams = AgentStreams("/usr/sbin/runc", "/nonexistent", str(tmp_path), lambda uid, c: ref, lambda uid: "")

    async def go():
        return b"".join([c async for c in await streams.logs(pod, "app", opts)])
    return asyncio.run(go())


ATTEMPTS = {"0.log": rec(0, "zero"), "2.log": rec(2, "two"), "3.log": rec(3, "three")}


@pytest.mark.parametrize("files, ref, opts, expected", [
    (ATTEMPTS, ContainerRef("c3", 3, True), LogOptions(), b"three\n"),
    (ATTEMPTS, ContainerRef("c3", 3, False), LogOptions(previous=True), b"two\n"),
    (ATTEMPTS, ContainerRef("c2", 2, False), LogOptions(previous=True), b"zero\n"),
    (ATTEMPTS, None, LogOptions(), b"three\n"),
    (ATTEMPTS, None, LogOptions(previous=True), b"two\n"),
    ({"0.log": rec(0, "zero")}, ContainerRef("c1", 1, True), LogOptions(), b""),
    ({"1.log.20231114-221320": rec(0, "a"), "1.log": rec(1, "b"), "0.log": rec(0, "old")},
     ContainerRef("c1", 1, True), LogOptions(), b"a\nb\n"),
], ids=["current-instance", "previous-is-the-highest-attempt-below", "previous-skips-pruned-attempts",
        "no-instance-uses-the-newest-file", "no-instance-previous", "instance-without-a-file-yet",
        "rotated-files-first"])
def test_agent_logs_pick_the_instance(tmp_path, files, ref, opts, expected) -> None:
    assert node_logs(tmp_path, files, ref, opts) == expected


@pytest.mark.parametrize("files, ref, opts, message", [
    ({"0.log": rec(0, "zero")}, ContainerRef("c0", 0, True), LogOptions(previous=True),
     'previous terminated container "app" in pod "web" not found'),
    ({}, None, LogOptions(previous=True), 'previous terminated container "app" in pod "web" not found'),
    ({}, None, LogOptions(), 'container "app" in pod "web" is waiting to start: CrashLoopBackOff'),
], ids=["first-instance-has-no-previous", "nothing-has-no-previous", "waiting-reason-from-status"])
def test_agent_logs_errors(tmp_path, files, ref, opts, message) -> None:
    with pytest.raises(errors.BadRequest) as exc:
        node_logs(tmp_path, files, ref, opts)
    assert exc.value.message == message


def test_agent_logs_waiting_defaults_to_container_creating(tmp_path) -> None:
    with pytest.raises(errors.BadRequest, match="is waiting to start: ContainerCreating$"):
        node_logs(tmp_path, {}, None, LogOptions(), pod={"metadata": POD["metadata"]})


def test_log_files_orders_rotations_before_the_live_file(tmp_path) -> None:
    for name in ("1.log", "1.log.20231114-221321", "1.log.20231114-221320", "0.log", "notes.txt", "x.log"):
        (tmp_path / name).write_text("")
    assert log_files(str(tmp_path)) == {
        0: [str(tmp_path / "0.log")],
        1: [str(tmp_path / n) for n in ("1.log.20231114-221320", "1.log.20231114-221321", "1.log")]}
    assert log_files(str(tmp_path / "missing")) == {}
