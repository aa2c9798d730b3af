"""The join of several processes before ``jax.distributed`` starts, and the watch over them after.

JAX's own join (``jax.distributed.initialize``) waits silently and, when a
process is missing, duplicated or dies, ends in a native abort (a C++ "Check
failure stack trace") after its timeouts. fnn first joins the processes over
one plain TCP connection each, to process 0 at the coordinator's address:

- process 0 listens at ``HOST:PORT`` (that address only); every other process
  connects and says who it is (process id, number of processes, host, pid);
  each side prints ``waiting for process k of n at HOST:PORT`` while it waits
  and gives up with :class:`JoinError` after ``timeout_s``;
- a process id given twice, or another number of processes, is named and
  makes every process that joined fail; a port already in use by another
  program is named as such;
- once every process joined, process 0 frees the port for JAX's coordination
  service (started there next) and the connections stay open: a process that
  dies closes its connection (the kernel does it), the others see it at once
  and exit with status 1 and one line naming it, where JAX would wait for
  missed heartbeats and abort. A normal exit says goodbye first and waits
  (at most ``shutdown_timeout_s``) until every process is exiting too; a
  process still running then (the one that exited met an error, the other
  waits in a collective) is stopped with one line and status 1, and so is
  the one that waited.

Messages are lines of JSON.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import socket
import sys
import threading
import time

WAIT_EVERY_S = 10.0  # how often the waiting message repeats
FIRST_WAIT_S = 1.0  # no message for a join that completes within this


class JoinError(RuntimeError):
    """The processes of a multi-process run could not join (missing, duplicated, mismatched)."""


def _send(sock: socket.socket, message: dict) -> None:
    try:
        sock.sendall((json.dumps(message) + "\n").encode())
    except OSError:
        pass  # the other side is gone: its reader reports it


class _Lines:
    """Reads JSON lines from a socket; ``None`` at end of stream."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def read(self, timeout: float | None = None) -> dict | None | str:
        """The next message; None at EOF; ``"timeout"`` when nothing came within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if left is not None and not select.select([self.sock], [], [], left)[0]:
                return "timeout"
            try:
                chunk = self.sock.recv(4096)
            except OSError:
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        try:
            return json.loads(line)
        except ValueError:
            return {"garbled": line[:80].decode(errors="replace")}


def _addrinfo(host: str, port: int) -> tuple:
    family, kind, proto, _, addr = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
    return family, addr


def _say(prog: str, text: str) -> None:
    print(f"{prog}: {text}", file=sys.stderr, flush=True)


class _Waiting:
    """Prints ``text()`` after ``FIRST_WAIT_S``, then every ``WAIT_EVERY_S`` seconds."""

    def __init__(self, prog: str) -> None:
        self.prog, self.t0, self.next = prog, time.monotonic(), time.monotonic() + FIRST_WAIT_S

    def tick(self, text: str) -> None:
        if time.monotonic() >= self.next:
            _say(self.prog, text)
            self.next = time.monotonic() + WAIT_EVERY_S


def _who(process_id: int, num_processes: int) -> dict:
    return {"fnn": 1, "process_id": process_id, "num_processes": num_processes, "host": socket.gethostname(),
            "pid": os.getpid()}


def _missing(joined: dict, n: int) -> str:
    ids = [k for k in range(1, n) if k not in joined]
    return ("process " if len(ids) == 1 else "processes ") + ", ".join(map(str, ids)) + f" of {n}"


# --------------------------------------------------------------------------
# process 0


def _listen(host: str, port: int, num_processes: int) -> socket.socket:
    """A listening socket at ``host:port``; a port in use is named (and a second process 0 detected)."""
    family, addr = _addrinfo(host, port)
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(addr)
    except OSError as err:
        server.close()
        if _is_fnn_coordinator(host, port, num_processes):
            raise JoinError(
                f"process id 0 was given to two processes: another process 0 already coordinates at "
                f"{host}:{port} (give each process its own process id in [0, {num_processes - 1}])") from None
        raise ValueError(
            f"coordinator port {port} on {host} is already in use by another program or run ({err.strerror}); "
            "choose a free port") from None
    server.listen(64)
    return server


def _is_fnn_coordinator(host: str, port: int, num_processes: int) -> bool:
    """Whether an fnn process 0 listens at ``host:port`` (it is then told about the duplicate)."""
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=2) as s:
            _send(s, dict(_who(0, num_processes), duplicate=True))
            reply = _Lines(s).read(timeout=2)
            return isinstance(reply, dict) and "error" in reply
    except OSError:
        return False


def _admit(conn: socket.socket, joined: dict, n: int, host: str, port: int) -> str | None:
    """Read a joiner's greeting into ``joined``; the error that ends the join (for every process), if any."""
    hello = _Lines(conn).read(timeout=5)
    if not isinstance(hello, dict) or hello.get("fnn") != 1:
        conn.close()  # not one of ours (a port scan, ...): ignore
        return None
    k, where = hello.get("process_id"), f"{hello.get('host')} pid {hello.get('pid')}"
    if hello.get("duplicate") or k == 0:
        error = (f"process id 0 was given to two processes (this one and {where}); give each process its own "
                 f"process id in [0, {n - 1}]")
    elif hello.get("num_processes") != n:
        error = (f"the processes were given different numbers of processes: process 0 has {n}, process {k} "
                 f"({where}) has {hello.get('num_processes')}")
    elif k in joined:
        error = (f"process id {k} was given to two processes ({joined[k][1]} and {where}); give each process "
                 f"its own process id in [0, {n - 1}]")
    else:
        joined[k] = (conn, where)
        return None
    _send(conn, {"error": error})
    conn.close()
    return error


