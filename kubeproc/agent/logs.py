"""Reading CRI container log files the way the kubelet serves `pods/log`.

Owns the CRI record format (`<RFC3339Nano> stdout|stderr F|P <text>`), joining partial (P)
records into logical lines, and the PodLogOptions rules of the kubelet's ReadLogs
(pkg/kubelet/kuberuntime/logs/logs.go): tail, since, timestamps, limitBytes and follow. Files
are read with plain blocking reads of bounded size (local disk); follow polls.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as _dt
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from kubeproc.client.podstreams import STDERR, STDOUT, LogOptions

BLOCK = 64 * 1024  # read size, forwards and backwards
POLL_INTERVAL = 0.05  # follow: how often to look for new data (no inotify)
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_STREAMS = {b"stdout": STDOUT, b"stderr": STDERR}
# RFC 3339 with an optional fraction of any length (Go's RFC3339NanoLenient as the kubelet parses).
_TS_RE = re.compile(rb"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


@dataclass(frozen=True)
class Record:
    """One CRI log record: time (ns since the epoch), stream (STDOUT/STDERR), whether it is a
    partial line (P), and its text without the record's newline."""

    ts: int
    stream: int
    partial: bool
    text: bytes


def parse_timestamp(raw: bytes) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 timestamp, or None if it is not one."""
    m = _TS_RE.match(raw)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    frac = (m.group(7) or b"").ljust(9, b"0")
    try:
        secs = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    zone = m.group(8)
    if zone != b"Z":
        sign = 1 if zone[:1] == b"+" else -1
        secs -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return secs * 1_000_000_000 + int(frac)


def format_timestamp(ns: int) -> str:
    """RFC 3339 with exactly nine fraction digits in UTC: the kubelet's RFC3339NanoFixed."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + ".%09dZ" % (ns % 1_000_000_000)


def parse_record(line: bytes) -> Record | None:
    """Parse one CRI line (without its newline); None for a malformed one, which the kubelet
    logs and skips (logs.go parseCRILog)."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        return None
    ts = parse_timestamp(parts[0])
    stream = _STREAMS.get(parts[1])
    if ts is None or stream is None:
        return None
    # tags are ':'-separated and only the first one matters (forward compatible, as upstream)
    partial = parts[2].split(b":", 1)[0] == b"P"
    return Record(ts, stream, partial, parts[3] if len(parts) > 3 else b"")


def _is_partial(line: bytes) -> bool:
    """Cheap P/F test for the backwards tail scan (malformed lines count as full)."""
    parts = line.split(b" ", 3)
    return len(parts) >= 3 and parts[2].split(b":", 1)[0] == b"P"


def tail_start(paths: Sequence[str], lines: int) -> tuple[int, int]:
    """(file index, byte offset) where the last `lines` logical lines of the concatenated files
    begin; reads backwards in blocks (pkg/util/tail FindTailLineStartIndex, but counting logical
    lines: a P record belongs to the line its next F record ends)."""
    need = lines + 1  # the start is just after the (lines+1)-th F record from the end
    first = True  # the very last record: a trailing P run is an unfinished line of its own
    for idx in range(len(paths) - 1, -1, -1):
        with open(paths[idx], "rb") as f:
            size = f.seek(0, os.SEEK_END)
            pos, carry = size, b""
            while pos > 0:
                step = min(BLOCK, pos)
                pos -= step
                f.seek(pos)
                buf = f.read(step) + carry
                end = len(buf)  # buf[end] is the newline ending the line under scan (or EOF)
                while True:
                    nl = buf.rfind(b"\n", 0, end)
                    if nl < 0 and pos > 0:
                        carry = buf[:end]  # the line begins in an earlier block
                        break
                    line = buf[nl + 1:end]
                    if line:
                        if first and _is_partial(line):
                            need -= 1
                        elif not _is_partial(line):
                            need -= 1
                        first = False
                        if need == 0:
                            return idx, min(pos + end + 1, size)
                    if nl < 0:
                        break
                    end = nl
    return 0, 0


def since_ns(opts: LogOptions, now: float | None = None) -> int:
    """The earliest record time to show: the later of now-sinceSeconds and sinceTime
    (logs.go NewLogOptions); 0 when neither is set."""
    since = 0
    if opts.since_seconds is not None:
        now_ns = int((time.time() if now is None else now) * 1_000_000_000)
        since = now_ns - opts.since_seconds * 1_000_000_000
    if opts.since_time is not None:
        delta = opts.since_time.astimezone(_dt.timezone.utc) - _EPOCH
        since = max(since, delta // _dt.timedelta(microseconds=1) * 1000)
    return since


class _Joiner:
    """Turns records into output lines: P records wait (per stream) for the F that ends them;
    the line keeps its first record's time."""

    def __init__(self, join: bool) -> None:
        self.join = join
        self.pending: dict[int, tuple[int, list[bytes]]] = {}

    def feed(self, rec: Record, terminated: bool) -> tuple[int, int, bytes] | None:
        if not self.join:
            return rec.ts, rec.stream, rec.text + (b"" if rec.partial or not terminated else b"\n")
        if rec.partial:
            ts, parts = self.pending.setdefault(rec.stream, (rec.ts, []))
            parts.append(rec.text)
            return None
        ts, parts = self.pending.pop(rec.stream, (rec.ts, []))
        return ts, rec.stream, b"".join(parts) + rec.text + (b"\n" if terminated else b"")

    def flush(self) -> list[tuple[int, int, bytes]]:
        """Unfinished lines at the end of the log, written without a newline as upstream does."""
        out = [(ts, stream, b"".join(parts)) for stream, (ts, parts) in self.pending.items()]
        self.pending.clear()
        return sorted(out)


