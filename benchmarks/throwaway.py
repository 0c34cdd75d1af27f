"""A throwaway redis-server for the benchmarks: 127.0.0.1 only, a free port, a temp dir,
no persistence, DEBUG allowed (for DEBUG POPULATE). Stopped on exit, and nothing else is."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def throwaway_server(binary: str = "redis-server") -> Iterator[tuple[int, redis.Redis]]:
    """(port, client) of a fresh server started from ``binary``."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                tmp,
                "--enable-debug-command",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=port)
        try:
            for _ in range(50):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.1)
            yield port, client
        finally:
            client.close()
            proc.terminate()
            proc.wait(timeout=30)
