"""A fault-injecting TCP proxy for the apply and key-audit tests: 127.0.0.1 only, threads stopped by ``stop()``.

    with FaultProxy(server.port) as proxy:
        proxy.arm(Cut(("CONFIG", "SET"), nth=2, when="after_send"), refuse_for=5.0)
        run(["apply", plan, "--url", proxy.url, ...])

The proxy parses the client->server stream into RESP commands (arrays of bulk strings, as
redis-py sends them) and forwards them one command at a time, so a cut lands exactly
between two commands even when a pipeline sends several in one segment. A cut closes both
sockets of the connection it happens on:

``when="before"``      the matching command is never forwarded: the server does not see it;
``when="after_send"``  the command is forwarded, the proxy waits for the server's reply
                       (so the command has certainly run) and drops it: the client sees the
                       connection die with its command in flight.

``nth`` counts matching commands on every connection since ``arm``; ``after`` makes the
count start only once a command matching that prefix has passed (e.g. the first
``CONFIG GET`` after a ``CONFIG SET``). Each cut fires once; ``arm`` takes several, which
fire one after the other (the second counts from the moment the first fired).
``refuse_for`` makes the proxy accept and immediately close new connections for that many
seconds after a cut, so a client that tries to reconnect cannot reach the server.

``when="hold"`` is a stall, not a cut: the matching command and every later command on
every connection, open or new (a lock's keep-alive too), wait until ``release()``, as
behind a network that stopped moving; ``held`` is set once it fired. Replies already on
their way still arrive. Another client that must get through goes to the server directly.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from dataclasses import dataclass

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Cut:
    match: tuple[str, ...]  # command prefix, case-insensitive: ("CONFIG", "SET")
    nth: int = 1  # the nth matching command (1 = the first)
    when: str = "before"  # "before" | "after_send" | "hold"
    after: tuple[str, ...] | None = None  # start counting once a command with this prefix passed

    def __post_init__(self) -> None:
        if self.when not in ("before", "after_send", "hold"):
            raise ValueError(f"when must be 'before', 'after_send' or 'hold', not {self.when!r}")
        if self.nth < 1:
            raise ValueError("nth counts from 1")


def _prefix(command: list[bytes], match: tuple[str, ...]) -> bool:
    if len(command) < len(match):
        return False
    return all(a.lower() == b.lower().encode() for a, b in zip(command, match, strict=False))


def parse_command(buf: bytes) -> tuple[list[bytes], int] | None:
    """One complete RESP command at the start of ``buf``: (arguments, bytes used), or None if incomplete.

    Inline commands (a plain line, as telnet sends) are accepted too.
    """
    if not buf:
        return None
    if buf[:1] != b"*":
        end = buf.find(b"\r\n")
        return None if end < 0 else (buf[:end].split(), end + 2)
    end = buf.find(b"\r\n")
    if end < 0:
        return None
    count = int(buf[1:end])
    pos = end + 2
    args: list[bytes] = []
    for _ in range(max(count, 0)):
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return None
        if buf[pos : pos + 1] != b"$":
            raise ValueError(f"unexpected RESP from the client: {buf[pos : pos + 20]!r}")
        size = int(buf[pos + 1 : end])
        start = end + 2
        if len(buf) < start + size + 2:
            return None
        args.append(buf[start : start + size])
        pos = start + size + 2
    return args, pos


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of a server on 127.0.0.1:``target_port``.

    ``target_port`` may be changed at any time: new connections go to the new port (a
    server restarted elsewhere keeps the address the tool was given).
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self._cuts: list[Cut] = []
        self._refuse_for = 0.0
        self._seen = 0
        self._counting = False
        self._refuse_until = 0.0
        self.fired_count = 0  # cuts that fired since arm
        self.commands: list[list[bytes]] = []  # every command forwarded or cut, in order
        self.refused = 0  # connections turned away while refusing
        self.held = threading.Event()  # a "hold" cut fired: commands wait for release()
        self._flowing = threading.Event()
        self._flowing.set()
        self._accepter = threading.Thread(target=self._accept_loop, name="fault-proxy-accept", daemon=True)
        self._accepter.start()

    # -- control -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def arm(self, *cuts: Cut, refuse_for: float = 0.0) -> None:
        with self._lock:
            self._cuts, self._refuse_for, self._seen = list(cuts), refuse_for, 0
            self._counting = not cuts or cuts[0].after is None
            self.fired_count = 0

    def disarm(self) -> None:
        with self._lock:
            self._cuts = []

    def release(self) -> None:
        """Let the commands held by a "hold" cut (and all after it) go on to the server."""
        self._flowing.set()

    def names(self) -> list[str]:
        """The commands seen, as 'CONFIG SET maxmemory ...' strings (for assertion messages)."""
        with self._lock:
            return [b" ".join(c).decode(errors="replace") for c in self.commands]

    def stop(self) -> None:
        self._stop.set()
        self._flowing.set()
        self._accepter.join(timeout=5)
        with self._lock:
            socks = list(self._sockets)
            threads = list(self._threads)
        for s in socks:
            _close(s)
        for t in threads:
            t.join(timeout=5)
        _close(self._listener)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -----------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if time.monotonic() < self._refuse_until:
                self.refused += 1
                _close(client)
                continue
            try:
                upstream = socket.create_connection((HOST, self.target_port), timeout=5)
            except OSError:  # the server is down: behave like it, close the client
                _close(client)
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            t = threading.Thread(
                target=self._pump, args=(client, upstream), name="fault-proxy-conn", daemon=True
            )
            with self._lock:
                self._threads.append(t)
            t.start()

    def _decide(self, command: list[bytes]) -> str | None:
        """'before' / 'after_send' when this command triggers the armed cut, else None."""
        with self._lock:
            self.commands.append(command)
            if not self._cuts:
                return None
            cut = self._cuts[0]
            if not self._counting:
                if cut.after is not None and _prefix(command, cut.after):
                    self._counting = True
                return None
            if not _prefix(command, cut.match):
                return None
            self._seen += 1
            if self._seen < cut.nth:
                return None
            self._cuts.pop(0)  # one shot; the next cut counts from here
            self._seen = 0
            self._counting = not self._cuts or self._cuts[0].after is None
            self.fired_count += 1
            self._refuse_until = time.monotonic() + self._refuse_for
            if cut.when == "hold":
                self._flowing.clear()
                self.held.set()
            return cut.when

    def _wait_flowing(self) -> bool:
        """Wait while a hold is on; False when the proxy stops meanwhile."""
        while not self._flowing.wait(0.05):
            if self._stop.is_set():
                return False
        return not self._stop.is_set()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        buf = b""
        try:
            client.settimeout(None)
            upstream.settimeout(None)
            sel.register(client, selectors.EVENT_READ)
            sel.register(upstream, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.05):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    if key.fileobj is upstream:
                        client.sendall(data)
                        continue
                    buf += data
                    while True:
                        parsed = parse_command(buf)
                        if parsed is None:
                            break
                        command, used = parsed
                        raw, buf = buf[:used], buf[used:]
                        decision = self._decide(command)
                        if decision == "before":
                            return
                        if not self._wait_flowing():
                            return
                        upstream.sendall(raw)
                        if decision == "after_send":
                            # Wait for the reply, so the command has run, then drop it.
                            upstream.settimeout(5)
                            with contextlib.suppress(OSError):
                                upstream.recv(65536)
                            return
        except OSError:
            return
        finally:
            sel.close()
            for s in (client, upstream):
                _close(s)
            with self._lock:
                self._sockets.discard(client)
                self._sockets.discard(upstream)


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()