async def read_records(paths: Sequence[str], tail: int | None, follow: bool,
                       still_running: Callable[[], bool], *, join: bool = True,
                       ) -> AsyncIterator[list[tuple[int, int, bytes]]]:
    """Batches of (time ns, stream, data), one output line each, from the files (oldest first),
    starting at the last `tail` logical lines (None: all); one batch per block read. With
    `follow`, after the end of the last file waits for more until `still_running()` is false and
    the file is drained. `join=False` passes each record's text on as read (attach)."""
    if not paths:
        return
    idx, offset = (0, 0) if tail is None else tail_start(paths, tail)
    joiner = _Joiner(join)
    for i in range(idx, len(paths)):
        last = i == len(paths) - 1
        with open(paths[i], "rb") as f:
            f.seek(offset if i == idx else 0)
            buf = b""
            stopping = False
            while True:
                chunk = f.read(BLOCK)
                if chunk:
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    batch = []
                    for line in lines:
                        rec = parse_record(line)
                        if rec is not None and (out := joiner.feed(rec, True)) is not None:
                            batch.append(out)
                    if batch:
                        yield batch
                    continue
                if not (follow and last) or stopping:
                    break
                # ask before one more read, so nothing written before the exit is missed
                if not still_running():
                    stopping = True
                    continue
                await asyncio.sleep(POLL_INTERVAL)
            if buf:  # an unterminated last line: logs.go still writes it ("Incomplete line")
                rec = parse_record(buf)
                if rec is not None and (out := joiner.feed(rec, False)) is not None:
                    yield [out]
    rest = joiner.flush()
    if rest:
        yield rest


async def read_logs(paths: list[str], opts: LogOptions,
                    still_running: Callable[[], bool]) -> AsyncIterator[bytes]:
    """The log as `pods/log` returns it: the lines of both streams in file order, filtered and
    limited by `opts` (logs.go ReadLogs/logWriter). Yields chunks of whole lines."""
    if opts.limit_bytes is not None and opts.limit_bytes <= 0:
        return
    if opts.tail_lines is not None and opts.tail_lines <= 0 and not opts.follow:
        return  # limitedMode with nothing to show
    since = since_ns(opts)
    remain = opts.limit_bytes if opts.limit_bytes is not None else -1
    count = opts.tail_lines if (opts.tail_lines is not None and not opts.follow) else -1
    records = read_records(paths, opts.tail_lines, opts.follow, still_running)
    try:
        async for batch in records:
            out: list[bytes] = []
            done = False
            for ts, _stream, data in batch:
                if count > 0:
                    count -= 1  # counts skipped (too old) lines too, as logs.go limitedNum does
                    done = count == 0
                if ts >= since:
                    if opts.timestamps:
                        data = format_timestamp(ts).encode() + b" " + data
                    if remain >= 0 and len(data) >= remain:
                        data, done = data[:remain], True  # logWriter cuts the last line
                    elif remain >= 0:
                        remain -= len(data)
                    out.append(data)
                if done:
                    break
            if out:
                yield b"".join(out)
            if done:
                return
    finally:
        await records.aclose()
