"""Short runc commands (`delete`, `state`, `list`, `kill`) run by the container monitor for the agent.

The agent's event loop is kubeproc's bottleneck under load; spawning a process from it (vfork +
a child-watcher thread per process) cost ~20 % of its time in a 300-pod scale-down. The monitor
posix_spawns these from a small process instead and replies once the command exited and its
output is drained: `done RC B64(stdout) B64(stderr)`; a plain kill is a signal from the monitor
to its child (`signal_init`). Stdlib only: monitor.py loads it as a plain sibling module.
"""

import binascii
import os
import select


class Command:
    """One runc command in flight: who asked, its output pipes, and its wait status once reaped."""

    __slots__ = ("client", "seq", "out", "err", "bufs", "open", "status")

    def __init__(self, client: object, seq: str, out_fd: int, err_fd: int) -> None:
        self.client, self.seq, self.out, self.err = client, seq, out_fd, err_fd
        self.bufs = {out_fd: bytearray(), err_fd: bytearray()}  # output read so far
        self.open = {out_fd, err_fd}  # pipes not at EOF yet
        self.status = None  # wait status once reaped

    def done(self) -> bool:
        return self.status is not None and not self.open

    def reply(self) -> str:
        return encode_reply(self.status, self.bufs[self.out], self.bufs[self.err])


class Commands:
    """The commands in flight, by pid and by output fd; `send(client, seq, text)` replies."""

    def __init__(self, poll: "select.poll", send: object) -> None:
        self.poll, self.send = poll, send
        self.by_pid = {}  # pid -> Command
        self.by_fd = {}  # output fd -> Command

    def start(self, client: object, seq: str, argv: list) -> None:
        pid, out_r, err_r = spawn(argv)
        cmd = Command(client, seq, out_r, err_r)
        for fd in cmd.open:
            self.by_fd[fd] = cmd
            self.poll.register(fd, select.POLLIN)
        self.by_pid[pid] = cmd

    def readable(self, fd: int) -> None:
        cmd = self.by_fd[fd]
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if data:
            cmd.bufs[fd] += data
            return
        cmd.open.discard(fd)
        del self.by_fd[fd]
        self.poll.unregister(fd)
        os.close(fd)
        if cmd.done():
            self.send(cmd.client, cmd.seq, cmd.reply())  # type: ignore[operator]

    def exited(self, pid: int, status: int) -> bool:
        """A reaped child: True if it was one of ours (replied once its output is drained too)."""
        cmd = self.by_pid.pop(pid, None)
        if cmd is None:
            return False
        cmd.status = status
        if cmd.done():
            self.send(cmd.client, cmd.seq, cmd.reply())  # type: ignore[operator]
        return True


def signal_init(pid: int, reaped: bool, sig: int) -> str:
    """`runc kill ID SIG` (libcontainer Signal, not --all) for a container whose init is the
    monitor's child: safe from pid reuse, since the pid stays the init's until it is reaped.
    "ok", "exited" (runc: container not running), or "unknown" (ask runc: no init yet, or a
    `runc init` that has not exec'd the process and may swallow the signal)."""
    if not pid:
        return "unknown"
    if reaped:
        return "exited"
    try:
        with open("/proc/%d/comm" % pid, "rb") as f:
            comm = f.read()
    except OSError:
        comm = b""
    if comm.startswith(b"runc:["):
        return "unknown"
    os.kill(pid, sig)
    return "ok"


def spawn(argv: list) -> "tuple[int, int, int]":
    """Start `argv` with stdin /dev/null and piped stdout/stderr: (pid, stdout fd, stderr fd)."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
            (os.POSIX_SPAWN_DUP2, err_w, 2)])
    except OSError:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        for fd in (out_w, err_w, null):
            os.close(fd)
    return pid, out_r, err_r


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(bytes(data), newline=False).decode() or "="


def encode_reply(status: int, out: bytes, err: bytes) -> str:
    """The reply for a finished command (one line: base64 keeps its output's newlines)."""
    return "done %d %s %s" % (os.waitstatus_to_exitcode(status), _b64(out), _b64(err))


def decode_reply(rest: str) -> "tuple[int, bytes, bytes]":
    """`RC B64OUT B64ERR` (the reply after its `done` word) → (exit code, stdout, stderr)."""
    rc, out, err = rest.split(" ")
    return int(rc), _unb64(out), _unb64(err)


def _unb64(field: str) -> bytes:
    return b"" if field == "=" else binascii.a2b_base64(field)
