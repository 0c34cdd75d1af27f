"""One canonical text per value, so policy and server compare equal when Redis would.

``normalize(param, text)`` returns the form CONFIG GET gives back for a value the
server accepted (bytes for sizes, lower-case enums, single-spaced lists), or raises
ValueError naming what is wrong. Policy values arrive as text: YAML booleans are
turned back into yes/no by the loader's source text, not here.
"""

from __future__ import annotations

import posixpath
import re

from redispolicy.catalog.params import Param
from redispolicy.catalog.units import parse_size

_INT = re.compile(r"0|-?[1-9][0-9]*")  # string2ll: no '+', no leading zeros, no spaces, no -0
_BOOL = {"yes": "yes", "no": "no", "true": "yes", "false": "no", "on": "yes", "off": "no"}

# notify-keyspace-events: the order Redis renders flags in (keyspaceEventsFlagsToString),
# and the classes 'A' stands for. 'n' (new key) is deliberately outside 'A'.
_KSE_ORDER = "g$lshzxetdnKEm"
_KSE_ALL = set("g$lshzxetd")

_COBL_CLASSES = {"normal": "normal", "replica": "replica", "slave": "replica", "pubsub": "pubsub"}


def normalize(param: Param, text: str) -> str:
    kind = param.kind
    if kind == "bool":
        try:
            return _BOOL[text.strip().lower()]
        except KeyError:
            raise ValueError("expected yes or no") from None
    if kind == "integer":
        return str(_bounded(param, _integer(text)))
    if kind == "memory":
        return str(_bounded(param, parse_size(text)))
    if kind == "memory_or_percent":
        if text.endswith("%"):
            pct = _integer(text[:-1])
            if not 0 <= pct <= 100:
                raise ValueError("a percentage between 0% and 100%")
            return "0" if pct == 0 else f"{pct}%"  # Redis reads 0% back as 0
        return str(_bounded(param, parse_size(text)))
    if kind == "octal":
        if not re.fullmatch(r"[0-7]+", text):
            raise ValueError("expected an octal number such as 700")
        return format(int(text, 8), "o")
    if kind == "enum":
        value = text.strip().lower()
        value = param.synonyms.get(value, value)
        if value not in param.enum:
            raise ValueError("expected one of: " + ", ".join(param.enum))
        return value
    if kind == "enum_flags":
        words = text.lower().split()
        bad = [w for w in words if w not in param.enum]
        if bad or not words:
            raise ValueError("expected one or more of: " + ", ".join(param.enum))
        return " ".join(e for e in param.enum if e in words)
    if kind == "special":
        special = _SPECIAL.get(param.name)
        return special(text) if special else " ".join(text.split())
    return text  # string: case-sensitive, verbatim


def _integer(text: str) -> int:
    if not _INT.fullmatch(text.strip() if text.strip() == text else "x"):
        raise ValueError("expected a whole number (no units, signs, spaces or leading zeros)")
    return int(text)


def _bounded(param: Param, value: int) -> int:
    if param.min is not None and value < param.min:
        raise OverflowError(f"below the minimum {param.min}")
    if param.max is not None and value > param.max:
        raise OverflowError(f"above the maximum {param.max}")
    return value


def _save(text: str) -> str:
    words = text.split()
    if not words or words == ['""']:
        return ""
    if len(words) % 2:
        raise ValueError('expected "<seconds> <changes>" pairs, e.g. "3600 1 300 100", or "" to disable')
    for i, w in enumerate(words):
        n = _integer(w)
        if n < (1 if i % 2 == 0 else 0):
            raise ValueError("seconds must be at least 1 and changes at least 0")
    return " ".join(str(int(w)) for w in words)


def notify_flags(text: str) -> frozenset[str]:
    flags: set[str] = set()
    for ch in text:
        if ch == "A":
            flags |= _KSE_ALL
        elif ch in _KSE_ORDER:
            flags.add(ch)
        else:
            raise ValueError(f"unknown keyspace-event flag {ch!r}; flags are K E g $ l s h z x e t d n m A")
    return frozenset(flags)


def _notify(text: str) -> str:
    flags = notify_flags(text)
    if flags >= _KSE_ALL:
        # Redis renders these classes as 'A' and then omits 'n' even when it is set
        # (keyspaceEventsFlagsToString), so beside 'A' the new-key class cannot be observed.
        # It is dropped from both sides of a comparison; validate warns about it.
        flags -= {"n"}
    if flags and not flags & {"K", "E"}:
        # Redis accepts it but sends nothing: neither keyspace nor keyevent channel is on.
        raise ValueError("no events are delivered without K (keyspace) or E (keyevent)")
    return "".join(c for c in _KSE_ORDER if c in flags)


def _cobl(text: str) -> str:
    words = text.split()
    if not words or len(words) % 4:
        raise ValueError("expected groups of '<class> <hard> <soft> <soft-seconds>'")
    out = []
    for i in range(0, len(words), 4):
        cls, hard, soft, secs = words[i : i + 4]
        if cls.lower() not in _COBL_CLASSES:
            raise ValueError(f"unknown client class {cls!r}; classes are normal, replica, pubsub")
        if _integer(secs) < 0:
            raise ValueError("soft-seconds cannot be negative")
        out.append(f"{_COBL_CLASSES[cls.lower()]} {parse_size(hard)} {parse_size(soft)} {int(secs)}")
    return " ".join(out)


def _percentiles(text: str) -> str:
    out = []
    for w in text.split():
        try:
            v = float(w)
        except ValueError:
            raise ValueError("expected percentiles between 0 and 100, e.g. '50 99 99.9'") from None
        if not 0 <= v <= 100:
            raise ValueError("percentiles lie between 0 and 100")
        out.append(f"{v:g}")
    return " ".join(out)


def _oom_values(text: str) -> str:
    words = text.split()
    if len(words) != 3:
        raise ValueError("expected three values: master, replica and background child")
    for w in words:
        if not -2000 <= _integer(w) <= 2000:
            raise ValueError("each value lies between -2000 and 2000")
    return " ".join(str(int(w)) for w in words)


def _path(text: str) -> str:
    # Redis chdir()s and reports the absolute directory; '/data/' and '/data' are one place.
    # Spaces are kept (they are legal in paths), unlike the list-valued specials.
    return posixpath.normpath(text) if text else text


_SPECIAL = {
    "dir": _path,
    "save": _save,
    "notify-keyspace-events": _notify,
    "client-output-buffer-limit": _cobl,
    "latency-tracking-info-percentiles": _percentiles,
    "oom-score-adj-values": _oom_values,
}
