"""A Secret never shows its value, however it is printed, logged or serialized."""

from __future__ import annotations

import copy
import json
import logging
import pickle
import traceback

import pytest

from redispolicy.diagnostics import Location
from redispolicy.policy.model import Value
from redispolicy.secret import REDACTED, Secret

VALUE = "hunter2-s3cr3t"


def test_str_repr_format() -> None:
    s = Secret(VALUE)
    assert str(s) == REDACTED
    assert repr(s) == f"Secret({REDACTED})"
    assert f"{s}" == REDACTED
    assert f"{s!r}" == f"Secret({REDACTED})"
    assert f"{s:>30}" == REDACTED
    assert "{}".format(s) == REDACTED
    assert "%s %r" % (s, s) == f"{REDACTED} Secret({REDACTED})"
    for text in (str(s), repr(s), f"{s}", format(s, "s")):
        assert VALUE not in text


def test_containers_and_dataclasses() -> None:
    s = Secret(VALUE)
    assert VALUE not in repr([s]) and VALUE not in str({"pw": s}) and VALUE not in repr((s,))
    v = Value(s, "${PW}", Location("p.yaml", 3, 5), variables=("PW",))
    assert VALUE not in repr(v)
    assert v.display == REDACTED


def test_json_dumps() -> None:
    s = Secret(VALUE)
    assert VALUE not in json.dumps({"pw": s}, default=str)
    with pytest.raises(TypeError):
        json.dumps({"pw": s})  # no silent serialization of the value


def test_logging(caplog: pytest.LogCaptureFixture) -> None:
    s = Secret(VALUE)
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("password is %s / %r", s, s)
        logging.getLogger("t").info(s)
    assert VALUE not in caplog.text
    assert REDACTED in caplog.text


def test_tracebacks() -> None:
    def fail(secret: Secret) -> None:
        raise ValueError(f"cannot connect with {secret!r}")

    try:
        fail(Secret(VALUE))
    except ValueError:
        text = traceback.format_exc()
    assert VALUE not in text


def test_pickle_and_copy_refused() -> None:
    s = Secret(VALUE)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError):
            pickle.dumps(s, protocol=protocol)
    with pytest.raises(TypeError):
        copy.deepcopy(s)


def test_no_instance_dict_to_leak_through() -> None:
    s = Secret(VALUE)
    assert not hasattr(s, "__dict__")
    with pytest.raises(AttributeError):
        s.other = 1  # type: ignore[attr-defined]


def test_reveal_and_equality() -> None:
    assert Secret(VALUE).reveal() == VALUE
    assert Secret(VALUE) == Secret(VALUE)
    assert Secret(VALUE) != Secret("other")
    assert Secret(VALUE) != VALUE  # never equal to the clear text itself
    assert hash(Secret(VALUE)) == hash(Secret(VALUE))
    assert len({Secret(VALUE), Secret(VALUE), Secret("x")}) == 2


def test_fingerprint_is_keyed_and_opaque() -> None:
    s = Secret(VALUE)
    fp = s.fingerprint(b"key-1")
    assert fp == Secret(VALUE).fingerprint(b"key-1")
    assert fp != s.fingerprint(b"key-2")
    assert fp != Secret("other").fingerprint(b"key-1")
    assert VALUE not in fp and len(fp) == 16
