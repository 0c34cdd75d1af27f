"""Semantic checks on an effective policy, with stable rule ids (see redispolicy/rules.py).

The schema has already vouched for the shape; these know Redis: parameter names,
types, ranges and enums from the catalog, restart-only and protected parameters,
literal secrets, unreachable key classes, and the capacity arithmetic.
"""

from __future__ import annotations

import datetime
from urllib.parse import urlsplit

from redispolicy.catalog.normalize import normalize, notify_flags
from redispolicy.catalog.notify import ENABLE_VALUE, PARAMETER, expired_events
from redispolicy.catalog.params import catalog
from redispolicy.catalog.units import human_bytes, human_duration
from redispolicy.diagnostics import Diagnostic, Location, Severity
from redispolicy.policy import glob
from redispolicy.policy.model import (
    COMPARED_SECTIONS,
    ExpectedDifference,
    KeyClass,
    Policy,
    Setting,
    Target,
    Workload,
)
from redispolicy.policy.nodes import MapNode, ScalarNode, SeqNode, json_path, key_location
from redispolicy.policy.optin import check_dangerous

E, W, N = Severity.ERROR, Severity.WARNING, Severity.NOTE


def check(policy: Policy, today: datetime.date) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    out += check_config(policy)
    out += check_target(policy)
    out += check_keys(policy)
    out += check_capacity(policy)
    out += check_ignore(policy, today)
    out += check_dangerous(policy)
    out += check_health(policy)
    out += check_expected_differences(policy)
    return out


def normalized(setting: Setting) -> str | None:
    """The setting's canonical text, or None when unknown, unresolved or invalid."""
    look = catalog().lookup(setting.name)
    value = setting.value.value
    if look is None or value is None:
        return None
    text = value.reveal() if hasattr(value, "reveal") else str(value)
    try:
        return normalize(look.param, text)
    except (ValueError, OverflowError):
        return None


def check_config(policy: Policy) -> list[Diagnostic]:
    cat = catalog()
    out: list[Diagnostic] = []
    by_canonical: dict[str, Setting] = {}
    for s in policy.config:
        loc, path = s.value.source, json_path(("config", s.name))
        look = cat.lookup(s.name)
        if look is None:
            if s.name.lower() in cat.config_file_only:
                out.append(
                    Diagnostic(
                        "config-file-only",
                        E,
                        f"'{s.name}' is a redis.conf directive; CONFIG SET cannot change it",
                        loc,
                        path,
                        hint="manage it in the server's config file",
                    )
                )
                continue
            guess = cat.suggest(s.name)
            out.append(
                Diagnostic(
                    "config-unknown-parameter",
                    E,
                    f"unknown parameter '{s.name}'",
                    loc,
                    path,
                    hint=f"did you mean '{guess}'?"
                    if guess
                    else "check the name against CONFIG GET * on your server",
                )
            )
            continue
        p = look.param
        if look.canonical in by_canonical:
            other = by_canonical[look.canonical]
            out.append(
                Diagnostic(
                    "config-alias",
                    E,
                    f"'{s.name}' and '{other.name}' are the same parameter ('{look.canonical}')",
                    loc,
                    path,
                    hint="keep one of them",
                    related=(other.value.source,),
                )
            )
        by_canonical[look.canonical] = s
        if p.sensitive and (not s.value.variables or _literal_default(s.value.raw)):
            out.append(
                Diagnostic(
                    "config-literal-secret",
                    E,
                    f"'{s.name}' is sensitive and has a literal value in the policy",
                    loc,
                    path,
                    hint=f"write {s.name}: ${{{_env_name(look.canonical)}}} "
                    "and provide the value from the environment",
                )
            )
        if not p.mutable:
            out.append(
                Diagnostic(
                    "config-needs-restart",
                    W,
                    f"'{s.name}' is startup-only: applying a change needs a restart",
                    loc,
                    path,
                    hint="plan shows it as a restart action; set it in redis.conf and restart",
                )
            )
        if p.protected:
            out.append(
                Diagnostic(
                    "config-protected",
                    W,
                    f"'{s.name}' is protected: CONFIG SET needs enable-protected-configs",
                    loc,
                    path,
                    hint="enable protected configs on the server, or manage it in redis.conf",
                )
            )
        value = s.value.value
        if value is None:
            continue
        text = value.reveal() if hasattr(value, "reveal") else str(value)
        try:
            normalize(p, text)
        except OverflowError as exc:
            out.append(
                Diagnostic(
                    "config-range",
                    E,
                    f"'{s.name}': {text!r} is {exc}",
                    loc,
                    path,
                    hint=f"use a value between {p.min} and {p.max}",
                )
            )
        except ValueError as exc:
            rule = "config-enum" if p.kind in ("enum", "enum_flags") else "config-type"
            shown = "(sensitive)" if p.sensitive else repr(text)
            out.append(
                Diagnostic(
                    rule, E, f"'{s.name}': {shown} is invalid: {exc}", loc, path, hint=_type_hint(p.kind)
                )
            )
    out += _maxmemory_policy(policy)
    out += _keyspace_n_flag(policy)
    return out


