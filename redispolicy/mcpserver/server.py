"""The MCP server: every use of the `mcp` SDK (and the HTTP stack under it) is in this module.

Tools are thin: each one calls tools.py (the same commands and stages as the CLI) in the SDK's
worker thread and returns the JSON ``-o json`` would print as structured content, with the
report's plain text as the text content. Annotations say what a tool can change *on this
server*: ``cleanup_old_cache`` is read-only unless started with --allow-cleanup, and
``set_memory_limit`` destructive only with --allow-apply (it changes the live server then).

Transports: stdio (the default), or streamable HTTP on a loopback address behind a bearer
token (``BearerAuth``: compared in constant time, 401 without it).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any

import anyio
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from redispolicy import __version__
from redispolicy.mcpserver import tools as t

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

Environment = Annotated[
    str, Field(description="The environment: the name of a policy file (e.g. production).")
]

INSTRUCTIONS = (
    "redispolicy keeps Redis/Valkey servers configured as a reviewed YAML policy. Read-only tools "
    "inspect; set_memory_limit only proposes (it edits the policy file and saves a plan a person "
    "applies with `redispolicy apply FILE`); cleanup_old_cache is a dry run unless the server was "
    "started with --allow-cleanup."
)


def _result(out: t.ToolOutput) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=out.text or "(no output)")],
        structured_content=out.data,
        is_error=out.error,
    )


def _guarded(call: Callable[[], t.ToolOutput]) -> CallToolResult:
    """A bug in a tool is one line naming its type, as the CLI says it: no traceback, nothing of the
    arguments or the environment (REDISPOLICY_DEBUG=1 lets it through to the SDK's log)."""
    try:
        return _result(call())
    except Exception as exc:
        if os.environ.get("REDISPOLICY_DEBUG"):
            raise
        return _result(
            t.ToolOutput(
                None,
                f"internal error: {type(exc).__name__}\n  hint: rerun the server with REDISPOLICY_DEBUG=1 "
                "for the traceback and report it",
                True,
            )
        )


def _actor(ctx: Context) -> str:
    params = ctx.session.client_params
    info = params.client_info if params is not None else None
    return t.client_name(info.name if info else None, info.version if info else None)


def _annotations(title: str, read_only: bool, destructive: bool = False) -> ToolAnnotations:
    return ToolAnnotations(
        title=title,
        read_only_hint=read_only,
        destructive_hint=destructive,
        idempotent_hint=True,
        open_world_hint=False,  # the policy's own servers and files, nothing else
    )


def build(settings: t.Settings, enabled: tuple[str, ...]) -> MCPServer:
    """The server with the tools of ``enabled`` (tools.TOOLS names, already checked)."""
    server: MCPServer = MCPServer(
        "redispolicy", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    s = settings

    def validate_policies() -> CallToolResult:
        """Validate every policy file of the policy directory (schema and Redis's rules); needs no server."""
        return _guarded(lambda: t.validate_policies(s))

    def explain(
        environment: Environment,
        parameter: Annotated[str | None, Field(description="Only this config parameter.")] = None,
    ) -> CallToolResult:
        """The effective policy of an environment: each value, normalized, with the file:line it came from."""
        return _guarded(lambda: t.explain(s, environment, parameter))

    def plan(
        environment: Environment,
        keys: Annotated[bool, Field(description="Also audit key TTLs against the key classes.")] = True,
    ) -> CallToolResult:
        """What `redispolicy apply` would change on the environment's server(s); changes nothing, saves nothing."""
        return _guarded(lambda: t.plan(s, environment, keys))

    def drift_report(
        environment: Environment,
        keys: Annotated[bool, Field(description="Also audit key TTLs against the key classes.")] = True,
    ) -> CallToolResult:
        """Config drift, key findings and health of every target of the environment."""
        return _guarded(lambda: t.drift_report(s, environment, keys))

    def monitor_memory_usage(
        environment: Environment,
        detailed: Annotated[
            bool, Field(description="Add per key class counts and memory (a key audit: slower).")
        ] = False,
    ) -> CallToolResult:
        """Memory used against maxmemory, hit rate, evicted and expired keys, judged by the policy's health rules."""
        return _guarded(lambda: t.monitor_memory_usage(s, environment, detailed))

    def cleanup_old_cache(
        ctx: Context,
        environment: Environment,
        key_class: Annotated[
            str, Field(description="The key class to clean up; its policy must have cleanup:.")
        ],
        older_than_hours: Annotated[
            float | None,
            Field(
                gt=0,
                le=t.MAX_HOURS,
                description="Only keys unread for longer than this (can only narrow the class's own rule).",
            ),
        ] = None,
        dry_run: Annotated[bool, Field(description="List only (default). false deletes, if allowed.")] = True,
    ) -> CallToolResult:
        """Delete keys of one key class that the policy lets `cleanup` delete (idle too long, or always).

        A dry run by default: counts what would be deleted. Deleting needs the server started with
        --allow-cleanup; otherwise the answer says what would be deleted and how to allow it.
        """
        actor = _actor(ctx)
        return _guarded(
            lambda: t.cleanup_old_cache(s, environment, key_class, older_than_hours, dry_run, actor)
        )

    def set_memory_limit(
        ctx: Context,
        environment: Environment,
        max_memory_mb: Annotated[
            int, Field(ge=1, le=t.MAX_MEMORY_MB, description="The new maxmemory in MiB.")
        ],
        eviction_policy: Annotated[t.Eviction | None, Field(description="The new maxmemory-policy.")] = None,
    ) -> CallToolResult:
        """Propose a new memory limit: edits the environment's policy file, validates it and saves a
        signed plan for `redispolicy apply FILE`. It never changes the server unless this MCP server was
        started with --allow-apply."""
        actor = _actor(ctx)
        return _guarded(lambda: t.set_memory_limit(s, environment, max_memory_mb, eviction_policy, actor))

    read: dict[str, tuple[Callable[..., CallToolResult], str]] = {
        "validate_policies": (validate_policies, "Validate policies"),
        "explain": (explain, "Explain an environment's policy"),
        "plan": (plan, "Plan (read-only)"),
        "drift_report": (drift_report, "Drift report"),
        "monitor_memory_usage": (monitor_memory_usage, "Memory usage"),
    }
    for name, (fn, title) in read.items():
        if name in enabled:
            server.add_tool(fn, name=name, annotations=_annotations(title, read_only=True))
    if "cleanup_old_cache" in enabled:
        title = "Clean up old cache keys" if s.allow_cleanup else "Clean up old cache keys (dry run only)"
        server.add_tool(
            cleanup_old_cache,
            name="cleanup_old_cache",
            annotations=_annotations(title, read_only=not s.allow_cleanup, destructive=s.allow_cleanup),
        )
    if "set_memory_limit" in enabled:
        # It writes a policy file (and a plan): never read-only; destructive only when it applies.
        title = "Set the memory limit" if s.allow_apply else "Propose a memory limit (policy edit + plan)"
        server.add_tool(
            set_memory_limit,
            name="set_memory_limit",
            annotations=_annotations(title, read_only=False, destructive=s.allow_apply),
        )
    return server


class BearerAuth:
    """ASGI middleware: every HTTP request needs ``Authorization: Bearer <token>``, else 401.

    Compared with ``hmac.compare_digest`` (constant time); the token is never logged or echoed.
    The lifespan scope passes through (it is the server starting, not a request).
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # the MCP transport is plain HTTP: nothing else gets through
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] == "http" and not self._authorized(scope):
            body = b'{"error": "unauthorized: send Authorization: Bearer <token>"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b'Bearer realm="redispolicy"'),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        given = b""
        for name, value in scope.get("headers", ()):
            if name.lower() == b"authorization":
                given = bytes(value)
                break
        return hmac.compare_digest(given, self.expected)


def serve_stdio(server: MCPServer) -> None:
    server.run("stdio")


def serve_http(server: MCPServer, host: str, port: int, token: str) -> None:
    app = BearerAuth(server.streamable_http_app(host=host), token)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    anyio.run(uvicorn.Server(config).serve)
