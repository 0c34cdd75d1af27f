"""Connections from a policy target or --url: redis://, rediss://, unix://.

TLS verifies the server certificate by default (``tls.verify: false`` is an explicit,
visible opt-out). Credentials come from the URL or ``${VAR}``; they travel only as
``Secret`` until the moment redis-py needs them, and every address we print goes
through ``redact_url``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from redispolicy.errors import RedispolicyError
from redispolicy.secret import Secret

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 10.0
SCHEMES = ("redis", "rediss", "unix")


@dataclass(frozen=True)
class ConnectOptions:
    url: Secret
    username: str | None = None
    password: Secret | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_verify: bool = True
    decode_responses: bool = True  # False for key scans: key names stay bytes
    db: int | None = None  # override the URL's database (key scans visit every db)


def redact_url(url: str) -> str:
    """The URL with any password replaced: safe to print, log and store."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def address(url: str) -> str:
    """host:port (or the socket path) for reports."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"


def _without_db(url: str) -> str:
    """The URL without its database (the /N path of redis:// and rediss://, or a db= query)."""
    parts = urlsplit(url)
    base, _, query = url.partition("?")
    query = "&".join(q for q in query.split("&") if q and not q.startswith("db="))
    if parts.scheme != "unix" and parts.path:
        base = base[: len(base) - len(parts.path)] if base.endswith(parts.path) else base
    return f"{base}?{query}" if query else base


def for_node(opts: ConnectOptions, host: str, port: int) -> ConnectOptions:
    """The same connection to another node (a cluster master): only the host and port change.

    Scheme, user and password (in the URL, or beside it as Secrets), database, query options,
    TLS files and verification and the timeouts are kept; the new URL stays inside a Secret.
    A unix:// target's cluster peers are TCP nodes: they get redis://.
    """
    parts = urlsplit(opts.url.reveal())
    scheme = "redis" if parts.scheme == "unix" else parts.scheme
    userinfo, at, _ = parts.netloc.rpartition("@")
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    path = "" if parts.scheme == "unix" else parts.path
    url = urlunsplit((scheme, f"{userinfo}{at}{where}", path, parts.query, ""))
    return replace(opts, url=Secret(url))


def connect(opts: ConnectOptions) -> redis.Redis:
    url = opts.url.reveal()
    shown = redact_url(url)
    scheme = urlsplit(url).scheme
    if scheme not in SCHEMES:
        raise RedispolicyError(f"unsupported URL scheme in {shown!r}",
                               "use redis://host:port, rediss://host:port (TLS) or unix:///path/to/socket")
    kwargs: dict[str, Any] = {
        "socket_connect_timeout": opts.connect_timeout,
        "socket_timeout": opts.read_timeout,
        "decode_responses": opts.decode_responses,
        "client_name": "redispolicy",
        # No silent re-sends: after a lost connection the caller reads the server back
        # and decides; a library retry would blur what reached the server.
        "retry": Retry(NoBackoff(), 0),
    }
    if opts.db is not None:
        kwargs["db"] = opts.db
        url = _without_db(url)  # redis-py prefers the URL's /N or ?db=N over the db argument
    if opts.username:
        kwargs["username"] = opts.username
    if opts.password is not None:
        kwargs["password"] = opts.password.reveal()
    if scheme == "rediss":
        kwargs.update(ssl_cert_reqs="required" if opts.tls_verify else "none",
                      ssl_check_hostname=opts.tls_verify)
        if opts.tls_ca_file:
            kwargs["ssl_ca_certs"] = opts.tls_ca_file
        if opts.tls_cert_file:
            kwargs["ssl_certfile"] = opts.tls_cert_file
        if opts.tls_key_file:
            kwargs["ssl_keyfile"] = opts.tls_key_file
    try:
        client: redis.Redis = redis.Redis.from_url(url, **kwargs)
        client.ping()
    except redis.AuthenticationError:
        raise RedispolicyError(f"authentication to {shown} failed",
                               "check the user name and password variables of the target") from None
    except redis.ResponseError as exc:
        msg = str(exc)
        if msg.startswith("NOAUTH") or "NOPERM" in msg:
            raise RedispolicyError(f"{shown} refused the connection: {msg.split(chr(10))[0]}",
                                   "give the target a user and password with access") from None
        raise RedispolicyError(f"{shown}: {msg}", "check the target URL") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        reason = _reason(exc)
        raise RedispolicyError(f"cannot connect to {shown}: {reason}",
                               "check that the server is running and the URL, port and TLS settings") from None
    except ValueError as exc:  # from_url's own parsing
        raise RedispolicyError(f"invalid target URL {shown}: {exc}", "fix the URL") from None
    return client


def _reason(exc: Exception) -> str:
    text = str(exc).split("\n")[0]
    # redis-py's messages can echo the URL; keep only the reason after the last ". "
    return text or type(exc).__name__
