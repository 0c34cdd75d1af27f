"""The key-changing stages classify keys exactly as the key audit does (first match wins)."""

from __future__ import annotations

from redispolicy.apply.classify import Classifier
from redispolicy.diagnostics import Location
from redispolicy.plan.keys import KeyJudge
from redispolicy.policy.model import KeyClass

PATTERNS = [
    "ocr:1:*",
    "ocr:*",
    "doc:*:state",
    "cfg:\\*",
    "cfg:*",
    "shard:[0-9]:*",
    "shard:[^0-9]:*",
    "h?llo",
    "x[a-c]y",
]
KEYS = [
    "ocr:1:a",
    "ocr:2",
    "ocr:",
    "doc:1:state",
    "doc:a:b:state",
    "doc:state",
    "cfg:*",
    "cfg:x",
    "shard:1:a",
    "shard:x:a",
    "hello",
    "hallo",
    "hllo",
    "xby",
    "xdy",
    "other",
    "",
    "ocr:\xff",
    "naïve:ocr",
]


def test_same_class_as_the_key_audit():
    classes = tuple(KeyClass(f"c{i}", p, Location("p.yaml")) for i, p in enumerate(PATTERNS))
    judge = KeyJudge(classes)
    mine = Classifier(classes)
    for key in KEYS:
        raw = key.encode("utf-8", "surrogateescape")
        theirs = judge.classify(raw)
        ours = mine.classify(raw)
        assert (ours.name if ours else None) == (theirs.kc.name if theirs else None), key
    assert mine.classify(b"\xff\xfe") is None  # undecodable bytes are handled, not an error


def test_redispolicy_keys_are_never_classified():
    every = (KeyClass("all", "*", Location("p.yaml")),)
    assert Classifier(every).classify(b"redispolicy:apply-lock") is None
    assert Classifier(every).classify(b"anything") is not None
    assert Classifier(every, frozenset({b"redispolicy:audit"})).classify(b"redispolicy:audit") is None
