"""How plan/apply/drift reach a target: --url replaces the address only; the reviewed policy's
timeouts and TLS settings stay (a stalled server must not hold a run for the defaults)."""

from __future__ import annotations

from pathlib import Path

import pytest

from redispolicy.commands import Options
from redispolicy.commands import plan as plan_cmd
from redispolicy.live.connect import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT
from redispolicy.render.style import Style

POLICY = """\
apiVersion: redispolicy/v1
kind: RedisPolicy
environment: test
target:
  url: ${{TARGET_URL}}
{timeouts}"""


def _policy(tmp_path: Path, timeouts: str):  # type: ignore[no-untyped-def]
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "test.yaml").write_text(POLICY.format(timeouts=timeouts))
    opts = Options(
        tmp_path / "policies", {"TARGET_URL": "redis://10.0.0.5:6379/0"}, "text", (), Style(color=False)
    )
    policy, failed = plan_cmd.load_policy(opts, "test", True)
    assert failed is None and policy is not None
    return policy


@pytest.mark.parametrize("url", [None, "redis://127.0.0.1:6400/0"], ids=["target-url", "--url"])
def test_the_policys_timeouts_hold_with_and_without_url(tmp_path: Path, url: str | None) -> None:
    policy = _policy(tmp_path, "  connect_timeout: 3s\n  read_timeout: 2s\n")
    opts = plan_cmd.connect_options(policy, url)
    assert (opts.connect_timeout, opts.read_timeout) == (3.0, 2.0)


def test_no_timeouts_in_the_policy_means_the_defaults(tmp_path: Path) -> None:
    opts = plan_cmd.connect_options(_policy(tmp_path, ""), "redis://127.0.0.1:6400/0")
    assert (opts.connect_timeout, opts.read_timeout) == (DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT)


def test_with_url_an_invalid_target_is_still_named_never_called_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --url stands in for target.url, but a policy that cannot be built must say why (it said
    # "✓ valid" and exited 1).
    from redispolicy.main import run

    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "test.yaml").write_text(
        POLICY.format(timeouts="  connect_timeout: 1500ms\n").replace("${{TARGET_URL}}", "${TARGET_URL}")
    )
    code = run(
        ["plan", "--policy-dir", str(tmp_path / "policies"), "-e", "test", "--url", "redis://127.0.0.1:1/0"]
    )
    out = capsys.readouterr().out
    assert code == 1 and "duration-invalid" in out and "✓ valid" not in out, out
