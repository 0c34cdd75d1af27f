"""Resolution (extends, interpolation, the model) and the schema's located errors, for the
cases the fixture files cannot express: symlinks, odd file names, numbers at the limits."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from redispolicy.diagnostics import Severity
from redispolicy.policy.resolve import PolicySet
from redispolicy.policy.validate import validate_paths
from redispolicy.report import ValidationReport

HEAD = "apiVersion: redispolicy/v1\nkind: RedisPolicy\n"


def write(d: Path, files: dict[str, str]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)
    return d


def check(d: Path, env: dict[str, str] | None = None, strict: bool = False) -> ValidationReport:
    return validate_paths([], d, env or {}, strict_env=strict, today=datetime.date(2026, 1, 1))


def found(report: ValidationReport) -> list[tuple[str, str, int]]:
    return [(d.rule, Path(d.location.file).name, d.location.line) for d in report.diagnostics]


def test_symlink_out_of_the_policy_dir_is_refused(tmp_path: Path) -> None:
    outside = write(tmp_path / "elsewhere", {"base.yaml": HEAD})
    d = write(tmp_path / "policies", {"prod.yaml": HEAD + "environment: prod\nextends: [base.yaml]\n"})
    (d / "base.yaml").symlink_to(outside / "base.yaml")
    report = check(d)
    assert ("extends-outside-dir", "prod.yaml", 4) in found(report)


def test_extends_into_a_subdirectory_is_fine(tmp_path: Path) -> None:
    d = write(tmp_path / "policies", {"prod.yaml": HEAD + "environment: prod\nextends: [shared/base.yaml]\n"})
    write(d / "shared", {"base.yaml": HEAD + "config: {maxmemory: 1gb}\n"})
    report = check(d)
    assert report.valid, found(report)
    policy = PolicySet(d, {}).resolve(d / "prod.yaml").policy
    assert policy is not None and policy.setting("maxmemory") is not None


@pytest.mark.parametrize("name", ["\\0", "a" * 5000])
def test_unusable_extends_names_are_diagnostics(tmp_path: Path, name: str) -> None:
    """Regression: a NUL byte or an over-long name raised ValueError/OSError out of validate."""
    d = write(tmp_path, {"p.yaml": HEAD + f'extends: "{name}"\n'})
    assert found(check(d)) == [("extends-not-found", "p.yaml", 3)]


def test_a_base_is_checked_through_its_environments_only_once(tmp_path: Path) -> None:
    d = write(
        tmp_path,
        {
            "base.yaml": HEAD + "config:\n  hz: lots\n",
            "a.yaml": HEAD + "environment: a\nextends: [base.yaml]\n",
            "b.yaml": HEAD + "environment: b\nextends: [base.yaml]\n",
        },
    )
    assert found(check(d)) == [("config-type", "base.yaml", 4)]


def test_a_lone_file_is_checked_on_its_own(tmp_path: Path) -> None:
    d = write(tmp_path, {"shared.yaml": HEAD + "config:\n  maxmemory-policy: nope\n"})
    assert found(check(d)) == [("config-enum", "shared.yaml", 4)]


def test_validate_passes_only_the_chosen_files(tmp_path: Path) -> None:
    d = write(tmp_path, {"good.yaml": HEAD + "environment: good\n", "bad.yaml": HEAD + "environment: [\n"})
    assert validate_paths([d / "good.yaml"], d, {}).valid
    assert not validate_paths([d / "bad.yaml"], d, {}).valid


def test_strict_env_only_changes_severity(tmp_path: Path) -> None:
    d = write(tmp_path, {"p.yaml": HEAD + "environment: p\ntarget:\n  url: ${RP_URL}\n"})
    loose, strict = check(d), check(d, strict=True)
    assert [(x.rule, x.severity) for x in loose.diagnostics] == [("env-unresolved", Severity.NOTE)]
    assert [(x.rule, x.severity) for x in strict.diagnostics] == [("env-required", Severity.ERROR)]
    assert check(d, {"RP_URL": "redis://h:6379"}, strict=True).diagnostics == ()


def test_interpolated_values_are_checked(tmp_path: Path) -> None:
    d = write(tmp_path, {"p.yaml": HEAD + "environment: p\nconfig:\n  maxmemory: ${RP_MM:-1gb}\n"})
    assert check(d).valid
    report = check(d, {"RP_MM": "lots"})
    assert found(report) == [("config-type", "p.yaml", 5)]
    assert "'lots'" in report.diagnostics[0].message


def test_secret_values_from_the_environment_are_wrapped(tmp_path: Path) -> None:
    d = write(
        tmp_path,
        {
            "p.yaml": HEAD + "environment: p\ntarget:\n  url: redis://:${RP_PW}@h:6379\n"
            "config:\n  requirepass: ${RP_PW}\n  maxmemory: 1gb\n"
        },
    )
    policy = PolicySet(d, {"RP_PW": "pw-value"}).resolve(d / "p.yaml").policy
    assert policy is not None and policy.target is not None
    assert "pw-value" not in repr(policy)
    requirepass = policy.setting("requirepass")
    assert requirepass is not None
    assert requirepass.value.value.reveal() == "pw-value"  # type: ignore[union-attr]
    maxmemory = policy.setting("maxmemory")
    assert maxmemory is not None and maxmemory.value.value == "1gb"


def test_sizes_beyond_two_to_the_64_are_diagnostics(tmp_path: Path) -> None:
    """Regression: a size the schema's pattern accepts but parse_size refuses crashed resolve."""
    d = write(
        tmp_path,
        {
            "p.yaml": HEAD + "environment: p\nconfig: {maxmemory: 1gb}\nkeys:\n"
            "  - {name: a, pattern: 'a:*', ttl: {max: 1d}}\ncapacity:\n  workloads:\n"
            "    - {class: a, items: 1, item_size: 99999999999999999999gb}\n"
        },
    )
    assert found(check(d)) == [("size-invalid", "p.yaml", 9)]


