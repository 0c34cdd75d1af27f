"""``target.topology`` pinned in the policy against the deployment found: a drift finding when they differ.

Pure: judged from the ``Identity`` of the node the target's URL names (its INFO server mode,
its INFO replication role and how many replicas it feeds), which every drift check reads
anyway, so a single target, a discovered deployment and each entry of a fleet are judged
alike and no other node is contacted.

What each pin asks of that node:

- ``cluster``: it runs in cluster mode.
- ``replicas``: not cluster mode, and the deployment has a replica: the node is a replica,
  or a primary that feeds at least one (a primary left alone after every replica died is
  the finding worth having).
- ``standalone`` and ``sentinel``: not a cluster node. A primary with replicas is fine:
  ``standalone`` means "check the URL's node alone", not "has no replica".

A Sentinel process (the URL names a sentinel, not a data node) fits no pin. No pin, or a
node that was not reached, is no finding: the topology is then not checked, never passing.
"""

from __future__ import annotations

from redispolicy.diagnostics import Location
from redispolicy.live.model import Identity
from redispolicy.plan.drift import Finding


def found(node: Identity) -> str:
    """The deployment as the node shows it, for a finding's message."""
    if node.mode == "sentinel":
        return "a Sentinel process, not a data node"
    if node.mode == "cluster":
        return f"a Redis Cluster node ({'a replica' if node.role == 'slave' else 'a master'})"
    if node.role == "slave":
        return "a replica of a standalone primary (no cluster mode)"
    if node.replicas == 0:
        return "a standalone primary with no replica"
    return f"a standalone primary with {node.replicas} replica{'s' if node.replicas != 1 else ''}"


def fits(pinned: str, node: Identity) -> bool:
    """Whether the node found is what the pin says; see the module docstring."""
    if node.mode == "sentinel":
        return False
    if pinned == "cluster":
        return node.mode == "cluster"
    if pinned == "replicas":
        return node.mode == "standalone" and (node.role == "slave" or node.replicas > 0)
    return node.mode != "cluster"  # standalone, sentinel


def topology_finding(pinned: str | None, node: Identity, location: Location | None = None) -> Finding | None:
    """A critical ``topology`` finding when the node contradicts the pin; None without a pin, for a node
    that was not reached (mode ``unknown``), or when it fits. ``location``: the policy's topology line."""
    if not pinned or node.mode == "unknown" or fits(pinned, node):
        return None
    return Finding(
        "topology",
        "topology",
        f"pinned {pinned} (target.topology), found {found(node)}; "
        "check that the URL names the deployment meant, or change target.topology if it changed on purpose",
        "critical",
        location,
    )