def _keyspace_n_flag(policy: Policy) -> list[Diagnostic]:
    s = policy.setting("notify-keyspace-events")
    value = s.value.value if s else None
    if s is None or not isinstance(value, str):
        return []
    try:
        flags = notify_flags(value)
    except ValueError:
        return []
    if "n" in flags and set("g$lshzxetd") <= flags:
        return [
            Diagnostic(
                "config-unobservable",
                W,
                "notify-keyspace-events: beside 'A' Redis reads the 'n' (new key) class back as "
                "absent even when it is on, so plan cannot check it",
                s.value.source,
                json_path(("config", s.name)),
                hint="keep 'n' if you need new-key events; drift in it will not be reported",
            )
        ]
    return []


def _env_name(param: str) -> str:
    return "REDIS_" + param.upper().replace("-", "_")


def _literal_default(raw: str) -> bool:
    # ${VAR:-literal} puts a secret in the repository all the same.
    import re

    return bool(re.search(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-[^}]+\}", raw))


def _type_hint(kind: str) -> str:
    return {
        "bool": "write yes or no",
        "integer": "write a whole number",
        "memory": "write bytes or a Redis size such as 512mb or 1gb",
        "memory_or_percent": "write a Redis size (512mb) or a percentage (10%)",
        "enum": "use one of the listed values",
        "enum_flags": "use one or more of the listed values",
    }.get(kind, "see the Redis documentation for this parameter")


def _maxmemory_policy(policy: Policy) -> list[Diagnostic]:
    mm, mp = policy.setting("maxmemory"), policy.setting("maxmemory-policy")
    if not mm or not mp or normalized(mm) != "0":
        return []
    pol = normalized(mp)
    if pol is None or pol == "noeviction":
        return []
    return [
        Diagnostic(
            "config-maxmemory-zero-policy",
            W,
            f"maxmemory-policy {pol} has no effect: maxmemory 0 means no limit, so nothing is evicted",
            mp.value.source,
            json_path(("config", mp.name)),
            hint="set maxmemory to the memory Redis may use (e.g. 1gb)",
            related=(mm.value.source,),
        )
    ]


def check_target(policy: Policy) -> list[Diagnostic]:
    out = []
    for t in (policy.target, *policy.targets):
        if t is None:
            continue
        out += _sentinel_checks(t)
        if t.url is None:  # the sentinels name the host
            continue
        raw = t.url.raw
        if "${" in raw:
            # The password must come from a variable: allow ${...} in the userinfo only.
            userinfo = raw.split("://", 1)[-1].rsplit("@", 1)[0] if "@" in raw else ""
            literal_pw = ":" in userinfo and "${" not in userinfo.split(":", 1)[1]
        else:
            try:
                literal_pw = urlsplit(raw).password is not None
            except ValueError:
                literal_pw = False
        if literal_pw:
            out.append(
                Diagnostic(
                    "config-literal-secret",
                    E,
                    "the target URL contains a literal password",
                    t.url.source,
                    hint="write the URL as ${REDIS_URL} or redis://user:${REDIS_PASSWORD}@host:6379",
                )
            )
        if t.password is not None and not t.password.variables:
            out.append(
                Diagnostic(
                    "config-literal-secret",
                    E,
                    "target.password is a literal value",
                    t.password.source,
                    hint="write password: ${REDIS_PASSWORD}",
                )
            )
    return out


