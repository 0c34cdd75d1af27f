"""``allow_dangerous``: parameters that point the server at files or open code loading.

Such a parameter may be in a policy only when the policy also names it under
``allow_dangerous`` (see catalog/danger.py for which ones and why). The opt-in is
per parameter, in the reviewed file, so a reviewer sees it next to the change, and a
plan shows the change as dangerous. An opt-in that names nothing managed is flagged
too: a leftover opt-in is an open door nobody remembers opening.
"""

from __future__ import annotations

from redispolicy.catalog.danger import danger
from redispolicy.catalog.params import catalog
from redispolicy.diagnostics import Diagnostic, Severity
from redispolicy.policy.model import Policy
from redispolicy.policy.nodes import ScalarNode, SeqNode, json_path

E, W = Severity.ERROR, Severity.WARNING


def allowed(policy: Policy, canonical: str) -> bool:
    """Does the policy opt in to managing this (dangerous) parameter? Aliases count as the parameter."""
    cat = catalog()
    for name in policy.allow_dangerous:
        look = cat.lookup(name)
        if name == canonical or (look is not None and look.canonical == canonical):
            return True
    return False


def check_dangerous(policy: Policy) -> list[Diagnostic]:
    cat = catalog()
    out: list[Diagnostic] = []
    managed: set[str] = set()
    for s in policy.config:
        look = cat.lookup(s.name)
        if look is None:
            continue  # check_config reports unknown names
        managed.add(look.canonical)
        why = danger(look.param)
        if why is not None and not allowed(policy, look.canonical):
            out.append(
                Diagnostic(
                    "config-dangerous",
                    E,
                    f"'{s.name}' {why}: managing it needs an explicit opt-in",
                    s.value.source,
                    json_path(("config", s.name)),
                    hint=f"if this is intended, add `allow_dangerous: [{look.canonical}]` to the policy so "
                    "reviewers see it; otherwise manage it in the server's config file",
                )
            )
    node = policy.tree.get("allow_dangerous")
    items = node.items if isinstance(node, SeqNode) else ()
    for i, item in enumerate(items):
        if not isinstance(item, ScalarNode) or item.value is None:
            continue
        name = str(item.value)
        look = cat.lookup(name)
        path = json_path(("allow_dangerous", i))
        if look is None:
            out.append(
                Diagnostic(
                    "allow-dangerous-unknown",
                    E,
                    f"allow_dangerous names '{name}', which is not a parameter redispolicy knows",
                    item.loc,
                    path,
                    hint="check the name against CONFIG GET * on your server",
                )
            )
        elif danger(look.param) is None:
            out.append(
                Diagnostic(
                    "allow-dangerous-unused",
                    W,
                    f"allow_dangerous names '{name}', which needs no opt-in",
                    item.loc,
                    path,
                    hint=f"remove '{name}' from allow_dangerous",
                )
            )
        elif look.canonical not in managed:
            out.append(
                Diagnostic(
                    "allow-dangerous-unused",
                    W,
                    f"allow_dangerous names '{name}', which this policy does not manage",
                    item.loc,
                    path,
                    hint=f"remove '{name}' from allow_dangerous, or manage it under config",
                )
            )
    return out
