"""What the container monitor writes: CRI log files (records, size-based rotation), exit records
and containers' stdin pipes (`Stdin`: kubectl attach -i).

Log records are `<RFC3339Nano> stdout|stderr F|P <text>` (containerd's CRI logger: lines longer than
PARTIAL_MAX are split into P records); rotation follows container_log_manager.go (rename to
`<name>.<UTC YYYYMMDD-HHMMSS>`, keep max_files-1 rotated files). An exit record is BUNDLE/exit.json
(exit code, signal, OOM kill, finish time), written atomically. Stdlib only: monitor.py loads it
as a plain sibling module.
"""

import binascii
import os
import select
import sys
import time

PARTIAL_MAX = 16 * 1024  # containerd's CRI logger splits lines longer than this into P records
EXIT_FILE = "exit.json"


def cri_timestamp(ns: int) -> str:
    """RFC 3339 with nine fraction digits, as containerd writes (fixed width)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + ".%09dZ" % (ns % 1_000_000_000)


def cri_lines(stream: bytes, buf: bytearray, data: bytes, ts: str, eof: bool) -> bytes:
    """Append `data` to `buf`; return the complete CRI records (full lines F, over-long chunks P);
    the unterminated tail stays in `buf` unless `eof` (then it is written as F, like containerd)."""
    buf += data
    out = []
    prefix = ts.encode() + b" " + stream + b" "
    while True:
        nl = buf.find(b"\n")
        if nl < 0 or nl > PARTIAL_MAX:
            break
        out.append(prefix + b"F " + bytes(buf[:nl]) + b"\n")
        del buf[: nl + 1]
    while len(buf) > PARTIAL_MAX:
        out.append(prefix + b"P " + bytes(buf[:PARTIAL_MAX]) + b"\n")
        del buf[:PARTIAL_MAX]
        nl = buf.find(b"\n")
        while 0 <= nl <= PARTIAL_MAX:
            out.append(prefix + b"F " + bytes(buf[:nl]) + b"\n")
            del buf[: nl + 1]
            nl = buf.find(b"\n")
    if eof and buf:
        out.append(prefix + b"F " + bytes(buf) + b"\n")
        del buf[:]
    return b"".join(out)


def rotated_name(path: str, ns: int) -> str:
    """`<path>.<UTC YYYYMMDD-HHMMSS>` as the kubelet's container_log_manager.go rotateLatestLog names
    it; more rotations within the same second get `.001`, `.002`… after the highest one yet, so
    names sort oldest first even after the oldest were removed."""
    base = path + "." + time.strftime("%Y%m%d-%H%M%S", time.gmtime(ns // 1_000_000_000))
    d, name = os.path.split(base)
    taken = [n[len(name):] for n in os.listdir(d or ".") if n.startswith(name)]
    if not taken:
        return base
    seqs = [int(t[1:]) for t in taken if t[:1] == "." and t[1:].isdigit()]
    return "%s.%03d" % (base, max(seqs, default=0) + 1)


class Log:
    """A container's CRI log file with size-based rotation (max_size 0: never rotate)."""

    __slots__ = ("path", "fd", "size", "max_size", "max_files")

    def __init__(self, path: str, max_size: int, max_files: int) -> None:
        self.path, self.max_size, self.max_files = path, max_size, max_files
        self.fd, self.size = -1, 0
        self.open()

    def open(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            self.size = os.fstat(self.fd).st_size
        except OSError as e:  # the pod's log dir is gone: output is dropped, not fatal
            self.fd = -1
            sys.stderr.write("monitor: open %s: %s\n" % (self.path, e))

    def write(self, data: bytes) -> None:
        if not data or self.fd < 0:
            return
        if self.max_size <= 0 or self.size + len(data) <= self.max_size:
            self._write(data)
            return
        # the limit falls inside this chunk: rotate between records, so a file holds whole
        # records and exceeds the limit only by a record longer than the limit itself
        for line in data.splitlines(keepends=True):
            if self.size > 0 and self.size + len(line) > self.max_size:
                self.rotate()
            self._write(line)

    def _write(self, data: bytes) -> None:
        try:
            self.size += os.write(self.fd, data)
        except OSError:
            pass

    def rotate(self) -> None:
        """container_log_manager.go: rename the live file to a timestamped one, drop the oldest
        rotated files beyond max_files-1, reopen the live file."""
        try:
            os.rename(self.path, rotated_name(self.path, time.time_ns()))
            d, base = os.path.split(self.path)
            old = sorted(n for n in os.listdir(d) if n.startswith(base + "."))
            for n in old[: max(len(old) - max(self.max_files - 1, 0), 0)]:
                os.unlink(os.path.join(d, n))
        except OSError as e:
            sys.stderr.write("monitor: rotate %s: %s\n" % (self.path, e))
        self.close()
        self.open()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def exit_code(status: int) -> "tuple[int, int]":
    """(exit code, signal) from a wait status: signals map to 128+n as a shell and the kubelet report."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, sig
    return os.WEXITSTATUS(status), 0


def oom_kills(paths: list) -> int:
    """The `oom_kill N` counter of cgroup v1 memory.oom_control or v2 memory.events (0 if gone)."""
    total = 0
    for p in paths:
        try:
            with open(p) as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    if k == "oom_kill":
                        total += int(v)
        except (OSError, ValueError):
            pass
    return total


def runc_error(log_file: str) -> str:
    """The last error runc logged (its --log file is JSON lines)."""
    import json  # only on this error path: it costs ~7 ms of imports and memory

    msg = ""
    try:
        with open(log_file) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("level") in ("error", "fatal"):
                    msg = rec.get("msg", "")
    except OSError:
        pass
    return msg


def write_atomic(path: str, text: str) -> None:
    # no fsync: a host crash takes the containers with it, so a lost file loses nothing real
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def json_str(s: str) -> str:
    """A JSON string literal without importing json (control characters escaped)."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def write_exit(bundle: str, pid: int, status: int, oom: bool, finished_ns: int) -> None:
    """BUNDLE/exit.json from the init's wait status (read back by runc.read_exit)."""
    code, sig = exit_code(status)
    write_atomic(os.path.join(bundle, EXIT_FILE), (
        '{"pid": %d, "exitCode": %d, "signal": %d, "oomKilled": %s, "finishedAt": "%s", '
        '"finishedAtNs": %d}\n' % (pid, code, sig, "true" if oom else "false",
                                   cri_timestamp(finished_ns), finished_ns)))


class Stdin:
    """The write end of a container's stdin pipe (non-blocking), kept by the monitor.

    Writes queue until the pipe takes them; each write's (client, seq) is answered "ok" once its
    bytes are in the pipe, which is the agent's flow control, or "closed" if the pipe closed
    first (the process exited, or stdinOnce). `once` is the container's stdinOnce.
    """

    __slots__ = ("fd", "once", "buf", "waiting", "replies", "closed", "closing")

    def __init__(self, fd: int, once: bool) -> None:
        self.fd, self.once = fd, once
        self.buf = bytearray()
        self.waiting = []  # (client, seq, end offset in buf): answered once buf is written past it
        self.replies = []  # (client, seq, word) ready to send
        self.closed = False
        self.closing = False  # close once what is queued is written (stdinOnce session ended)

    def write(self, data: bytes, client: object, seq: str) -> None:
        if self.closed or self.closing:
            self.replies.append((client, seq, "closed"))
            return
        self.buf += data
        self.waiting.append((client, seq, len(self.buf)))
        self.flush()

    def flush(self) -> None:
        try:
            while self.buf and not self.closed:
                n = os.write(self.fd, self.buf)
                del self.buf[:n]
                self.waiting = [(c, s, end - n) for c, s, end in self.waiting]
        except BlockingIOError:
            pass
        except OSError:  # EPIPE: the reader is gone
            self.close()
            return
        self.replies += [(c, s, "ok") for c, s, end in self.waiting if end <= 0]
        self.waiting = [w for w in self.waiting if w[2] > 0]
        if self.closing and not self.buf:
            self.close()

    def close_when_written(self) -> None:
        self.closing = True
        self.flush()

    def close(self) -> None:
        """No more input: what is queued is dropped and its writers told "closed"."""
        if self.closed:
            return
        self.closed = True
        self.buf = bytearray()
        self.replies += [(c, s, "closed") for c, s, _ in self.waiting]
        self.waiting = []

    def pending(self) -> bool:
        return bool(self.buf) and not self.closed

    def take_replies(self) -> list:
        out, self.replies = self.replies, []
        return out

    def release(self) -> None:
        """Close the fd (after close(), once the monitor stopped polling it): the reader sees EOF."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class StdinPipes:
    """The monitor's side of attach sessions' stdin: requests, and the pipes waiting for room
    (`by_fd`, polled for POLLOUT); `send(client, seq, text)` replies."""

    def __init__(self, poll: "select.poll", send: object) -> None:
        self.poll, self.send = poll, send
        self.by_fd = {}  # write fd with queued data -> Stdin

    def request(self, c: object, seq: str, op: str, s: "Stdin | None", args: list) -> bool:
        """`stdinattach CID`: a session with stdin starts: "ok" (True: the monitor ends it with
        the client's connection), "none" (the container has no stdin pipe) or "closed";
        `stdin CID B64`: replied "ok" once the bytes are in the pipe (the agent's flow
        control), "closed" or "none". A session's end (`stdinend`) is `end`."""
        if s is None:
            self.send(c, seq, "none")  # type: ignore[operator]
            return False
        if op == "stdinattach":
            self.send(c, seq, "closed" if s.closed or s.closing else "ok")  # type: ignore[operator]
            return not (s.closed or s.closing)
        s.write(binascii.a2b_base64(args[0]) if args and args[0] != "=" else b"", c, seq)
        self.update(s)
        return False

    def end(self, s: "Stdin | None") -> None:
        """An attach session with stdin ended: a stdinOnce container's stdin closes once what
        was written reached the pipe (containerd container_io.go Attach, StdinOnce && !Tty)."""
        if s is not None and s.once:
            s.close_when_written()
            self.update(s)

    def writable(self, fd: int) -> None:
        s = self.by_fd[fd]
        s.flush()
        self.update(s)

    def close(self, s: "Stdin | None") -> None:
        if s is not None:
            s.close()
            self.update(s)

    def update(self, s: "Stdin") -> None:
        """Send the replies the writes earned; poll the pipe only while data waits for room;
        close the fd once the stdin is closed (the reader sees EOF)."""
        for c, seq, word in s.take_replies():
            self.send(c, seq, word)  # type: ignore[operator]
        polled = s.fd in self.by_fd
        if s.pending() and not polled:
            self.by_fd[s.fd] = s
            self.poll.register(s.fd, select.POLLOUT)
        elif not s.pending() and polled:
            del self.by_fd[s.fd]
            self.poll.unregister(s.fd)
        if s.closed:
            s.release()