def _sentinel_checks(t: Target) -> list[Diagnostic]:
    """target.sentinel: a password only from a variable, and ports a sentinel can listen on."""
    if t.sentinel is None:
        return []
    out = []
    pw = t.sentinel.password
    if pw is not None and not pw.variables:
        out.append(
            Diagnostic(
                "config-literal-secret",
                E,
                "target.sentinel.password is a literal value",
                pw.source,
                hint="write password: ${SENTINEL_PASSWORD}",
            )
        )
    for a in t.sentinel.addresses:
        port = a.display.rpartition(":")[2]
        if a.resolved and not (port.isdigit() and 1 <= int(port) <= 65535):
            out.append(
                Diagnostic(
                    "schema-invalid",
                    E,
                    f"sentinel address {a.display!r} has no port from 1 to 65535",
                    a.source,
                    hint="write host:port, e.g. 10.0.0.7:26379 (26379 is Sentinel's usual port)",
                )
            )
    return out


def check_keys(policy: Policy) -> list[Diagnostic]:
    out = []
    for i, kc in enumerate(policy.keys):
        path = json_path(("keys", i, "pattern"))
        loc = _pattern_loc(policy, i) or kc.location
        if not kc.pattern:
            out.append(
                Diagnostic(
                    "schema-missing-key",
                    E,
                    f"key class '{kc.name}' has no pattern in any file",
                    kc.location,
                    json_path(("keys", i)),
                    hint="add 'pattern:' (a Redis glob such as 'ocr:*')",
                )
            )
            continue
        out += _destructive(policy, i, kc, loc)
        bad = glob.problems(kc.pattern)
        if bad:
            out.append(
                Diagnostic(
                    "keys-bad-pattern",
                    W,
                    f"pattern {kc.pattern!r} {bad}",
                    loc,
                    path,
                    hint="escape literal [, ] and \\ with a backslash",
                )
            )
        for earlier in (k for k in policy.keys[:i] if k.pattern):
            if glob.covers(earlier.pattern, kc.pattern):
                out.append(
                    Diagnostic(
                        "keys-unreachable-class",
                        W,
                        f"class '{kc.name}' ({kc.pattern}) never matches: every such key already matches "
                        f"'{earlier.name}' ({earlier.pattern}), and the first matching class wins",
                        loc,
                        path,
                        hint=f"move '{kc.name}' above '{earlier.name}', or narrow the earlier pattern",
                        related=(earlier.location,),
                    )
                )
                break
    return out


def _destructive(policy: Policy, i: int, kc: KeyClass, pattern_loc: Location) -> list[Diagnostic]:
    """Settings that turn `cleanup` or `remediate` into a flush: a zero ttl.max or idle_over, and a
    pattern matching every key on a class those stages change."""
    out = []
    ttl = _scalar_at(policy, i, "ttl", "max")
    if kc.ttl_max is not None and kc.ttl_max <= 0:
        also = (
            ", so remediate: true would delete every key of the class"
            if kc.remediate
            else ", so no live key of the class can ever be within it"
        )
        out.append(
            Diagnostic(
                "keys-ttl-zero",
                E,
                f"class '{kc.name}': ttl.max {_raw(ttl, kc.ttl_max)} is zero: Redis deletes a key "
                f"whose TTL is 0 at once{also}",
                ttl.loc if ttl else kc.location,
                json_path(("keys", i, "ttl", "max")),
                hint="write the longest lifetime keys of this class may have, at least 1s (e.g. ttl: {max: 1h})",
            )
        )
    idle = _scalar_at(policy, i, "cleanup", "idle_over")
    if kc.cleanup_idle_over is not None and kc.cleanup_idle_over <= 0:
        out.append(
            Diagnostic(
                "keys-idle-zero",
                E,
                f"class '{kc.name}': cleanup.idle_over {_raw(idle, kc.cleanup_idle_over)} is "
                "zero: every key has been idle at least that long, so cleanup would delete every key of the class",
                idle.loc if idle else kc.location,
                json_path(("keys", i, "cleanup", "idle_over")),
                hint="write cleanup: {always: true} if every key of the class may go; otherwise the idle time after "
                "which a key may be deleted (e.g. idle_over: 7d)",
            )
        )
    return out + _catch_all(i, kc, pattern_loc)