@pytest.mark.parametrize(
    "workload",
    [
        "{class: a, arrivals_per_day: .inf, item_size: 1gb}",
        "{class: a, arrivals_per_day: " + "9" * 400 + ", item_size: 1gb}",
        "{class: a, items: " + "9" * 400 + ", item_size: 1gb}",
    ],
)
def test_astronomical_capacity_is_exceeded_not_a_crash(tmp_path: Path, workload: str) -> None:
    d = write(
        tmp_path,
        {
            "p.yaml": HEAD + "environment: p\nconfig: {maxmemory: 1gb}\nkeys:\n"
            "  - {name: a, pattern: 'a:*', ttl: {max: 1d}}\ncapacity:\n  workloads:\n"
            f"    - {workload}\n"
        },
    )
    assert [r for r, _, _ in found(check(d))] == ["capacity-exceeded"]


def test_astronomical_ttl_is_exceeded_not_a_crash(tmp_path: Path) -> None:
    d = write(
        tmp_path,
        {
            "p.yaml": HEAD + "environment: p\nconfig: {maxmemory: 1gb}\nkeys:\n"
            f"  - {{name: a, pattern: 'a:*', ttl: {{max: {'9' * 400}d}}}}\n"
            "capacity:\n  workloads:\n    - {class: a, arrivals_per_day: 1, item_size: 1}\n"
        },
    )
    assert [r for r, _, _ in found(check(d))] == ["capacity-exceeded"]


def test_capacity_exact_boundary(tmp_path: Path) -> None:
    """80 % of 1gb is 858993459 B (rounded down); a workload of exactly that fits, one byte more does not."""

    def report(items: int) -> ValidationReport:
        return check(
            write(
                tmp_path / str(items),
                {
                    "p.yaml": HEAD + "environment: p\nconfig: {maxmemory: 1gb}\nkeys:\n"
                    "  - {name: a, pattern: 'a:*'}\ncapacity:\n"
                    "  utilization_limit_percent: 80\n  workloads:\n"
                    f"    - {{class: a, items: {items}, item_size: 1}}\n"
                },
            )
        )

    assert report(858993459).valid
    over = report(858993460)
    assert [d.rule for d in over.diagnostics] == ["capacity-exceeded"]


def test_capacity_sums_workloads(tmp_path: Path) -> None:
    d = write(
        tmp_path,
        {
            "p.yaml": HEAD + "environment: p\nconfig: {maxmemory: 1gb}\nkeys:\n"
            "  - {name: a, pattern: 'a:*', ttl: {max: 3d}}\n"
            "  - {name: b, pattern: 'b:*'}\ncapacity:\n  workloads:\n"
            "    - {class: a, arrivals_per_day: 15, item_size: 10mb}\n"
            "    - {class: b, items: 600, item_size: 1mb}\n"
        },
    )
    (diag,) = check(d).diagnostics  # 471859200 + 629145600 = 1101004800 > 80 % of 1 GiB
    assert diag.rule == "capacity-exceeded" and "1101004800" in diag.message
    assert "471859200" in diag.message and "629145600" in diag.message
