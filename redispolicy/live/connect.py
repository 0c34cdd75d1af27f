"""Connections from a policy target or --url: redis://, rediss://, unix://.

TLS verifies the server certificate by default (``tls.verify: false`` is an explicit,
visible opt-out). Credentials come from the URL or ``${VAR}``; they travel only as
``Secret`` until the moment redis-py needs them, and every address we print goes
through ``redact_url``.

Every URL is checked here (``check_url``) before redis-py sees it. redis-py's
``from_url`` turns each query parameter into a connection argument that *overrides*
ours, so a URL kept in a CI secret, outside review, could switch TLS verification off
(``?ssl_cert_reqs=none``) or hand redis-py arguments it crashes on. And a password with
an unencoded ``#``, ``/`` or ``?`` splits the URL in the wrong place, so pieces of it end
up in the host, port or path that error messages print. The checks therefore never echo
the URL's text: they name the part that is wrong and how to write it.
"""

from __future__ import annotations

import ipaddress
import re
import warnings
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from redispolicy.errors import InsecureConnectionWarning, RedispolicyError
from redispolicy.secret import Secret

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 10.0
SCHEMES = ("redis", "rediss", "unix")

# Query parameters passed on to redis-py as they are. Anything else (protocol=3,
# decode_responses, connection_class, retry_*, ...) changes how replies are read or what
# is re-sent, and is refused rather than guessed at.
PLAIN_QUERY = frozenset(
    {
        "db",
        "username",
        "password",
        "socket_timeout",
        "socket_connect_timeout",
        "socket_keepalive",
        "health_check_interval",
    }
)
# TLS query parameters (rediss:// only), each checked against the policy's target.tls.
# Others (ssl_ciphers, ssl_min_version, ssl_*_verify_flags, ssl_ca_path, ...) are refused: the
# policy has no say over them, and most of them can only weaken the connection.
TLS_QUERY = frozenset(
    {"ssl_cert_reqs", "ssl_check_hostname", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_password"}
)
SECRET_QUERY = frozenset({"password", "ssl_password"})
FALSE_WORDS = frozenset({"0", "F", "FALSE", "N", "NO"})  # redis-py's to_bool: every other word is true
TLS_OFF = (
    "TLS verification is off (target.tls.verify: false): the server's certificate and host name are not "
    "checked, so anyone on the network path can pose as the server and read the credentials\n"
    "  hint: give the server's CA with target.tls.ca_file and remove verify: false"
)
URL_FORMS = "redis://[user:password@]host:port/db, rediss://host:port (TLS) or unix:///path/to/socket"
ENCODE_HINT = (
    "percent-encode the password in the URL ('#' is %23, '/' is %2F, '?' is %3F, '@' is %40, "
    "':' is %3A), or move it out of the URL into target.password: ${VAR}"
)


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


@dataclass(frozen=True)
class _Url:
    """A URL split the way redis-py splits it, once it is known to be unambiguous."""

    scheme: str
    user: str  # as written (percent-encoded); "" when none
    has_password: bool
    host: str  # lower case, IPv6 without brackets; "" for unix://
    port: int | None
    path: str  # redis/rediss: "" or /N; unix: the socket path
    query: tuple[tuple[str, str], ...]  # (name, decoded value), in order


class _Invalid(Exception):
    """Why a URL cannot be used; the message never contains the URL's own text."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


def _parse(url: str) -> _Url:
    """Split ``url`` without trusting it; raise _Invalid naming what is wrong."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        # urlsplit silently drops tabs and newlines: what we checked would not be what connects.
        raise _Invalid("it contains a space or a control character", ENCODE_HINT)
    scheme, sep, rest = url.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,19}", scheme):
        raise _Invalid("it does not start with a scheme such as redis://", f"write it as {URL_FORMS}")
    if "#" in rest:
        raise _Invalid(
            "it contains '#' (a password with an unencoded '#' cuts the URL short there)", ENCODE_HINT
        )
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, after = rest[:cut], rest[cut:]
    path, _, query = after.partition("?")
    userinfo, _, hostport = netloc.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    if scheme == "unix":
        if hostport:
            raise _Invalid(
                "a unix:// URL names no host (or a password with an unencoded '/' or '?' was cut there)",
                f"write unix:///path/to/socket or unix://user:password@/path; {ENCODE_HINT}",
            )
        if not path.strip("/"):
            raise _Invalid("it names no socket path", "write unix:///path/to/socket")
        host, port = "", None
    else:
        if "@" in after:
            raise _Invalid(
                "it has an '@' after the host (a password with an unencoded '/' or '?' is cut there)",
                ENCODE_HINT,
            )
        host, port = _host_port(hostport)
        if path not in ("", "/") and not re.fullmatch(r"/[0-9]{1,5}", path):
            raise _Invalid(
                "its path is not a database number (/0, /1, ...)",
                "write the database as /N after host:port, e.g. redis://host:6379/0",
            )
    return _Url(scheme, user, bool(colon), host, port, path, _query(query))


