"""The container monitor: one detached process per runc state root owns every container's stdio and exit.

`python3 -I -S monitor.py STATE_ROOT` (stdlib only) locks the state root, listens on
`STATE_ROOT.monitor.sock` (0600), forks into the background and exits, so it is nobody's child.
As child subreaper it spawns `runc create` per request (the container's init is reparented to
it), writes the container's stdout/stderr as CRI log lines (rotating at a size limit), reaps
children on SIGCHLD and records each exit in BUNDLE/exit.json once the output is drained. It
exits when no container is live and no client is left (or on `shutdown`). It also runs the
agent's short runc commands and signals inits (`runc` / `signal` requests: monitorcmd.py).
A container created with a stdin mode gets a pipe as stdin whose write end the monitor keeps
(`stdin` / `stdinattach` / `stdinend` requests: kubectl attach -i; StdinPipes in monitorfiles.py).
It also holds the pods' namespaces open, the pause container's job (`pin` / `unpin` / `pins`):
runc joins them as /proc/MONITOR_PID/fd/N, so pods cost the host no bind mounts, and a held
namespace keeps the monitor alive across the agent's restart.
Requests are lines of NUL-separated fields `SEQ OP ARGS…`, replies lines `SEQ WORD REST`
(client: monitorclient.py).
"""

import _signal
import _socket
import fcntl
import os
import select
import sys
import time

if __package__:
    from kubeproc.agent.runtime.monitorcmd import Commands, signal_init
    from kubeproc.agent.runtime.monitorfiles import (Log, Stdin, StdinPipes, cri_lines, cri_timestamp, exit_code,
                                                     oom_kills, runc_error, write_exit)
    from kubeproc.agent.runtime.monitorpoll import Poller
    from kubeproc.agent.runtime.sealedexe import SealedCopies
else:  # run as `python3 -I -S monitor.py`: the sibling modules, without importing kubeproc
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from monitorcmd import Commands, signal_init  # type: ignore[no-redef]
    from monitorfiles import (Log, Stdin, StdinPipes, cri_lines, cri_timestamp, exit_code,  # type: ignore[no-redef]
                              oom_kills, runc_error, write_exit)
    from monitorpoll import Poller  # type: ignore[no-redef]
    from sealedexe import SealedCopies  # type: ignore[no-redef]

__all__ = ["Monitor", "main"]

PR_SET_CHILD_SUBREAPER = 36
INIT_PID_FILE = "init.pid"
CREATE_LOG = "create.log"  # runc's own log of this bundle's `runc create` (its error message)
DRAIN_GRACE = 2.0  # after init died: how long output may keep the exit from being recorded
FIRST_CLIENT_WAIT = 10.0  # a monitor nobody connected to (its starter died) exits after this


class Container:
    __slots__ = ("id", "bundle", "log", "pipes", "oom_files", "pid", "status", "finished",
                 "oom", "deadline", "recorded", "waiters", "create_reply", "stdin")

    def __init__(self, cid: str, bundle: str, log: Log, oom_files: list) -> None:
        self.id, self.bundle, self.log, self.oom_files = cid, bundle, log, oom_files
        self.pipes = {}  # read fd -> (stream name, partial-line buffer)
        self.pid = 0
        self.status = None  # wait status once init was reaped
        self.finished = 0
        self.oom = False
        self.deadline = 0.0
        self.recorded = False
        self.waiters = []  # (client, seq) to tell once the exit is recorded
        self.create_reply = None
        self.stdin = None  # Stdin: the write end of the container's stdin pipe, if it has one


class Client:
    __slots__ = ("fd", "inbuf", "outbuf", "leaving", "shutdown", "attached")

    def __init__(self, fd: int) -> None:
        self.fd, self.inbuf, self.outbuf = fd, b"", b""
        self.attached = set()  # containers this client holds an attach session with stdin on
        self.leaving = None  # seq of a `bye` to answer when we exit
        self.shutdown = None  # seq of a `shutdown` to answer when we exit


