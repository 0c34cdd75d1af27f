"""`redispolicy mcp`: the tools an assistant may call over the Model Context Protocol.

Named ``mcpserver`` so it never shadows the SDK's own top-level ``mcp`` package. ``tools``
and ``policyedit`` hold what the tools do and need no SDK; ``server`` is the one module that
imports it (installed with the ``redispolicy[mcp]`` extra).
"""
