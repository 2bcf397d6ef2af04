"""What the container monitor writes: CRI log files (records, size-based rotation) and exit records.

Log records are `<RFC3339Nano> stdout|stderr F|P <text>` (containerd's CRI logger: lines longer than
PARTIAL_MAX are split into P records); rotation follows container_log_manager.go (rename to
`<name>.<UTC YYYYMMDD-HHMMSS>`, keep max_files-1 rotated files). An exit record is BUNDLE/exit.json
(exit code, signal, OOM kill, finish time), written atomically. Stdlib only: monitor.py loads it
as a plain sibling module.
"""

import os
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