def _host_port(hostport: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        inside, close, tail = hostport[1:].partition("]")
        if not close or not _is_ipv6(inside):
            raise _Invalid(
                "its [...] host is not an IPv6 address", "write an IPv6 host as redis://[::1]:6379"
            )
        host, port_text = inside, tail.removeprefix(":")
        if tail and not tail.startswith(":"):
            raise _Invalid("something follows the ']' of its IPv6 host", "write redis://[::1]:6379")
    else:
        if hostport.count(":") > 1:
            raise _Invalid(
                "its host looks like an IPv6 address without brackets (or a password with an "
                "unencoded '/' or '?' was cut there)",
                f"write an IPv6 host in brackets, e.g. redis://[::1]:6379; {ENCODE_HINT}",
            )
        host, sep, port_text = hostport.partition(":")
        if sep and not port_text:
            raise _Invalid("the port after ':' is empty", "write host:port with a port from 1 to 65535")
        if any(ch in host for ch in "[]%\\"):
            raise _Invalid("its host contains '[', ']', '%' or '\\'", f"write it as {URL_FORMS}")
    if not host:
        raise _Invalid(
            "it names no host", "write the server's host name or IP address, e.g. redis://10.0.0.5:6379"
        )
    if not port_text:
        return host.lower(), None
    if not re.fullmatch(r"[0-9]{1,5}", port_text) or not 1 <= int(port_text) <= 65535:
        # The port's text is not shown: with a password cut short it can be part of the password.
        raise _Invalid(
            "its port is not a number from 1 to 65535", "write host:port, e.g. redis://10.0.0.5:6379"
        )
    return host.lower(), int(port_text)


def _is_ipv6(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text.split("%", 1)[0]), ipaddress.IPv6Address)
    except ValueError:
        return False


def _query(query: str) -> tuple[tuple[str, str], ...]:
    if not query:
        return ()
    out: list[tuple[str, str]] = []
    for part in query.split("&"):
        if not part:
            continue  # "?db=0&": redis-py skips empty parts too
        name, _, value = part.partition("=")
        # Names must be written plainly: redis-py decodes them (d%62 is db), and an unknown
        # name may be a piece of a password cut at '?', so it is never echoed.
        if name not in PLAIN_QUERY | TLS_QUERY:
            raise _Invalid(
                "it has a query parameter redispolicy does not pass on (not shown: it may be part of a "
                "password cut at an unencoded '?')",
                f"use only {', '.join(sorted(PLAIN_QUERY | TLS_QUERY))}; {ENCODE_HINT}",
            )
        if any(name == seen for seen, _ in out):
            raise _Invalid(f"it gives the query parameter {name} twice", f"keep one {name}=")
        out.append((name, dict(parse_qsl(f"v={value}", keep_blank_values=True)).get("v", "")))
    return tuple(out)


def check_url(opts: ConnectOptions) -> None:
    """Refuse a URL that is ambiguous, that redis-py would misread, or that weakens TLS.

    TLS settings in the query may repeat what the policy's target.tls says, never loosen it.
    The error names the part that is wrong, never the URL's text.
    """
    try:
        url = _parse(opts.url.reveal())
    except _Invalid as exc:
        raise RedispolicyError(f"the target URL is not valid: {exc.reason}", exc.hint) from None
    if url.scheme not in SCHEMES:
        raise RedispolicyError(f"unsupported URL scheme {url.scheme!r} in {_show(url)}", f"use {URL_FORMS}")
    for name, value in url.query:
        if name in TLS_QUERY:
            _check_tls_parameter(url.scheme, name, value, opts)


def _check_tls_parameter(scheme: str, name: str, value: str, opts: ConnectOptions) -> None:
    if scheme != "rediss":
        raise RedispolicyError(
            f"the target URL sets {name}, a TLS setting, but is not a rediss:// URL",
            f"use rediss:// for TLS, or remove {name}",
        )
    loosens = {
        "ssl_cert_reqs": value in ("none", "optional"),
        "ssl_check_hostname": value.upper() in FALSE_WORDS,
    }
    if name == "ssl_cert_reqs" and value not in ("none", "optional", "required"):
        raise RedispolicyError(
            "the target URL's ssl_cert_reqs is not none, optional or required",
            "remove it from the URL: certificates are verified unless target.tls says verify: false",
        )
    if loosens.get(name) and opts.tls_verify:
        raise RedispolicyError(
            f"the target URL turns TLS verification down ({name}={value}), which the policy does not say; the URL "
            "(often a CI secret) is not reviewed, so it may not weaken TLS",
            f"remove {name} from the URL; if this server really cannot be verified, say so in the reviewed "
            "policy with target.tls: {verify: false}, or give its CA with target.tls.ca_file",
        )
    policy_file = {
        "ssl_ca_certs": opts.tls_ca_file,
        "ssl_certfile": opts.tls_cert_file,
        "ssl_keyfile": opts.tls_key_file,
    }
    setting = {"ssl_ca_certs": "ca_file", "ssl_certfile": "cert_file", "ssl_keyfile": "key_file"}
    if name == "ssl_ca_certs" and value != opts.tls_ca_file:
        # Whoever picks the CA decides which certificates are trusted: that is the policy's call.
        raise RedispolicyError(
            "the target URL sets the trusted CA (ssl_ca_certs), and the policy's target.tls."
            "ca_file does not say the same file",
            "remove ssl_ca_certs from the URL and give the CA with target.tls.ca_file",
        )
    if name in ("ssl_certfile", "ssl_keyfile") and policy_file[name] not in (None, value):
        raise RedispolicyError(
            f"the target URL's {name} differs from the policy's target.tls.{setting[name]} "
            "(the URL's would win)",
            f"remove {name} from the URL, or make the two say the same file",
        )