def _catch_all(i: int, kc: KeyClass, loc: Location) -> list[Diagnostic]:
    """A class `cleanup` deletes from or `remediate` expires, whose pattern matches every key."""
    acts = []
    if kc.cleanup_always or kc.cleanup_idle_over is not None:
        acts.append(("cleanup:", "cleanup would delete all of them"))
    if kc.remediate and kc.ttl_max is not None and not kc.persistent:
        acts.append(("remediate: true", "remediate would give all of them a TTL and they would all expire"))
    if not acts or not glob.constrains_only_length(kc.pattern):
        return []
    effects = " and ".join(effect for _, effect in acts)
    return [
        Diagnostic(
            "keys-catch-all",
            E,
            f"class '{kc.name}': pattern {kc.pattern!r} matches {_which_keys(kc.pattern)} in every database, so {effects}",
            loc,
            json_path(("keys", i, "pattern")),
            hint="narrow the pattern to the keys the class is for (e.g. 'tmp:*'), or remove "
            + " and ".join(what for what, _ in acts)
            + " from the class",
        )
    ]


def _which_keys(pattern: str) -> str:
    """'every key', or the length the pattern still asks for ('every key of exactly 4 bytes')."""
    tokens = glob.byte_tokens(pattern)
    n, star = sum(t is not None for t in tokens), None in tokens
    if n == 0:
        return "every key"
    if star:
        return "every non-empty key" if n == 1 else f"every key of {n} bytes or more"
    return f"every key of exactly {n} byte{'s' if n > 1 else ''}"


def _scalar_at(policy: Policy, i: int, *path: str) -> ScalarNode | None:
    """The scalar at keys[i].<path> of the merged document, for its source location and text."""
    keys = policy.tree.get("keys")
    node: object = keys.items[i] if isinstance(keys, SeqNode) and i < len(keys.items) else None
    for key in path:
        node = node.get(key) if isinstance(node, MapNode) else None
    return node if isinstance(node, ScalarNode) else None


def _raw(node: ScalarNode | None, seconds: int) -> str:
    return node.raw if node is not None else f"{seconds}s"


def _pattern_loc(policy: Policy, i: int) -> Location | None:
    keys = policy.tree.get("keys")
    if isinstance(keys, SeqNode) and i < len(keys.items):
        item = keys.items[i]
        if isinstance(item, MapNode) and isinstance(item.get("pattern"), ScalarNode):
            return item.entries["pattern"].loc
    return None


OVERFLOW_BYTES = 2**64  # a workload estimate this large or larger: more than any Redis can address


def workload_bytes(w: Workload, kc: KeyClass) -> int | None:
    """The resident size the policy expects of workload ``w`` of class ``kc``, in bytes.

    ``items x item_size``, or ``arrivals_per_day x ttl.max (days) x item_size``; None when
    the workload is sized by arrivals but the class has no ttl.max (its keys never leave).
    When the arithmetic fails (``.inf``, NaN, astronomical numbers) it is ``OVERFLOW_BYTES``.
    """
    if w.items is not None:
        return int(w.items * w.item_size)
    if kc.ttl_max is None:
        return None
    try:
        return round((w.arrivals_per_day or 0) * (kc.ttl_max / 86400) * w.item_size)
    except (OverflowError, ValueError):  # .inf or NaN
        return OVERFLOW_BYTES


