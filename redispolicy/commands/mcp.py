"""redispolicy mcp: serve the MCP tools over stdio, or streamable HTTP behind a bearer token.

Everything that can be refused is refused here, before the SDK is imported or a port opened:
an unknown tool name, a non-loopback address without --allow-remote, a missing or short
token, --no-write with --allow-apply, and the SDK itself missing (``pip install
'redispolicy[mcp]'``). Serving blocks until the client closes stdin (stdio) or Ctrl-C.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

from redispolicy.commands import Options, Result
from redispolicy.errors import RedispolicyError, UsageError
from redispolicy.mcpserver.tools import TOOLS, Settings, default_plan_dir

TOKEN_ENV = "REDISPOLICY_MCP_TOKEN"
MIN_TOKEN = 16  # characters: a guessable token is no protection on a shared port
INSTALL = "pip install 'redispolicy[mcp]'"


@dataclasses.dataclass(frozen=True)
class McpRequest:
    """`redispolicy mcp`'s flags, by name."""

    tools: tuple[str, ...] = TOOLS
    http: str | None = None  # HOST:PORT for streamable HTTP; None: stdio
    allow_remote: bool = False  # --http on a non-loopback address
    token_env: str = TOKEN_ENV
    allow_cleanup: bool = False
    allow_apply: bool = False
    no_write: bool = False
    plan_dir: Path | None = None
    audit_log: Path | None = None


def parse_tools(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    unknown = [n for n in names if n not in TOOLS]
    if not names or unknown:
        raise UsageError(
            f"--tools: {'unknown tool ' + ', '.join(map(repr, unknown)) if unknown else 'no tool named'}",
            f"name tools from: {', '.join(TOOLS)}",
        )
    return names


def parse_address(value: str, allow_remote: bool) -> tuple[str, int]:
    """--http HOST:PORT (IPv6 in brackets), a loopback host unless ``allow_remote``."""
    host, sep, port_text = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise UsageError(
            f"--http {value!r}: expected HOST:PORT with a port from 1 to 65535",
            "e.g. --http 127.0.0.1:8765",
        )
    if not allow_remote and not _loopback(host):
        raise UsageError(
            f"--http {value!r}: {host} is not a loopback address, so other machines could reach the tools",
            "use 127.0.0.1 (or ::1, localhost), or pass --allow-remote (behind TLS termination) if you mean it",
        )
    return host, int(port_text)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token(environ: dict[str, str], name: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise RedispolicyError(
            f"--http needs a bearer token in ${name}, which is not set; the server was not started",
            f"export {name}=$(openssl rand -hex 32) and give the MCP client the same token",
        )
    if len(value) < MIN_TOKEN or value != value.strip():
        raise RedispolicyError(
            f"the token in ${name} is shorter than {MIN_TOKEN} characters or has surrounding spaces; "
            "the server was not started",
            f"export {name}=$(openssl rand -hex 32)",
        )
    return value


def run(opts: Options, req: McpRequest) -> Result:
    if req.no_write and req.allow_apply:
        raise UsageError(
            "--no-write and --allow-apply together: a plan can only be applied from an edited policy file",
            "drop one of them",
        )
    address = parse_address(req.http, req.allow_remote) if req.http is not None else None
    secret = token(opts.environ, req.token_env) if address is not None else ""
    settings = Settings(
        policy_dir=opts.policy_dir,
        environ=opts.environ,
        plan_dir=req.plan_dir or default_plan_dir(opts.environ),
        allow_cleanup=req.allow_cleanup,
        allow_apply=req.allow_apply,
        no_write=req.no_write,
        audit_log=req.audit_log,
    )
    try:
        from redispolicy.mcpserver import server
    except ImportError as exc:
        raise RedispolicyError(
            f"redispolicy mcp needs the MCP SDK, which is not installed ({exc.name or 'mcp'} is missing)",
            f"install it with `{INSTALL}`",
        ) from None
    app = server.build(settings, req.tools)
    if address is None:
        server.serve_stdio(app)
    else:
        server.serve_http(app, address[0], address[1], secret)
    return Result("", 0)
