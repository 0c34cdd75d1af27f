"""Raw RESP on one pooled redis-py connection: commands packed once, replies parsed by hiredis.

The key audit sends about two commands per key. Going through a client library's
pipeline costs a Python call per command to encode it and another per reply; packing a
whole batch into one buffer and reading the replies straight off a hiredis reader
moves that work into C (measured in benchmarks/README.md). redis-py still owns the
connection: it connects, authenticates, negotiates TLS and selects the db.

This is the only module that imports hiredis.
"""

from __future__ import annotations

from typing import Any

import hiredis
import redis

_ERROR = hiredis.ReplyError


def pack(cmd: tuple[bytes, ...], keys: list[bytes], tail: tuple[bytes, ...] = ()) -> bytes:
    """RESP for ``cmd key tail...`` once per key, as one buffer."""
    n = len(cmd) + 1 + len(tail)
    head = b"*%d\r\n" % n + b"".join(b"$%d\r\n%s\r\n" % (len(c), c) for c in cmd)
    end = b"".join(b"$%d\r\n%s\r\n" % (len(t), t) for t in tail)
    if not end:
        return b"".join([b"%s$%d\r\n%s\r\n" % (head, len(k), k) for k in keys])
    return b"".join([b"%s$%d\r\n%s\r\n%s" % (head, len(k), k, end) for k in keys])


def command(*args: bytes) -> bytes:
    """RESP for one command."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


class Wire:
    """One connection taken from the client's pool for the length of a ``with`` block.

    Replies are returned as parsed by hiredis; an error reply is raised as
    ``redis.ResponseError`` after the whole batch has been read, so the connection is
    left clean. Leaving with replies still owed, or on any other failure, drops the
    connection: unread replies would poison the next command sent on it.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.pool = client.connection_pool
        self.conn: Any = None
        self.sock: Any = None
        self.reader = hiredis.Reader()
        self.buf = bytearray(1 << 16)
        self.owed = 0  # replies sent for and not read yet

    def __enter__(self) -> Wire:
        self.conn = self.pool.get_connection()
        try:
            self.conn.connect()  # a no-op when connected; fresh pool connections connect lazily
        except BaseException:
            self.pool.release(self.conn)
            raise
        # The connected (TLS-wrapped, authenticated) socket: a private attribute of redis-py's
        # Connection, there in 5.x to 8.x (pyproject pins redis < 9 for this reason).
        if not hasattr(self.conn, "_sock"):
            self.pool.release(self.conn)
            raise RuntimeError("this redis-py has no Connection._sock: redispolicy supports redis-py 5 to 8")
        self.sock = self.conn._sock
        if self.sock is None:
            self.pool.release(self.conn)
            raise redis.ConnectionError("the connection closed before the first command")
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self.owed or (exc_type is not None and not isinstance(exc, redis.ResponseError)):
            self.conn.disconnect()
        self.pool.release(self.conn)

    def send(self, data: bytes, replies: int) -> None:
        """Send packed commands that will get ``replies`` replies (read them with ``read``)."""
        self.owed += replies
        self.sock.sendall(data)

    def read(self, count: int) -> list[Any]:
        """The next ``count`` replies, in order."""
        self.owed -= count
        out: list[Any] = []
        append, gets, reader, buf, sock = out.append, self.reader.gets, self.reader, self.buf, self.sock
        while len(out) < count:
            reply = gets()
            if reply is False:
                got = sock.recv_into(buf)
                if not got:
                    raise redis.ConnectionError("the server closed the connection")
                reader.feed(buf, 0, got)  # type: ignore[arg-type]  # any buffer works; the stub says bytes
            else:
                append(reply)
        if _ERROR in set(map(type, out)):  # one C pass over the batch, not a check per reply
            first = next(r for r in out if isinstance(r, _ERROR))
            raise redis.ResponseError(str(first))
        return out