def check_capacity(policy: Policy) -> list[Diagnostic]:
    cap = policy.capacity
    if cap is None or not cap.workloads:
        return []
    out: list[Diagnostic] = []
    classes = {kc.name: kc for kc in policy.keys}
    terms: list[str] = []
    total = 0
    for w in cap.workloads:
        kc = classes.get(w.key_class)
        if kc is None:
            out.append(
                Diagnostic(
                    "capacity-unknown-class",
                    E,
                    f"workload names key class '{w.key_class}', which is not defined",
                    w.location,
                    hint="use the name of a class under keys:",
                )
            )
            continue
        size = workload_bytes(w, kc)
        if size is None:
            out.append(
                Diagnostic(
                    "capacity-no-ttl",
                    E,
                    f"workload '{w.key_class}' is sized by arrivals_per_day, but the class "
                    "has no ttl.max, so its keys stay resident forever",
                    w.location,
                    hint="give the class ttl: {max: ...}, or size it with items:",
                )
            )
            continue
        if w.items is not None:
            terms.append(f"{w.key_class}: {w.items} x {_size(w)} = {size} B")
        elif size >= OVERFLOW_BYTES:
            terms.append(
                f"{w.key_class}: {w.arrivals_per_day}/day x ttl.max {kc.ttl_max} s x {_size(w)} "
                "= more than 2^64 B"
            )
        else:
            assert kc.ttl_max is not None
            terms.append(
                f"{w.key_class}: {w.arrivals_per_day:g}/day x {kc.ttl_max / 86400:g} d (ttl.max "
                f"{human_duration(kc.ttl_max)}) x {_size(w)} = {size} B"
            )
        total += size
    mm = policy.setting("maxmemory")
    limit = int(normalized(mm) or 0) if mm else 0
    if out or not terms:
        return out
    if limit == 0:
        return [
            Diagnostic(
                "capacity-no-limit",
                W,
                f"capacity cannot be checked: no maxmemory limit (workloads need {total} B, "
                f"{human_bytes(total)})",
                cap.location,
                hint="set config.maxmemory so Redis evicts instead of exhausting the host",
            )
        ]
    budget = int(limit * cap.utilization_limit_percent / 100)
    if total > budget:
        assert mm is not None
        out.append(
            Diagnostic(
                "capacity-exceeded",
                E,
                f"resident size {total} B ({human_bytes(total)}) exceeds {cap.utilization_limit_percent:g} % of "
                f"maxmemory {limit} B ({human_bytes(limit)}) = {budget} B ({human_bytes(budget)}); "
                + "; ".join(terms),
                cap.location,
                hint="shorten the class TTLs, lower the item counts, or raise maxmemory",
                related=(mm.value.source,),
            )
        )
    return out


def _size(w: Workload) -> str:
    return (
        f"{w.item_size_text} ({w.item_size} B)"
        if w.item_size_text != str(w.item_size)
        else f"{w.item_size} B"
    )


def check_ignore(policy: Policy, today: datetime.date) -> list[Diagnostic]:
    out = []
    ign = policy.tree.get("ignore")
    for i, entry in enumerate(policy.ignore):
        if entry.until is not None and entry.until < today:
            node = ign.items[i] if isinstance(ign, SeqNode) else None
            loc = node.loc if node is not None else Location(policy.file)
            out.append(
                Diagnostic(
                    "ignore-expired",
                    W,
                    f"the ignore entry for '{entry.subject}' expired on {entry.until_text}",
                    loc,
                    json_path(("ignore", i, "until")),
                    hint="remove the entry, or extend 'until' after review",
                )
            )
    return out


def check_health(policy: Policy) -> list[Diagnostic]:
    """``health.expired_per_hour``: its class must exist, and the policy should turn on the keyspace
    notifications that deliver expired events (else drift reports the check as not checked)."""
    rule = policy.health.expired_per_hour
    if rule is None:
        return []
    path = ("health", "expired_per_hour", "class")
    loc = key_location(policy.tree, path) or rule.location
    names = [kc.name for kc in policy.keys if kc.pattern]
    if rule.key_class not in names:
        return [
            Diagnostic(
                "health-unknown-class",
                E,
                f"health.expired_per_hour names key class '{rule.key_class}', which is not defined "
                "(or has no pattern)",
                loc,
                json_path(path),
                hint=f"use the name of a class under keys: ({', '.join(names) or 'none defined'})",
            )
        ]
    return _notifications_for_expiry(policy, rule.location)