def _coordinate(host: str, port: int, n: int, timeout_s: float, prog: str) -> dict[int, socket.socket]:
    server = _listen(host, port, n)
    joined: dict[int, tuple[socket.socket, str]] = {}
    wait, deadline, error = _Waiting(prog), time.monotonic() + timeout_s, None
    try:
        while len(joined) < n - 1 and error is None:
            left = deadline - time.monotonic()
            if left <= 0:
                error = (f"{_missing(joined, n)} did not join at {host}:{port} within {timeout_s:g} s "
                         "(started? the same coordinator address and number of processes? a firewall?)")
                break
            wait.tick(f"waiting for {_missing(joined, n)} to join at {host}:{port} ({left:.0f} s left)")
            if select.select([server], [], [], min(left, 0.5))[0]:
                conn, _ = server.accept()
                error = _admit(conn, joined, n, host, port)
    finally:
        server.close()  # the port is JAX's coordination service's from now on
    if error is not None:
        for conn, _ in joined.values():
            _send(conn, {"error": error})
            conn.close()
        raise JoinError(error)
    for conn, _ in joined.values():
        _send(conn, {"go": True})
    return {k: conn for k, (conn, _) in joined.items()}


# --------------------------------------------------------------------------
# the other processes


def _connect(host: str, port: int, k: int, n: int, timeout_s: float, prog: str) -> socket.socket:
    """Connected to process 0, greeted, and told that everyone joined."""
    wait, deadline = _Waiting(prog), time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise JoinError(f"process 0 of {n} (the coordinator) did not answer at {host}:{port} within "
                            f"{timeout_s:g} s (started? the same coordinator address? a firewall?)")
        wait.tick(f"waiting for process 0 of {n} (the coordinator) at {host}:{port} ({left:.0f} s left)")
        try:
            sock = socket.create_connection((host.strip("[]"), port), timeout=min(left, 2.0))
        except OSError:
            time.sleep(min(0.25, max(left, 0)))
            continue
        sock.settimeout(None)
        _send(sock, _who(k, n))
        # process 0 has its own deadline and says why it gave up: wait a little longer than it
        reply = _Lines(sock).read(timeout=left + 5)
        if isinstance(reply, dict) and reply.get("go"):
            return sock
        sock.close()
        if isinstance(reply, dict) and "error" in reply:
            raise JoinError(reply["error"])
        if reply == "timeout":
            raise JoinError(f"process 0 of {n} at {host}:{port} did not start the run within {timeout_s:g} s")
        time.sleep(0.25)  # not (yet) an fnn coordinator there: try again until the deadline