class Monitor:
    def __init__(self, root: str, listener: "_socket.socket", sock_path: str) -> None:
        self.root, self.listener, self.sock_path = root, listener, sock_path
        self.poll = Poller()  # select.poll's interface over epoll (monitorpoll.py)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.containers = {}  # id -> Container
        self.draining = set()  # Containers whose init was reaped, output still open (deadline)
        self.by_pipe = {}  # fd -> Container
        self.by_runc = {}  # runc create pid -> Container
        self.by_init = {}  # init pid -> Container
        self.early = {}  # pid -> (status, ns): reaped before its runc create was
        self.clients = {}  # fd -> Client
        self.had_client = False
        self.started = time.monotonic()
        self.commands = Commands(self.poll, self.send)  # short runc commands for the agent
        self.stdins = StdinPipes(self.poll, self.send)  # containers' stdin pipes
        self.pins = {}  # key -> fd of a namespace held open for the agent (pin requests)
        self.sealed = SealedCopies()  # runc from a sealed memfd: `runc init` execs once (sealedexe.py)
        # `runc run` and its init are sequential Go programs: with one P the Go runtime does not
        # spin idle threads on a busy host (2-5 % less CPU per container start, measured with 8
        # starts in parallel); runc passes GOMAXPROCS on to its init, not to the container
        self.runc_env = {**os.environ, "GOMAXPROCS": os.environ.get("GOMAXPROCS") or "1"}
        self.poll.register(self.wake_r, select.POLLIN)
        self.poll.register(listener.fileno(), select.POLLIN)

    # ---- clients ----
    def send(self, c: "Client", seq: str, text: str) -> None:
        if c.fd not in self.clients:
            return
        c.outbuf += ("%s %s\n" % (seq, text.replace("\n", " "))).encode()
        self.flush(c)

    def flush(self, c: "Client") -> None:
        try:
            while c.outbuf:
                c.outbuf = c.outbuf[os.write(c.fd, c.outbuf):]
        except BlockingIOError:
            pass
        except OSError:
            self.drop(c)
            return
        self.poll.modify(c.fd, select.POLLIN | (select.POLLOUT if c.outbuf else 0))

    def drop(self, c: "Client") -> None:
        if self.clients.pop(c.fd, None) is not None:
            self.poll.unregister(c.fd)
            os.close(c.fd)
            for cid in list(c.attached):  # a session that vanished ends like one that closed
                self.stdin_end(c, cid)

    def accept(self) -> None:
        try:
            fd, _ = self.listener._accept()
        except OSError:
            return
        os.set_blocking(fd, False)
        self.clients[fd] = Client(fd)
        self.had_client = True
        self.poll.register(fd, select.POLLIN)

    def readable(self, c: "Client") -> None:
        try:
            data = os.read(c.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.drop(c)
            return
        c.inbuf += data
        while b"\n" in c.inbuf:
            line, c.inbuf = c.inbuf.split(b"\n", 1)
            fields = line.decode(errors="replace").split("\0")
            try:
                self.request(c, fields[0], fields[1], fields[2:])
            except Exception as e:  # a bad request must not take the containers' monitor down
                self.send(c, fields[0], "err monitor: %s: %s" % (type(e).__name__, e))

    def request(self, c: "Client", seq: str, op: str, args: list) -> None:
        if op == "hello":
            self.send(c, seq, "ok %d" % os.getpid())
        elif op == "create":
            self.create(c, seq, *args)
        elif op == "runc":
            self.commands.start(c, seq, args)
        elif op == "signal":  # `runc kill ID SIG` without a process: see signal()
            self.send(c, seq, self.signal(args[0], int(args[1])))
        elif op == "wait":
            k = self.containers.get(args[0])
            if k is None or k.recorded:
                self.send(c, seq, "exited" if k is not None else "unknown")
            else:
                k.waiters.append((c, seq))
        elif op in ("stdin", "stdinattach", "stdinend"):
            k = self.containers.get(args[0])
            if op == "stdinend":
                self.stdin_end(c, args[0])
                self.send(c, seq, "ok")
            elif self.stdins.request(c, seq, op, k.stdin if k is not None else None, args[1:]):
                c.attached.add(args[0])
        elif op == "pin":
            self.send(c, seq, self.pin(args))
        elif op == "unpin":
            for key in args:
                fd = self.pins.pop(key, None)
                if fd is not None:
                    os.close(fd)
            self.send(c, seq, "ok")
        elif op == "pins":
            self.send(c, seq, " ".join(["ok %d" % os.getpid()] + ["%s=%d" % kv for kv in self.pins.items()]))
        elif op in ("bye", "shutdown"):
            self.reap()
            # containers still running keep us alive: say so now, the client just leaves;
            # so do held namespaces, unless the agent shuts us down
            if any(k.status is None for k in self.containers.values()) or (
                    op == "bye" and self.pins) or (
                    op == "bye" and any(o is not c and o.leaving is None for o in self.clients.values())):
                self.send(c, seq, "stay")
            elif op == "bye":
                c.leaving = seq
            else:
                c.shutdown = seq
        else:
            self.send(c, seq, "err unknown request %s" % op)

    # ---- namespaces held for the agent ----
    def pin(self, args: list) -> str:
        """`pin KEY PATH [KEY PATH...]`: open each PATH (the agent passes /proc/AGENT/fd/N of a
        namespace it just made) and keep it under KEY, replacing an older one; all or nothing.
        Replies `ok PID FD...`: the agent's paths are /proc/PID/fd/FD."""
        if not args or len(args) % 2:
            return "err pin needs KEY PATH pairs"
        fds = []
        try:
            for path in args[1::2]:
                fds.append(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        except OSError as e:
            for fd in fds:
                os.close(fd)
            return "err pin %s: %s" % (path, e.strerror)
        for key, fd in zip(args[0::2], fds):
            old = self.pins.pop(key, None)
            if old is not None:
                os.close(old)
            self.pins[key] = fd
        return " ".join(["ok %d" % os.getpid()] + [str(fd) for fd in fds])

    # ---- containers ----
    def signal(self, cid: str, sig: int) -> str:
        k = self.containers.get(cid)  # unknown: not started by us, the agent asks runc
        return "unknown" if k is None else signal_init(k.pid, k.status is not None, sig)

    # ---- stdin (kubectl attach -i: the requests are documented in StdinPipes.request) ----
    def stdin_end(self, c: "Client", cid: str) -> None:
        """A session's stdin ended (stdinend, or its connection went): closes stdinOnce stdin."""
        if cid in c.attached:
            c.attached.discard(cid)
            k = self.containers.get(cid)
            self.stdins.end(k.stdin if k is not None else None)

    def create(self, c: "Client", seq: str, cid: str, bundle: str, log_path: str, runc: str,
               runc_root: str, oom_files: str, max_size: str, max_files: str,
               mode: str = "create", stdin: str = "") -> None:
        """`runc create`, or with mode "run" `runc run --detach` (created and started by one
        runc process: one spawn of the Go runtime less on a pod's start path). `stdin` "open" or
        "once" (stdinOnce) gives the container a stdin pipe instead of /dev/null."""
        old = self.containers.get(cid)
        if old is not None and not old.recorded:
            self.send(c, seq, "err container %s is already being monitored" % cid)
            return
        if old is not None:  # an earlier instance with this id still draining: it is done
            self.forget(old)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        if stdin:  # the read end goes to runc, which passes its stdio on to the container
            null, in_w = os.pipe()
            os.set_blocking(in_w, False)
        else:
            null, in_w = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC), -1
        k = Container(cid, bundle, Log(log_path, int(max_size), int(max_files)),
                      [p for p in oom_files.split(":") if p])
        cmd = [runc, "--root", runc_root, "--log", os.path.join(bundle, CREATE_LOG), "--log-format", "json",
               *(("run", "--detach") if mode == "run" else ("create",)),
               "--bundle", bundle, "--pid-file", os.path.join(bundle, INIT_PID_FILE), cid]
        try:
            pid = os.posix_spawn(self.sealed.path(runc), cmd, self.runc_env, file_actions=[
                (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)])
        except OSError:
            for fd in (out_r, err_r) + ((in_w,) if in_w >= 0 else ()):
                os.close(fd)
            k.log.close()
            raise
        finally:
            for fd in (out_w, err_w, null):
                os.close(fd)
        if in_w >= 0:
            k.stdin = Stdin(in_w, stdin == "once")
        k.create_reply = (c, seq)
        k.pipes = {out_r: (b"stdout", bytearray()), err_r: (b"stderr", bytearray())}
        for fd in k.pipes:
            self.by_pipe[fd] = k
            self.poll.register(fd, select.POLLIN)
        self.containers[cid] = k
        self.by_runc[pid] = k

    def runc_done(self, k: "Container", status: int) -> None:
        c, seq = k.create_reply
        k.create_reply = None
        pid = 0
        if status == 0:
            try:
                with open(os.path.join(k.bundle, INIT_PID_FILE)) as f:
                    pid = int(f.read().strip())
            except (OSError, ValueError):
                pid = 0
        if not pid:
            err = runc_error(os.path.join(k.bundle, CREATE_LOG)) or (
                "runc create exited with status %d" % exit_code(status)[0])
            self.send(c, seq, "err " + err[:2000])
            self.forget(k)
            return
        k.pid = pid
        self.by_init[pid] = k
        self.send(c, seq, "ok %d" % pid)
        if pid in self.early:  # it died before we knew it was the init
            self.init_done(k, *self.early.pop(pid))

    def init_done(self, k: "Container", status: int, ns: int) -> None:
        self.by_init.pop(k.pid, None)
        self.stdins.close(k.stdin)  # nobody is left to read it
        k.status, k.finished = status, ns
        k.oom = oom_kills(k.oom_files) > 0  # now: `runc delete` removes the cgroup soon after
        if not k.pipes:
            self.record(k)
        else:
            k.deadline = time.monotonic() + DRAIN_GRACE
            self.draining.add(k)

    def record(self, k: "Container") -> None:
        try:
            write_exit(k.bundle, k.pid, k.status, k.oom, k.finished)
        except OSError as e:  # the bundle was removed first: nobody is left to read it
            sys.stderr.write("monitor: exit of %s: %s\n" % (k.id, e))
        k.recorded = True
        self.draining.discard(k)
        for c, seq in k.waiters:
            self.send(c, seq, "exited")
        k.waiters = []
        if not k.pipes:
            self.forget(k)

    def forget(self, k: "Container") -> None:
        self.draining.discard(k)
        self.stdins.close(k.stdin)
        for fd in list(k.pipes):
            self.close_pipe(k, fd)
        k.log.close()
        if self.containers.get(k.id) is k:
            del self.containers[k.id]
        for c, seq in k.waiters:  # a create that failed: nothing will exit
            self.send(c, seq, "unknown")

    def close_pipe(self, k: "Container", fd: int) -> None:
        del k.pipes[fd]
        del self.by_pipe[fd]
        self.poll.unregister(fd)
        os.close(fd)

    def output(self, k: "Container", fd: int) -> None:
        stream, buf = k.pipes[fd]
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        k.log.write(cri_lines(stream, buf, data, cri_timestamp(time.time_ns()), eof=not data))
        if data:
            return
        self.close_pipe(k, fd)
        if k.pipes:
            return
        if k.recorded:
            self.forget(k)
        elif k.status is not None:
            self.record(k)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.commands.exited(pid, status):
                continue
            k = self.by_runc.pop(pid, None)
            if k is not None:
                self.runc_done(k, status)
                continue
            k = self.by_init.get(pid)
            if k is not None:
                self.init_done(k, status, time.time_ns())
                continue
            # an orphan reparented to us (an exec's child), or an init whose runc we reap next
            self.early[pid] = (status, time.time_ns())
            while len(self.early) > 256:
                del self.early[next(iter(self.early))]

    # ---- the loop ----
    def should_exit(self) -> bool:
        if any(not k.recorded for k in self.containers.values()):
            return False
        if any(c.shutdown is not None for c in self.clients.values()):
            return True
        if self.pins and not self.clients:
            return False  # pods' namespaces: the agent comes back for them
        if any(c.leaving is None for c in self.clients.values()):
            return False
        return self.had_client or time.monotonic() - self.started > FIRST_CLIENT_WAIT

    def run(self) -> None:
        while not self.should_exit():
            now = time.monotonic()
            deadlines = [k.deadline for k in self.draining]
            if not self.had_client:
                deadlines.append(self.started + FIRST_CLIENT_WAIT)
            timeout = None if not deadlines else max(0, int((min(deadlines) - now) * 1000) + 1)
            for fd, ev in self.poll.poll(timeout):
                if fd == self.wake_r:
                    try:
                        while os.read(self.wake_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                    self.reap()
                elif fd == self.listener.fileno():
                    self.accept()
                elif fd in self.stdins.by_fd:
                    self.stdins.writable(fd)
                elif fd in self.by_pipe:
                    self.output(self.by_pipe[fd], fd)
                elif fd in self.commands.by_fd:
                    self.commands.readable(fd)
                elif fd in self.clients:
                    c = self.clients[fd]
                    if ev & select.POLLOUT:
                        self.flush(c)
                    if ev & (select.POLLIN | select.POLLHUP | select.POLLERR) and fd in self.clients:
                        self.readable(c)
            now = time.monotonic()
            for k in [k for k in self.draining if now >= k.deadline]:
                self.record(k)  # output still open (a process outside the pid namespace)
        # stop taking clients first, then tell the ones that asked
        self.poll.unregister(self.listener.fileno())
        self.listener.close()
        try:
            os.unlink(self.sock_path)
        except OSError:
            pass
        for c in list(self.clients.values()):
            if c.leaving is not None or c.shutdown is not None:
                self.send(c, c.shutdown if c.shutdown is not None else c.leaving, "exit")


def bind_path(path: str) -> str:
    """A unix socket address for `path`, through /proc/self/fd when it is too long for sun_path."""
    if len(path.encode()) < 100:
        return path
    d = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)  # kept open: the name uses it
    return "/proc/self/fd/%d/%s" % (d, os.path.basename(path))


def main(argv: list) -> int:
    root = argv[1].rstrip("/")
    sock_path = root + ".monitor.sock"
    for sig in (_signal.SIGPIPE, _signal.SIGHUP, _signal.SIGINT):
        _signal.signal(sig, _signal.SIG_IGN)
    lock = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # one monitor per state root
    except BlockingIOError:
        return 3  # another monitor holds the root: the client connects to it
    try:
        os.unlink(sock_path)  # a monitor that was killed left it
    except FileNotFoundError:
        pass
    listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    old = os.umask(0o077)
    try:
        listener.bind(bind_path(sock_path))
    finally:
        os.umask(old)
    listener.listen(128)
    listener.setblocking(False)
    if os.fork() > 0:
        os._exit(0)  # the starter reaps us at once; the monitor is reparented, nobody's child
    os.chdir("/")
    from ctypes import CDLL

    if CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.stderr.write("monitor: prctl(PR_SET_CHILD_SUBREAPER) failed\n")
        return 1
    m = Monitor(root, listener, sock_path)
    _signal.set_wakeup_fd(m.wake_w)
    _signal.signal(_signal.SIGCHLD, lambda *_: None)  # the wakeup fd is what we wait on
    m.reap()
    try:
        m.run()
    except BaseException:
        import traceback

        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