def _notifications_for_expiry(policy: Policy, rule_loc: Location) -> list[Diagnostic]:
    """A warning when the policy's own notify-keyspace-events would not publish expired events."""
    s = policy.setting(PARAMETER)
    if s is None:
        message = (
            f"health.expired_per_hour counts expired events, but the policy does not set {PARAMETER}: "
            "unless the server has it on already, drift reports the check as not checked"
        )
        hint = f"add `{PARAMETER}: {ENABLE_VALUE}` under config: (E: the keyevent channel, x: expired events)"
        return [
            Diagnostic(
                "health-notifications-off", W, message, rule_loc, "$.health.expired_per_hour", hint=hint
            )
        ]
    value = s.value.value
    if not isinstance(value, str):
        return []  # an unset ${VAR} (reported elsewhere): the value is not known here
    state = expired_events(value)
    if state.channel is not None or normalized(s) is None:  # an invalid value is reported as such already
        return []
    return [
        Diagnostic(
            "health-notifications-off",
            W,
            f"health.expired_per_hour counts expired events, but {state.reason}",
            s.value.source,
            json_path(("config", s.name)),
            hint=f"write {ENABLE_VALUE} (or add E and x to the value)",
        )
    ]


_GLOB_CHARS = frozenset("*?[\\")


def check_expected_differences(policy: Policy) -> list[Diagnostic]:
    """``expected_differences``: a glob that matches everything would make `compare` pass whatever differs,
    and an entry that names nothing compare puts side by side (a typo) would silently never match."""
    out: list[Diagnostic] = []
    for i, entry in enumerate(policy.expected_differences):
        field = "parameter" if entry.parameter is not None else "path"
        pattern = entry.parameter if entry.parameter is not None else entry.path or ""
        path = ("expected_differences", i, field)
        loc = _entry_loc(policy, i, field) or entry.location
        if glob.constrains_only_length(pattern):
            what = "every config parameter" if field == "parameter" else "every difference"
            out.append(
                Diagnostic(
                    "expected-differences-catch-all",
                    E,
                    f"expected_differences {field} {pattern!r} matches {what}, so `redispolicy compare` "
                    "could never report an unexpected difference",
                    loc,
                    json_path(path),
                    hint="name the paths or parameters that are meant to differ (e.g. config.maxmemory, "
                    "keys.*.ttl), one entry each with its reason",
                )
            )
            continue
        problem = _never_matches(entry, pattern)
        if problem:
            out.append(
                Diagnostic(
                    "expected-differences-unknown",
                    W,
                    f"expected_differences {field} {pattern!r} {problem}, so it never matches",
                    loc,
                    json_path(path),
                    hint="compared paths start with " + ", ".join(COMPARED_SECTIONS) + "; "
                    "`redispolicy compare ENV_A ENV_B` lists them",
                )
            )
    return out


def _never_matches(entry: ExpectedDifference, pattern: str) -> str:
    """Why the entry can match nothing compare reports ('' when it may match)."""
    bad = glob.problems(pattern)
    if bad:
        return bad
    if entry.parameter is not None:
        literal = not _GLOB_CHARS & set(pattern)
        return "is not a Redis or Valkey parameter" if literal and catalog().lookup(pattern) is None else ""
    head, _, rest = pattern.partition(".")
    if _GLOB_CHARS & set(head):
        return ""
    if head not in COMPARED_SECTIONS:
        return f"starts with '{head}', which compare does not compare"
    if head == "config" and rest and not _GLOB_CHARS & set(rest) and catalog().lookup(rest) is None:
        return f"names '{rest}', which is not a Redis or Valkey parameter"
    return ""


def _entry_loc(policy: Policy, i: int, field: str) -> Location | None:
    node = policy.tree.get("expected_differences")
    item = node.items[i] if isinstance(node, SeqNode) and i < len(node.items) else None
    value = item.get(field) if isinstance(item, MapNode) else None
    return value.loc if value is not None else None
