"""`Poller`: `select.poll`'s interface over epoll, for the container monitor (stdlib only).

The monitor watches two output pipes per container: with 500 containers a `poll()` call walks
a thousand fds (and queues itself on each) every time anything happens; epoll reports only the
ready ones. Semantics kept from `select.poll`: `register` of a registered fd modifies it,
`unregister` of an unknown fd raises KeyError, `poll(timeout)` takes milliseconds (None or a
negative value: wait forever). An fd must be unregistered before it is closed (the monitor
does so everywhere); one closed while registered is dropped by the kernel, and a later
`register` of its reused number still works.
"""

import select

POLLIN = select.POLLIN
POLLOUT = select.POLLOUT
POLLHUP = select.POLLHUP
POLLERR = select.POLLERR


class Poller:
    def __init__(self) -> None:
        self._ep = select.epoll()  # close-on-exec: runc never inherits it
        self._fds = set()

    def register(self, fd: int, mask: int = POLLIN | POLLOUT) -> None:
        if fd in self._fds:
            try:
                self._ep.modify(fd, mask)
                return
            except FileNotFoundError:  # closed while registered: the kernel forgot it
                pass
        try:
            self._ep.register(fd, mask)
        except FileExistsError:  # a number we forgot, still registered in the kernel
            self._ep.modify(fd, mask)
        self._fds.add(fd)

    def modify(self, fd: int, mask: int) -> None:
        if fd not in self._fds:
            raise KeyError(fd)
        self.register(fd, mask)

    def unregister(self, fd: int) -> None:
        self._fds.remove(fd)  # KeyError, as select.poll
        try:
            self._ep.unregister(fd)
        except (FileNotFoundError, OSError):  # closed first: the kernel dropped it already
            pass

    def poll(self, timeout=None) -> list:
        seconds = -1 if timeout is None or timeout < 0 else timeout / 1000.0
        return self._ep.poll(seconds)

    def close(self) -> None:
        self._ep.close()