def redact_url(url: str) -> str:
    """The URL with any password replaced: safe to print, log and store."""
    try:
        return _show(_parse(url))
    except _Invalid:
        return "(a target URL that does not parse; not shown)"


def _show(url: _Url) -> str:
    user = f"{url.user}:***@" if url.has_password else f"{url.user}@" if url.user else ""
    if url.scheme == "unix":
        where = url.path
    else:
        host = f"[{url.host}]" if ":" in url.host else url.host
        where = f"{host}:{url.port}{url.path}" if url.port else f"{host}{url.path}"
    query = "&".join(f"{n}=***" if n in SECRET_QUERY else f"{n}={v}" for n, v in url.query)
    return f"{url.scheme}://{user}{where}" + (f"?{query}" if query else "")


def address(url: str) -> str:
    """host:port (an IPv6 host in brackets), or the socket path, for reports."""
    try:
        parts = _parse(url)
    except _Invalid:
        return "(invalid address)"
    if parts.scheme == "unix":
        return parts.path
    host = parts.host or "127.0.0.1"
    return f"[{host}]:{parts.port or 6379}" if ":" in host else f"{host}:{parts.port or 6379}"


def _without_db(url: str) -> str:
    """The URL without its database (the /N path of redis:// and rediss://, or a db= query)."""
    base, _, query = url.partition("?")
    query = "&".join(q for q in query.split("&") if q and not q.startswith("db="))
    scheme, sep, rest = base.partition("://")
    if scheme.lower() != "unix":
        netloc = rest.split("/", 1)[0]  # check_url allows no '/' in the userinfo
        base = f"{scheme}{sep}{netloc}"
    return f"{base}?{query}" if query else base


def for_node(opts: ConnectOptions, host: str, port: int) -> ConnectOptions:
    """The same connection to another node (a cluster master): only the host and port change.

    Scheme, user and password (in the URL, or beside it as Secrets), database, query options,
    TLS files and verification and the timeouts are kept; the new URL stays inside a Secret.
    A unix:// target's cluster peers are TCP nodes: they get redis://.
    """
    url = opts.url.reveal()
    scheme, _, rest = url.partition("://")
    unix = scheme.lower() == "unix"
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, after = rest[:cut], rest[cut:]
    path, qmark, query = after.partition("?")
    userinfo, at, _ = netloc.rpartition("@")
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    new = f"{'redis' if unix else scheme}://{userinfo}{at}{where}{'' if unix else path}{qmark}{query}"
    return replace(opts, url=Secret(new))


def connect(opts: ConnectOptions) -> redis.Redis:
    check_url(opts)
    url = opts.url.reveal()
    shown = redact_url(url)
    scheme = url.partition("://")[0].lower()
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
        kwargs.update(
            ssl_cert_reqs="required" if opts.tls_verify else "none", ssl_check_hostname=opts.tls_verify
        )
        if opts.tls_ca_file:
            kwargs["ssl_ca_certs"] = opts.tls_ca_file
        if opts.tls_cert_file:
            kwargs["ssl_certfile"] = opts.tls_cert_file
        if opts.tls_key_file:
            kwargs["ssl_keyfile"] = opts.tls_key_file
        if not opts.tls_verify:
            # Not printed here (stages never print): main.py shows it once per run, on stderr.
            warnings.warn(InsecureConnectionWarning(TLS_OFF), stacklevel=2)
    try:
        client: redis.Redis = redis.Redis.from_url(url, **kwargs)
        client.ping()
    except redis.AuthenticationError:
        raise RedispolicyError(
            f"authentication to {shown} failed", "check the user name and password variables of the target"
        ) from None
    except redis.ResponseError as exc:
        msg = str(exc)
        if msg.startswith("NOAUTH") or "NOPERM" in msg:
            raise RedispolicyError(
                f"{shown} refused the connection: {msg.split(chr(10))[0]}",
                "give the target a user and password with access",
            ) from None
        raise RedispolicyError(f"{shown}: {msg}", "check the target URL") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        reason = _reason(exc)
        raise RedispolicyError(
            f"cannot connect to {shown}: {reason}",
            "check that the server is running and the URL, port and TLS settings",
        ) from None
    except (ValueError, redis.RedisError) as exc:  # from_url's own parsing and argument checks
        raise RedispolicyError(f"invalid target URL {shown}: {_reason(exc)}", "fix the URL") from None
    return client


def _reason(exc: Exception) -> str:
    text = str(exc).split("\n")[0]
    # redis-py's messages can echo the URL; keep only the reason after the last ". "
    return text or type(exc).__name__
