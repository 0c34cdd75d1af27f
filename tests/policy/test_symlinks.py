"""Policy files that are symbolic links: only files inside the policy directory are read.

The links are made by the tests (git would carry them, but a case folder of links pointing
outside itself is fragile to copy and to package). The file outside holds a marker value
that must never reach the output: the refusal comes before the read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redispolicy.main import run

MARKER = "7777mb"  # only in the file outside the policy directory

OUTSIDE = f"""\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: production
config:
  maxmemory: {MARKER}
"""
STAGING = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: staging
extends: {base}
config:
  maxmemory: 1gb
"""
BASE = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
config:
  maxmemory-policy: allkeys-lru
"""


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    policies, outside = tmp_path / "policies", tmp_path / "outside"
    policies.mkdir()
    outside.mkdir()
    (outside / "production.yaml").write_text(OUTSIDE)
    (outside / "base.yaml").write_text(BASE)
    return policies, outside


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err, err
    return code, out, err


@pytest.mark.parametrize(
    "command",
    [
        ["explain", "-e", "production"],
        ["validate"],
        ["plan", "-e", "production", "--url", "redis://127.0.0.1:1"],
    ],
)
def test_an_environment_file_linked_from_outside_is_refused(
    command: list[str], dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    policies, outside = dirs
    (policies / "production.yaml").symlink_to(outside / "production.yaml")
    code, out, err = _cli([command[0], "--policy-dir", str(policies), *command[1:]], capsys)
    assert code == 1, out + err
    assert "production.yaml is a symbolic link" in out + err and "outside the policy directory" in out + err
    assert "copy the file into the policy directory" in out + err
    assert MARKER not in out + err and "cannot connect" not in err  # refused before reading or connecting


def test_an_extends_through_a_linked_directory_is_a_diagnostic_at_its_line(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    policies, outside = dirs
    (policies / "shared").symlink_to(outside, target_is_directory=True)
    (policies / "staging.yaml").write_text(STAGING.format(base="shared/base.yaml"))
    code, out, _ = _cli(["validate", "--policy-dir", str(policies), "-o", "json"], capsys)
    assert code == 1
    [diag] = [d for d in json.loads(out)["diagnostics"] if d["severity"] == "error"]
    assert diag["rule"] == "extends-outside-dir" and (diag["line"], diag["column"]) == (4, 10)
    assert diag["file"].endswith("staging.yaml") and "is a symbolic link to" in diag["message"]
    assert "allkeys-lru" not in out


def test_a_linked_base_in_the_directory_is_refused(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    policies, outside = dirs
    (policies / "base.yaml").symlink_to(outside / "base.yaml")
    (policies / "staging.yaml").write_text(STAGING.format(base="base.yaml"))
    for argv in (["validate"], ["explain", "-e", "staging"]):
        code, out, err = _cli([argv[0], "--policy-dir", str(policies), *argv[1:]], capsys)
        assert code == 1 and "base.yaml' is a symbolic link to" in out + err  # at the extends line
        assert "allkeys-lru" not in out + err


def test_a_link_to_a_file_inside_the_directory_is_read(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    policies, _ = dirs
    (policies / "shared").mkdir()
    (policies / "shared" / "common.yaml").write_text(BASE)
    (policies / "base.yaml").symlink_to(Path("shared") / "common.yaml")  # relative, inside
    (policies / "staging.yaml").write_text(STAGING.format(base="base.yaml"))
    code, out, err = _cli(["explain", "--policy-dir", str(policies), "-e", "staging", "-o", "json"], capsys)
    assert code == 0, err
    assert "allkeys-lru" in out


def test_load_file_does_not_follow_a_link(dirs: tuple[Path, Path]) -> None:
    """The last step of the read: a link swapped in after the directory check is not followed."""
    from redispolicy.policy.yamlload import load_file

    policies, outside = dirs
    link = policies / "production.yaml"
    link.symlink_to(outside / "production.yaml")
    loaded = load_file(link)
    assert loaded.root is None and loaded.diagnostics
    assert MARKER not in loaded.text
