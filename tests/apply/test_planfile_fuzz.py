"""A bounded, seeded plan-file fuzzer against real servers of the matrix.

Genuine plans are mutated (fields deleted, retyped, duplicated, entries added for any
parameter the catalog knows, actions and flags flipped, hostile strings), half of them
re-signed with the right key so the mutation reaches re-derivation rather than stopping at
the signature. Every outcome must be a clean refusal (exit 1, nothing changed) or an apply
equal to the policy's (exit 0): never "internal error", never a traceback, never a change
the policy does not ask for.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from redispolicy.catalog.params import catalog
from redispolicy.main import run
from redispolicy.plan.planfile import sign

from .conftest import FINGERPRINT_KEY, write_policy

POLICY = "config:\n  maxmemory: 64mb\n  timeout: 300\n  maxmemory-policy: allkeys-lru\n"
WANT = {"maxmemory": "67108864", "timeout": "300", "maxmemory-policy": "allkeys-lru"}
ROUNDS = 60
HOSTILE = [
    "",
    "\n+ maxmemory 1gb",
    "\x1b[2J",
    "../../etc",
    "*",
    None,
    0,
    -1,
    2**70,
    True,
    [],
    {},
    "x" * 5000,
    "yes",
    "0",
    "1gb",
    "flushall",
    "set",
    "dir",
]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _get(doc: Any, path: tuple) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def _entries(doc: dict) -> bool:
    """Whether ``changes`` is still a list of objects (an earlier mutation may have replaced it)."""
    changes = doc.get("changes")
    return isinstance(changes, list) and bool(changes) and all(isinstance(c, dict) for c in changes)


def _mutate(doc: dict, rng: random.Random) -> dict:
    doc = copy.deepcopy(doc)
    names = sorted(catalog().params)
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(7)
        paths = [p for p in _paths(doc) if p and p[0] != "signature"]
        if kind == 0:  # delete a field or an element
            path = rng.choice(paths)
            parent = _get(doc, path[:-1])
            del parent[path[-1]]
        elif kind == 1:  # replace a value with something hostile
            path = rng.choice(paths)
            _get(doc, path[:-1])[path[-1]] = copy.deepcopy(rng.choice(HOSTILE))
        elif kind == 2 and _entries(doc):  # duplicate an entry
            doc["changes"].append(copy.deepcopy(rng.choice(doc["changes"])))
        elif kind == 3:  # an entry for any parameter, as a forger would write it
            name = rng.choice(names)
            value = str(rng.choice([*HOSTILE[:6], "1", "no", "/tmp"]))
            entry: dict[str, Any] = {
                "parameter": name,
                "action": rng.choice(["set", "restart", "protected"]),
                "source": "policies/test.yaml:4",
                "sensitive": rng.random() < 0.2,
                "dangerous": rng.random() < 0.2,
            }
            if entry["sensitive"]:
                entry["after_fingerprint"] = "0" * 16
            else:
                entry.update(before=None, after=value, send=value)
            if not isinstance(doc.get("changes"), list):
                doc["changes"] = []
            doc["changes"].append(entry)
        elif kind == 4 and _entries(doc):  # flip an action or a flag
            c = rng.choice(doc["changes"])
            field = rng.choice(["action", "sensitive", "dangerous"])
            c[field] = (
                rng.choice(["set", "restart", "protected", "unsupported"])
                if field == "action"
                else not c.get(field)
            )
        elif kind == 5 and _entries(doc):  # a subset of the reviewed changes, or harmless metadata
            if rng.random() < 0.5:
                doc["changes"].pop(rng.randrange(len(doc["changes"])))
            else:
                doc[rng.choice(["created_at", "tool_version"])] = rng.choice(["", "2099-01-01", "9.9"])
        else:  # the target and the policy files
            field = rng.choice(
                [("target", "address"), ("target", "run_id"), ("policy", "dir"), ("policy", "files")]
            )
            _get(doc, field[:-1])[field[-1]] = rng.choice(["127.0.0.1:1", "0" * 40, "/", [], "policies/.."])
    return doc


def _config(server) -> dict[str, str]:
    with server.client() as c:
        return c.config_get("*")


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the commands run with the default --policy-dir (./policies)
    write_policy(tmp_path, POLICY)
    return tmp_path


def test_mutated_plans_are_refused_or_applied_as_the_policy_says(matrix_server, work, capsys):
    rng = random.Random(20261202)
    original = _config(matrix_server)
    assert run(["plan", "-e", "test", "--url", matrix_server.url, "--out", "genuine.plan", "--no-keys"]) == 0
    capsys.readouterr()
    genuine = json.loads(Path("genuine.plan").read_text())
    outcomes = {0: 0, 1: 0}
    for i in range(ROUNDS):
        doc = _mutate(genuine, rng)
        if i % 2:  # re-signed, so the mutation reaches re-derivation
            doc = sign(doc, FINGERPRINT_KEY.encode())
        Path("fuzzed.plan").write_text(json.dumps(doc))
        before = _config(matrix_server)
        code = run(["apply", "fuzzed.plan", "--url", matrix_server.url, "--color", "never"])
        shown = capsys.readouterr()
        text = shown.out + shown.err
        after = _config(matrix_server)
        assert code in (0, 1), f"round {i}: exit {code}\n{text}"
        assert "internal error" not in text and "Traceback" not in text, f"round {i}:\n{text}"
        changed = {k for k in after if after[k] != before.get(k)}
        if code == 1:
            assert not changed, f"round {i}: refused but changed {changed}\n{text}"
        else:
            assert changed <= set(WANT), (
                f"round {i}: changed {changed - set(WANT)} the policy does not ask for"
            )
            assert all(after[k] == WANT[k] for k in changed), (
                f"round {i}: applied a value the policy does not ask for"
            )
            outcomes[0] += 1
            with matrix_server.client() as c:  # back to the planned-from state for the next round
                for name in WANT:
                    c.config_set(name, original[name])
        outcomes[code] += code == 1
    assert (
        outcomes[1] > ROUNDS // 2 and outcomes[0] > 0
    )  # most are refused; a subset of the plan still applies
