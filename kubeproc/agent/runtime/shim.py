"""Container shims: a small zygote process forks one shim per container, which outlives the agent.

`python3 -I -S shim.py` (stdlib only) reads requests `RUNC ROOT RUNC_LOG BUNDLE ID LOG_PATH
OOM_FILES` (NUL-separated, one per line) and forks a detached shim for each. The shim becomes the
child subreaper, runs `runc create` (the container's init is reparented to it when runc exits),
reports `ID {"ok":..., "pid":...}` on the zygote's stdout, writes the container's stdout/stderr
as CRI log lines, and on exit records exit code, signal and OOM kills to BUNDLE/exit.json
(atomically) before it exits itself. SIGUSR1 reopens the log (rotation).
"""

import _signal
import gc
import os
import select
import sys
import time
from ctypes import CDLL

PR_SET_CHILD_SUBREAPER = 36
PARTIAL_MAX = 16 * 1024  # containerd's CRI logger splits lines longer than this into P records
EXIT_FILE = "exit.json"
SHIM_PID_FILE = "shim.pid"
INIT_PID_FILE = "init.pid"


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


def exit_code(status: int) -> tuple[int, int]:
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
        except OSError:
            pass
    return total


def runc_error(log_file: str) -> str:
    """The last error runc logged (its --log file is JSON lines)."""
    import json  # only on this error path: it costs ~7 ms of imports

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


class Log:
    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1
        self.reopen = True
        _signal.signal(_signal.SIGUSR1, self._on_usr1)

    def _on_usr1(self, *_: object) -> None:
        self.reopen = True

    def write(self, data: bytes) -> None:
        if self.reopen:
            self.reopen = False
            if self.fd >= 0:
                os.close(self.fd)
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        if data:
            os.write(self.fd, data)


def proc_stat(pid: "int | str") -> "tuple[str, int]":
    """(state, start time in clock ticks since boot) from /proc/PID/stat fields 3 and 22. The
    start time makes (pid, start time) an identity that pid reuse cannot fake."""
    with open("/proc/%s/stat" % pid, "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return fields[0].decode(), int(fields[19])


def supervise(argv: list, report) -> int:
    """One container: runc create, report once through `report(text)`, then logs and exit status."""
    runc_bin, root, runc_log, bundle, cid, log_path, oom_files = argv
    if CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        report('{"ok": false, "error": "prctl(PR_SET_CHILD_SUBREAPER) failed"}')
        return 1
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    null = os.open(os.devnull, os.O_RDWR)
    pid_file = os.path.join(bundle, INIT_PID_FILE)
    cmd = [runc_bin, "--root", root, "--log", runc_log, "--log-format", "json",
           "create", "--bundle", bundle, "--pid-file", pid_file, cid]
    runc = os.posix_spawn(cmd[0], cmd, os.environ,
                          file_actions=[(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
                                        (os.POSIX_SPAWN_DUP2, err_w, 2)])
    os.close(out_w)
    os.close(err_w)
    # while runc works (~20 ms): the rest of our setup. shim.pid lets a restarted agent find us.
    write_atomic(os.path.join(bundle, SHIM_PID_FILE), "%d %d\n" % (os.getpid(), proc_stat("self")[1]))
    log = Log(log_path)
    _, status = os.waitpid(runc, 0)
    if status != 0:
        err = runc_error(runc_log) or "runc create exited with status %d" % exit_code(status)[0]
        report('{"ok": false, "error": %s}' % json_str(err[:2000]))
        return 1
    with open(pid_file) as f:
        pid = int(f.read().strip())
    pidfd = os.pidfd_open(pid)
    log.write(b"")  # create the log file now: `kubectl logs` of a silent container is empty, not missing
    report('{"ok": true, "pid": %d, "shim_pid": %d}' % (pid, os.getpid()))

    poll = select.poll()
    bufs = {out_r: (b"stdout", bytearray()), err_r: (b"stderr", bytearray())}
    for fd in (out_r, err_r, pidfd):
        poll.register(fd, select.POLLIN)
    exited = False
    while bufs or not exited:
        for fd, _ in poll.poll():
            if fd == pidfd:
                _, status = os.waitpid(pid, 0)
                code, sig = exit_code(status)
                finished = time.time_ns()
                oom = "true" if oom_kills([p for p in oom_files.split(":") if p]) > 0 else "false"
                write_atomic(os.path.join(bundle, EXIT_FILE), (
                    '{"pid": %d, "exitCode": %d, "signal": %d, "oomKilled": %s, "finishedAt": "%s", '
                    '"finishedAtNs": %d}\n' % (pid, code, sig, oom, cri_timestamp(finished), finished)))
                poll.unregister(pidfd)
                os.close(pidfd)
                exited = True
                continue
            stream, buf = bufs[fd]
            data = os.read(fd, 65536)
            log.write(cri_lines(stream, buf, data, cri_timestamp(time.time_ns()), eof=not data))
            if not data:
                poll.unregister(fd)
                os.close(fd)
                del bufs[fd]
    # reap anything else that was reparented to us (e.g. exec'd processes that outlived init)
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
    return 0


def shim_process(argv: list) -> int:
    """In the grandchild of the zygote: detach, then supervise; the report is one line on the
    zygote's stdout, `<container id> <json>` (one write < PIPE_BUF, so lines never interleave)."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)  # not the zygote's request pipe
    try:
        err = os.open(os.path.join(argv[3], "shim.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        os.dup2(err, 2)
        os.close(err)
    except OSError:
        os.dup2(null, 2)
    sent = []

    def report(text: str) -> None:
        if not sent:
            sent.append(True)
            try:
                os.write(1, ("%s %s\n" % (argv[4], text)).encode())
            except OSError:
                pass  # the agent is gone; a restarted one adopts us through shim.pid
            os.dup2(null, 1)  # never write to the agent again

    try:
        return supervise(argv, report)
    except BaseException as e:  # report what broke rather than leave the agent waiting
        report('{"ok": false, "error": %s}' % json_str("shim: %s: %s" % (type(e).__name__, e)))
        import traceback

        traceback.print_exc()
        return 1


def serve() -> int:
    """The zygote: for each request line (NUL-separated argv) on stdin, fork a shim. Forking this
    small process costs ~1 ms and shares its pages, where a fresh interpreter costs ~15 ms and
    ~3.7 MB. Exits when the agent closes stdin (or dies); running shims are not affected."""
    for sig in (_signal.SIGPIPE, _signal.SIGHUP, _signal.SIGINT):
        _signal.signal(sig, _signal.SIG_IGN)
    gc.freeze()  # keep the children's refcount writes off the shared pages' GC headers
    buf = b""
    while True:
        data = os.read(0, 65536)
        if not data:
            return 0
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            argv = line.decode().split("\0")
            child = os.fork()
            if child == 0:
                # fork twice: the shim must not be our child (we may exit first) nor the agent's
                rc = 1
                try:
                    if os.fork() == 0:
                        rc = shim_process(argv)
                    else:
                        rc = 0
                finally:
                    os._exit(rc)
            os.waitpid(child, 0)


if __name__ == "__main__":
    sys.exit(serve())
