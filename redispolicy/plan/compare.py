"""compare(policy, identity, snapshot) -> Plan, on normalized values only.

A naive string compare of CONFIG GET output gives false drift (``1gb`` vs
``1073741824``, ``Ex`` vs ``xE``, ``slave-read-only`` vs ``replica-read-only``).
Both sides go through the same normalizer, and unchanged values never become
changes: re-sending ``bind`` would reopen the listening sockets.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass

from redispolicy.catalog.danger import danger
from redispolicy.catalog.normalize import normalize
from redispolicy.catalog.params import Lookup, catalog
from redispolicy.live.model import ConfigSnapshot, Identity
from redispolicy.plan.ignore import live_rules
from redispolicy.plan.model import Action, Change, Plan
from redispolicy.plan.structdiff import differing_keys
from redispolicy.policy.model import Policy, Setting
from redispolicy.secret import REDACTED, Secret

_LOCAL_HOSTS = ("127.", "localhost", "::1", "/")


def active_ignores(policy: Policy, today: datetime.date) -> set[str]:
    """Parameter names an ``ignore:`` rule takes out of management today (expired rules do not)."""
    return {r.parameter.lower() for r in live_rules(policy.ignore, today) if r.parameter}


def compare(
    policy: Policy, identity: Identity, snapshot: ConfigSnapshot, today: datetime.date | None = None
) -> Plan:
    if not snapshot.available:
        return Plan(policy.environment, identity, (), False, snapshot.reason)
    cat = catalog()
    ignored = active_ignores(policy, today or datetime.date.today())
    managed = []
    for setting in policy.config:
        look = cat.lookup(setting.name)
        if look is None or setting.canonical in ignored or setting.name.lower() in ignored:
            continue  # validate reports unknown names; ignored ones are not managed
        managed.append((setting, look, _sides(setting, look, identity, snapshot)))
    # One structural diff of the whole managed configuration, live against policy (normalized;
    # secrets as digests): the names it reports are the changes, everything else is a noop.
    changed = _changed_names({s.name: s.compared for _, _, s in managed if s.name is not None})
    changes = [
        _change(setting, look, s, s.name in changed, identity, snapshot) for setting, look, s in managed
    ]
    return Plan(policy.environment, identity, tuple(changes))


def hidden_names(policy: Policy, identity: Identity) -> list[str]:
    """Managed parameters this server hides from CONFIG GET * (asked for by exact name instead)."""
    sc = catalog().for_server(identity.product, identity.version)
    hidden = sc.hidden_names()
    out = []
    for setting in policy.config:
        look = sc.lookup(setting.name)
        if look is not None and look.canonical in hidden:
            out.append(look.canonical)
    return out


def _text(value: str | Secret) -> str:
    return value.reveal() if isinstance(value, Secret) else value


def server_name(look: Lookup, identity: Identity, snapshot: ConfigSnapshot) -> str | None:
    """The name under which this server knows the parameter, if it does.

    For versions the catalog covers, its per-version table decides (Valkey 8 calls
    masterauth primaryauth); for others, the names the server actually returned do.
    """
    sc = catalog().for_server(identity.product, identity.version)
    if sc.covered:
        here = sc.lookup(look.canonical) or (sc.lookup(look.via_alias) if look.via_alias else None)
        if here is None:
            return None
        for name in (here.canonical, look.canonical, look.via_alias):
            if name and name in snapshot.values:
                return name
        return None
    for name in (look.canonical, look.via_alias, *look.param.aliases):
        if name and name in snapshot.values:
            return name
    for alias, primary in catalog().aliases.items():  # e.g. Valkey 8: masterauth -> primaryauth
        if primary == look.canonical and alias in snapshot.values:
            return alias
        if alias == look.canonical and primary in snapshot.values:
            return primary
    return None


def _changed_names(pairs: dict[str, tuple[str | None, str]]) -> set[str]:
    """Names whose normalized live value differs from the policy's, by DeepDiff over the two maps.

    Sensitive values enter only as digests, so the diff's own objects hold no secret.
    """
    live = {name: before for name, (before, _) in pairs.items() if before is not None}
    want = {name: after for name, (_, after) in pairs.items()}
    return differing_keys(live, want)  # every live name is wanted: none is only on the live side


def _digest(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class _Sides:
    """One managed parameter's two sides, normalized: what the server has and what the policy wants."""

    name: str | None  # the name this server uses; None: the server does not have it
    before: str | None
    desired: str  # normalized; client-output-buffer-limit: merged with the live classes
    send: str  # what CONFIG SET gets
    compared: tuple[str | None, str]  # what the diff sees (digests for sensitive parameters)


def _sides(setting: Setting, look: Lookup, identity: Identity, snapshot: ConfigSnapshot) -> _Sides:
    p = look.param
    value = setting.value.value
    if value is None:
        raise ValueError(f"{setting.name}: unresolved value reached compare")  # resolve() guards this
    desired = normalize(p, _text(value))
    name = server_name(look, identity, snapshot)
    if name is None:
        return _Sides(None, None, desired, desired, (None, desired))
    live_text = _text(snapshot.values[name])
    try:
        before = normalize(p, live_text)
    except (ValueError, OverflowError):
        before = live_text  # a live value we cannot parse is compared as written
    send = desired
    if p.name == "client-output-buffer-limit":
        desired, send = _merge_cobl(before, desired)
    compared = (before, desired) if not p.sensitive else (_digest(before), _digest(desired))
    return _Sides(name, before, desired, send, compared)


def _change(
    setting: Setting, look: Lookup, s: _Sides, changed: bool, identity: Identity, snapshot: ConfigSnapshot
) -> Change:
    p = look.param
    sensitive = p.sensitive
    dangerous = danger(p) is not None
    if s.name is None:
        return Change(
            look.canonical,
            None,
            REDACTED if sensitive else s.desired,
            "unsupported",
            setting.value.source,
            sensitive,
            Secret(s.desired) if sensitive else s.desired,
            dangerous,
        )
    action: Action
    if not changed:
        action = "noop"
    elif not p.mutable:
        action = "restart"
    elif p.protected and not _protected_allowed(snapshot, identity):
        action = "protected"
    else:
        action = "set"
    if sensitive:
        return Change(
            s.name, REDACTED, REDACTED, action, setting.value.source, True, Secret(s.send), dangerous
        )
    return Change(s.name, s.before, s.desired, action, setting.value.source, False, s.send, dangerous)


def _merge_cobl(live: str, desired: str) -> tuple[str, str]:
    """The policy may give some client classes; the others keep their live limits."""

    def classes(text: str) -> dict[str, str]:
        words = text.split()
        return {words[i]: " ".join(words[i + 1 : i + 4]) for i in range(0, len(words) - 3, 4)}

    merged = classes(live)
    merged.update(classes(desired))
    order = ["normal", "replica", "pubsub"]
    full = " ".join(f"{c} {merged[c]}" for c in order if c in merged)
    return full, desired


def _protected_allowed(snapshot: ConfigSnapshot, identity: Identity) -> bool:
    if "enable-protected-configs" not in snapshot.values:
        return True  # before Redis 7.0 there are no protected configs: dir is settable
    mode = _text(snapshot.values["enable-protected-configs"])
    if mode == "yes":
        return True
    return mode == "local" and identity.address.startswith(_LOCAL_HOSTS)