# --------------------------------------------------------------------------
# after the join: the watch


class Watch:
    """The open connections of a joined run: reports a process that dies; a barrier at exit."""

    def __init__(self, process_id: int, n: int, links: dict[int, socket.socket], where: str, prog: str,
                 shutdown_timeout_s: float) -> None:
        self.id, self.n, self.links, self.where, self.prog = process_id, n, links, where, prog
        self.shutdown_timeout_s = shutdown_timeout_s
        self.leaving: set[int] = set()
        self.lock, self.all_leaving, self.closing, self.exiting = threading.Lock(), threading.Event(), False, False
        for k, sock in links.items():
            threading.Thread(target=self._read, args=(k, sock), daemon=True, name=f"fnn-watch-{k}").start()
        atexit.register(self.close)

    def _read(self, k: int, sock: socket.socket) -> None:
        lines = _Lines(sock)
        while True:
            message = lines.read()
            if self.closing:
                return
            if message is None:
                self._died(k)
            elif message.get("bye"):
                self._leaves(k)
            elif message.get("end"):  # every process is exiting: process 0 closes next
                if not message.get("complete", True) and not self.exiting:
                    self._stop(0, f"exited while this process still runs (it waited {self.shutdown_timeout_s:g} s)")
                self.all_leaving.set()
                return
            elif message.get("abandon"):  # k waited in vain for this process at its exit
                if not self.exiting:
                    self._relay(k, "exited while the others still run")
                    self._stop(k, "exited while this process still runs")
            elif "died" in message:
                self._stop(message["died"], message.get("how", "died"))

    def _leaves(self, k: int) -> None:
        with self.lock:
            self.leaving.add(k)
            if self.id == 0 and len(self.leaving) == self.n:
                self.all_leaving.set()

    def _died(self, k: int) -> None:
        if k in self.leaving:  # said goodbye: gone as expected
            return
        self._relay(k, "died")
        self._stop(k, "died" if k else "died (the coordinator)")

    def _relay(self, k: int, how: str) -> None:
        """Process 0 tells the others what happened to process ``k`` (they stop too)."""
        if self.id == 0:
            for j, sock in self.links.items():
                if j != k:
                    _send(sock, {"died": k, "how": how})

    def _stop(self, k: int, how: str = "died") -> None:
        """One line on stderr, exit status 1 (``os._exit``: the collectives this process waits in never return)."""
        why = "" if "exited" in how else f" (its connection to {self.where} closed without a goodbye)"
        try:
            sys.stdout.flush()
        except Exception:  # noqa: BLE001 - stopping anyway
            pass
        os.write(2, f"{self.prog}: error: process {k} of {self.n} {how}{why}; stopping this process too\n".encode())
        os._exit(1)

    def close(self) -> None:
        """At exit: say goodbye, wait until every process is exiting (bounded), close."""
        if self.closing:
            return
        self.exiting = True
        if self.id == 0:
            self._leaves(0)
        else:
            _send(self.links[0], {"bye": True})
        complete = self.all_leaving.wait(self.shutdown_timeout_s)
        self.closing = True
        for sock in self.links.values():
            if self.id == 0:
                _send(sock, {"end": True, "complete": complete})
            elif not complete:
                _send(sock, {"abandon": True})
            try:
                if self.id != 0:
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass
        if not complete:  # the others still run: JAX's exit barrier would end in a native abort
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001 - exiting anyway
                    pass
            os._exit(1)


def join(host: str, port: int, process_id: int, num_processes: int, timeout_s: float, shutdown_timeout_s: float,
         prog: str) -> Watch:
    """Join the ``num_processes`` processes at ``host:port`` (see the module's docstring); the watch over them."""
    if process_id == 0:
        links = _coordinate(host, port, num_processes, timeout_s, prog)
    else:
        links = {0: _connect(host, port, process_id, num_processes, timeout_s, prog)}
    return Watch(process_id, num_processes, links, f"process 0 at {host}:{port}" if process_id else
                 f"{host}:{port}", prog, shutdown_timeout_s)
