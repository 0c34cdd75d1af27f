"""The CLI: parse flags -> run a command -> exit code. The one error boundary.

Only this module imports click. Exit codes (docs/cli.md): 0 ok, 1 invalid/error,
2 changes present (plan/drift), 64 usage error (never 2), 130 interrupted.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from redispolicy import __version__
from redispolicy.commands import Options, Result
from redispolicy.errors import InsecureConnectionWarning, RedispolicyError
from redispolicy.render import FORMATS, formats
from redispolicy.render.style import Style, use_color

EX_USAGE = 64

# The report each command renders. With the renderer registry this is the whole format
# contract: a command accepts, for -o and --report, exactly the formats of its report.
REPORT_KIND = {
    "validate": "validation",
    "explain": "explanation",
    "plan": "plan",
    "apply": "apply",
    "remediate": "remediation",
    "cleanup": "cleanup",
    "drift": "drift",
    "status": "status",
    "compare": "comparison",
}


def _unsupported(command: str, fmt: str, report: bool, kind: str | None = None) -> click.UsageError:
    """A format the command's report does not have: refused while parsing, before anything is read or
    contacted, naming the formats it has (and which commands have this one)."""
    ok = ", ".join(formats(kind or REPORT_KIND[command]))
    elsewhere = ", ".join(c for c, kind in REPORT_KIND.items() if fmt in formats(kind))
    supports = f"--report FORMAT=PATH with FORMAT one of {ok}" if report else f"-o {ok}"
    return click.UsageError(
        f"{command} has no {fmt} {'report' if report else 'output'}: {command} supports "
        f"{supports} ({fmt} is for {elsewhere})"
    )


def _format_options(command: str, kind: str | None = None) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """-o and --report for ``command``: only the formats of its report (REPORT_KIND, or ``kind``), checked
    while parsing."""
    ok = formats(kind or REPORT_KIND[command])

    def output(ctx: click.Context, param: click.Parameter, value: str) -> str:
        if value in FORMATS and value not in ok:
            raise _unsupported(command, value, report=False, kind=kind)
        if value not in ok:
            raise click.BadParameter(f"{value!r} is not a format: {command} supports -o {', '.join(ok)}")
        return value

    def reports(
        ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
    ) -> tuple[tuple[str, Path], ...]:
        out = []
        for v in values:
            fmt, sep, path = v.partition("=")
            if not sep or not path or fmt not in FORMATS:
                raise click.BadParameter(f"{v!r}: expected FORMAT=PATH with FORMAT one of {', '.join(ok)}")
            if fmt not in ok:
                raise _unsupported(command, fmt, report=True, kind=kind)
            out.append((fmt, Path(path)))
        return tuple(out)

    return (
        click.option(
            "-o",
            "--output",
            default="text",
            show_default=True,
            metavar=f"[{'|'.join(ok)}]",
            callback=output,
            help="Format written to stdout.",
        ),
        click.option(
            "--report",
            "reports",
            multiple=True,
            callback=reports,
            metavar="FORMAT=PATH",
            help=f"Also write a report in FORMAT ({', '.join(ok)}) to PATH (repeatable).",
        ),
    )


def common(command: str, kind: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Options every command shares (docs/cli.md); -o and --report take the formats of ``command``'s report
    (``kind``: a report kind of another command's, as merge-reports renders drift reports)."""
    output, reports = _format_options(command, kind)
    options = [
        click.option(
            "--policy-dir",
            type=click.Path(path_type=Path),
            default=Path("policies"),
            show_default=True,
            help="Directory holding the policy files.",
        ),
        output,
        reports,
        click.option(
            "--color",
            type=click.Choice(["auto", "always", "never"]),
            default="auto",
            show_default=True,
            help="Colour text output (NO_COLOR is honoured).",
        ),
        click.option("-v", "--verbose", count=True, help="Show notes and more detail."),
        click.option("-q", "--quiet", is_flag=True, help="Show errors only."),
    ]

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def _options(
    policy_dir: Path,
    output: str,
    reports: tuple[tuple[str, Path], ...],
    color: str,
    verbose: int,
    quiet: bool,
) -> Options:
    environ = dict(os.environ)
    style = Style(color=use_color(color, sys.stdout.isatty(), environ), verbose=verbose, quiet=quiet)
    return Options(policy_dir, environ, output, reports, style)


def _emit(result: Result, opts: Options) -> int:
    for path, content in result.files.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        except OSError as exc:
            raise RedispolicyError(
                f"cannot write report {path}: {exc.strerror}",
                "check that the directory exists and is writable",
            ) from None
    summary_path = opts.environ.get("GITHUB_STEP_SUMMARY")
    if result.step_summary and summary_path:
        try:
            with open(summary_path, "a", encoding="utf-8") as fh:
                fh.write(result.step_summary)
        except OSError as exc:
            click.echo(
                f"redispolicy: warning: cannot append to $GITHUB_STEP_SUMMARY: {exc.strerror}", err=True
            )
    sys.stdout.write(result.stdout)
    sys.stdout.flush()
    return result.exit_code


class Seconds(click.FloatRange):
    """A duration in seconds, 0 to a day, and finite: ``FloatRange`` alone lets nan through (every
    comparison with it is false), and ``time.sleep(nan)`` raises where no error boundary expects it."""

    name = "seconds"

    def __init__(self) -> None:
        super().__init__(min=0, max=86400)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if math.isnan(seconds):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return seconds


SECONDS = Seconds()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="redispolicy")
def cli() -> None:
    """Keep Redis and Valkey servers configured as reviewed code.

    \b
    Exit codes: 0 ok · 1 invalid or error · 2 changes present (plan with
    --detailed-exitcode, drift, compare) · 3 partially applied · 64 usage error ·
    130 interrupted.
    """


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--strict-env", is_flag=True, help="Treat an unset ${VAR} as an error.")
@common("validate")
def validate(paths: tuple[Path, ...], strict_env: bool, **kw: Any) -> int:
    """Check policy files against the schema and Redis's rules. Needs no server.

    PATHS are policy files or directories (default: --policy-dir). Exit 0 valid, 1 invalid.
    """
    from redispolicy.commands import validate as cmd

    opts = _options(**kw)
    return _emit(cmd.run(opts, paths, strict_env), opts)


@cli.command()
@click.option("-e", "--env", "env", required=True, help="Environment to explain.")
@click.argument("param", required=False)
@common("explain")
def explain(env: str, param: str | None, **kw: Any) -> int:
    """Show each effective value, its normalized form, the file:line it came from and what it overrode."""
    from redispolicy.commands import explain as cmd

    opts = _options(**kw)
    return _emit(cmd.run(opts, env, param), opts)


@cli.command()
@click.option("-e", "--env", "env", required=True, help="Environment to plan.")
@click.option("--url", help="Server URL, overriding the policy's target (redis://, rediss://, unix://).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when none.")
@click.option("--show-unchanged", is_flag=True, help="List managed parameters that already match.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save the plan to FILE for review and `redispolicy apply FILE`.",
)
@click.option(
    "--keys/--no-keys",
    default=True,
    show_default=True,
    help="Audit key TTLs against the policy's key classes.",
)
@click.option(
    "--max-rate",
    type=click.IntRange(min=0),
    default=None,
    help="Keys per second the key audit may read (0 = unlimited; default sampling.max_rate or 20000).",
)
@click.option(
    "--memory",
    is_flag=True,
    help="Measure MEMORY USAGE (SAMPLES 5) of every key class, and compare each capacity workload "
    "with its observed size.",
)
@click.option(
    "--examples",
    is_flag=True,
    help="Include key names (examples, suggested patterns) in every format; without it only text on "
    "stdout shows them (they may hold tokens or personal data).",
)
@click.option(
    "--discover/--no-discover",
    default=True,
    show_default=True,
    help="Plan every node of the target: a primary's replicas, a replica's primary, every cluster "
    "node (--no-discover, or target.topology: standalone, plans the node the URL names).",
)
@common("plan")
def plan(
    env: str,
    url: str | None,
    detailed_exitcode: bool,
    show_unchanged: bool,
    out: Path | None,
    keys: bool,
    max_rate: int | None,
    memory: bool,
    examples: bool,
    discover: bool,
    **kw: Any,
) -> int:
    """Compare the live server with the policy and show what apply would change.

    Exit 1 also when CONFIG could not be read (unless the target says `config: unavailable`).
    """
    from redispolicy.commands import plan as cmd

    opts = _options(**kw)
    req = cmd.PlanRequest(
        env=env,
        url=url,
        detailed_exitcode=detailed_exitcode,
        show_unchanged=show_unchanged,
        out=out,
        keys=keys,
        max_rate=max_rate,
        memory=memory,
        examples=examples,
        discover=discover,
    )
    return _emit(cmd.run(opts, req), opts)


@cli.command()
@click.argument("plan_file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "-e", "--env", "env", help="Make a fresh plan for ENV, show it and apply it after confirmation."
)
@click.option("--url", help="Server URL, overriding the policy's target.")
@click.option("--auto-approve", is_flag=True, help="Apply a fresh plan without asking (for CI).")
@click.option(
    "--lock-timeout",
    type=SECONDS,
    default=30.0,
    show_default=True,
    help="Seconds to wait for another apply on the same server to finish.",
)
@click.option("--no-lock", is_flag=True, help="Do not take the server's apply lock (redispolicy:apply-lock).")
@click.option(
    "--audit-log",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Append the audit record here (default: policy audit.log, else ~/.local/state/redispolicy/audit.log).",
)
@click.option(
    "--remediate-keys",
    is_flag=True,
    help="Once the config is as planned, give keys of `remediate: true` classes their TTL "
    "(as `remediate --execute`), under the same lock; reports the exact counts.",
)
@click.option(
    "--max-rate",
    type=click.IntRange(min=0),
    default=None,
    help="With --remediate-keys: keys per second to scan (0 = unlimited; default sampling.max_rate "
    "or 20000).",
)
@click.option(
    "--pause",
    type=SECONDS,
    default=0.0,
    help="A deployment: seconds to wait after each changed node before the next (a canary).",
)
@click.option(
    "--rollback-on-failure",
    is_flag=True,
    help="A deployment: when a node fails, put the nodes already changed back to their "
    "planned-from values and read them back.",
)
@click.option(
    "--health-timeout",
    type=SECONDS,
    default=60.0,
    show_default=True,
    help="A deployment: seconds to wait after each node for replication links up and cluster_state:ok "
    "(0: no health checks before or during the rollout).",
)
@common("apply")
def apply(
    plan_file: Path | None,
    env: str | None,
    url: str | None,
    auto_approve: bool,
    lock_timeout: float,
    no_lock: bool,
    audit_log: Path | None,
    remediate_keys: bool,
    max_rate: int | None,
    pause: float,
    rollback_on_failure: bool,
    health_timeout: float,
    **kw: Any,
) -> int:
    """Apply a saved plan exactly (FILE), or a fresh plan for -e ENV after confirmation.

    A saved plan is refused, changing nothing, if any parameter it touches or the server
    itself (run_id) moved since it was made. A plan over a deployment is rolled out node by
    node: replicas first, then the primary (a cluster's masters one at a time), waiting for
    health after each; the first failure stops it (--rollback-on-failure puts the changed
    nodes back). --remediate-keys then sets the TTLs of keys of
    `remediate: true` classes (none -> max, above max -> max). Exit 0 applied, 1 nothing
    changed, 3 partial (also: config applied, key remediation cut off; continue with
    `remediate -e ENV --execute --resume`).
    """
    from redispolicy.commands import apply as cmd

    if (plan_file is None) == (env is None):
        raise click.UsageError("give either a plan FILE or -e ENV (not both)")
    if max_rate is not None and not remediate_keys:
        raise click.UsageError("--max-rate is for --remediate-keys (apply reads no keys without it)")
    opts = _options(**kw)
    if plan_file is not None:
        if auto_approve:
            raise click.UsageError("--auto-approve is for -e ENV; a saved plan was already reviewed")
        req = cmd.ApplyRequest(
            url=url,
            lock_timeout=lock_timeout,
            no_lock=no_lock,
            audit_log=audit_log,
            remediate_keys=remediate_keys,
            max_rate=max_rate,
            pause=pause,
            rollback_on_failure=rollback_on_failure,
            health_timeout=health_timeout,
        )
        return _emit(cmd.run_file(opts, plan_file, req), opts)

    def confirm(shown: str) -> bool:
        click.echo(shown)
        question = (
            "Apply these changes and set the TTLs of those keys? Only 'yes' is accepted"
            if remediate_keys
            else "Apply these changes? Only 'yes' is accepted"
        )
        answer = click.prompt(question, default="", show_default=False)
        return str(answer).strip() == "yes"

    assert env is not None
    req = cmd.ApplyRequest(
        url=url,
        lock_timeout=lock_timeout,
        no_lock=no_lock,
        audit_log=audit_log,
        remediate_keys=remediate_keys,
        max_rate=max_rate,
        auto_approve=auto_approve,
        interactive=sys.stdin.isatty(),
        pause=pause,
        rollback_on_failure=rollback_on_failure,
        health_timeout=health_timeout,
    )
    return _emit(cmd.run_env(opts, env, req, confirm), opts)


def _shard(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """--shard K/N, checked while parsing (exit 64 before any server is contacted)."""
    if value is None:
        return None
    from redispolicy.commands.fleet import Shard
    from redispolicy.errors import UsageError

    try:
        return Shard.parse(value)
    except UsageError as exc:
        raise click.BadParameter(f"{exc.message}; {exc.hint}") from None


def _lock_and_audit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--lock-timeout and --audit-log, as apply has them, for the commands that change keys."""
    fn = click.option(
        "--audit-log",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Append the audit record here (default: policy audit.log, "
        "else ~/.local/state/redispolicy/audit.log).",
    )(fn)
    return click.option(
        "--lock-timeout",
        type=SECONDS,
        default=30.0,
        show_default=True,
        help="Seconds to wait for an apply, remediate or cleanup on the same server to finish.",
    )(fn)


@cli.command()
@click.option("-e", "--env", "env", required=True, help="Environment whose key classes to remediate.")
@click.option("--url", help="Server URL, overriding the policy's target.")
@click.option("--execute", is_flag=True, help="Set the TTLs (default: a dry run that only counts).")
@click.option("--resume", is_flag=True, help="Continue an interrupted --execute from its checkpoint.")
@click.option(
    "--checkpoint",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Cursor checkpoint file (default: ~/.local/state/redispolicy/remediate-ENV-HOST_PORT.json).",
)
@click.option(
    "--max-rate",
    type=click.IntRange(min=0),
    default=None,
    help="Keys per second to scan (0 = unlimited; default sampling.max_rate or 20000).",
)
@_lock_and_audit
@common("remediate")
def remediate(
    env: str,
    url: str | None,
    execute: bool,
    resume: bool,
    checkpoint: Path | None,
    max_rate: int | None,
    lock_timeout: float,
    audit_log: Path | None,
    **kw: Any,
) -> int:
    """Give keys of `remediate: true` classes a TTL: none -> max, above max -> max.

    A dry run unless --execute: an exact scan that counts what would change. --execute
    uses EXPIRE NX / LT (an atomic script on Redis 6), touches no other key, reports the
    exact counts and writes an audit record. Exit 0 ok, 1 error, 130 interrupted
    (continue with --execute --resume).
    """
    from redispolicy.commands import remediate as cmd

    opts = _options(**kw)
    req = cmd.RemediateRequest(
        env=env,
        url=url,
        execute=execute,
        resume=resume,
        checkpoint=checkpoint,
        max_rate=max_rate,
        lock_timeout=lock_timeout,
        audit_log=audit_log,
    )
    return _emit(cmd.run(opts, req), opts)


@cli.command()
@click.option("-e", "--env", "env", required=True, help="Environment whose key classes to clean up.")
@click.option("--url", help="Server URL, overriding the policy's target.")
@click.option(
    "--execute", is_flag=True, help="Delete the eligible keys (default: a dry run that only lists them)."
)
@click.option(
    "--max-rate",
    type=click.IntRange(min=0),
    default=None,
    help="Keys per second to scan and delete (0 = unlimited; default sampling.max_rate or 20000).",
)
@click.option(
    "--examples",
    is_flag=True,
    help="Include example key names in every format; without it only text on stdout shows them.",
)
@_lock_and_audit
@common("cleanup")
def cleanup(
    env: str,
    url: str | None,
    execute: bool,
    max_rate: int | None,
    lock_timeout: float,
    audit_log: Path | None,
    examples: bool,
    **kw: Any,
) -> int:
    """Delete keys of classes with `cleanup:` (idle_over: D, or always). Never flushes a database.

    A dry run unless --execute: counts and example names per class, nothing deleted.
    --execute prints that list first, then UNLINKs in chunks of 500, checking every key
    again right before. A class whose pattern matches every key is refused. Exit 0 ok,
    1 refused or error, 130 interrupted.
    """
    from redispolicy.commands import cleanup as cmd

    opts = _options(**kw)

    def announce(text: str) -> None:
        stream = sys.stdout if opts.output == "text" else sys.stderr  # stdout carries the report alone
        stream.write(text + "\n")
        stream.flush()

    req = cmd.CleanupRequest(
        env=env,
        url=url,
        execute=execute,
        max_rate=max_rate,
        lock_timeout=lock_timeout,
        audit_log=audit_log,
        examples=examples,
    )
    return _emit(cmd.run(opts, req, announce), opts)


@cli.command()
@click.option("-e", "--env", "env", required=True, help="Environment to check.")
@click.option("--url", help="Server URL, overriding the policy's target(s).")
@click.option("--keys/--no-keys", default=True, show_default=True, help="Audit key TTLs too.")
@click.option(
    "--window",
    type=SECONDS,
    default=0.0,
    show_default=True,
    help="Seconds between two INFO readings, for hit rate and evictions in that window.",
)
@click.option(
    "--max-rate", type=click.IntRange(min=0), default=None, help="Keys per second for the key audit."
)
@click.option(
    "--memory",
    is_flag=True,
    help="Measure MEMORY USAGE (SAMPLES 5) of every key class, and compare each capacity workload "
    "with its observed size.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["warning", "critical"]),
    default="critical",
    show_default=True,
    help="Health level that counts as failing (exit 2).",
)
@click.option(
    "--since-plan",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A saved plan: report a server restart since it was made.",
)
@click.option(
    "--textfile-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Also write redispolicy_<env>.prom for node_exporter's textfile collector.",
)
@click.option(
    "--discover/--no-discover",
    default=True,
    show_default=True,
    help="Check every node of the target: a primary's replicas, a replica's primary, every cluster "
    "node (--no-discover, or target.topology: standalone, checks the node the URL names).",
)
@click.option(
    "--examples",
    is_flag=True,
    help="Include key names (examples, suggested patterns) in every format; without it only text on "
    "stdout shows them (they may hold tokens or personal data).",
)
@click.option(
    "--shard",
    metavar="K/N",
    callback=_shard,
    help="Check only the K-th of N stable parts of the `targets:` fleet (by sha256 of each name); "
    "`merge-reports` joins the parts' -o json reports.",
)
@common("drift")
def drift(
    env: str,
    url: str | None,
    keys: bool,
    window: float,
    max_rate: int | None,
    fail_on: str,
    since_plan: Path | None,
    textfile_dir: Path | None,
    memory: bool,
    discover: bool,
    examples: bool,
    shard: Any,
    **kw: Any,
) -> int:
    """Report config drift, key findings and health against the policy, for every target.

    Every node of a replicated or clustered target is a target of its own (config and
    health per node; the key audit once). Exit 0 in sync, 2 drift or failing health, 1 error
    or a check that could not run (e.g. CONFIG refused, unless the target says `config: unavailable`).
    """
    from redispolicy.commands import drift as cmd

    opts = _options(**kw)
    req = cmd.DriftRequest(
        env=env,
        url=url,
        keys=keys,
        window=window,
        max_rate=max_rate,
        fail_on=fail_on,
        since_plan=since_plan,
        textfile_dir=textfile_dir,
        memory=memory,
        discover_nodes=discover,
        examples=examples,
        shard=shard,
    )
    return _emit(cmd.run(opts, req), opts)


@cli.command("merge-reports")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--examples",
    is_flag=True,
    help="Include the reports' key names in every format (only shards run with --examples have them).",
)
@common("merge-reports", kind="drift")
def merge_reports(files: tuple[Path, ...], examples: bool, **kw: Any) -> int:
    """Join the `drift --shard K/N -o json` reports of one run into one drift report.

    Any drift format; the exit code an unsharded run would have had: 0 in sync, 2 drift or
    failing health, 1 a target or check not checked (also: a shard's report missing).
    Reports of different environments, format versions or fleets, or sharing a target, are refused.
    """
    from redispolicy.commands import merge as cmd

    opts = _options(**kw)
    return _emit(cmd.run(opts, cmd.MergeRequest(files=files, examples=examples)), opts)


@cli.command()
@click.option("-e", "--env", "env", required=True, help="Environment to watch.")
@click.option("--url", help="Server URL, overriding the policy's target(s).")
@click.option(
    "--watch",
    type=SECONDS,
    default=None,
    help="Refresh every SECONDS (at least 0.2) until Ctrl-C: a live view on a terminal, a line per node "
    "per refresh otherwise (-o json: one JSON object per line).",
)
@click.option(
    "--discover/--no-discover",
    default=True,
    show_default=True,
    help="Watch every node of the target: a primary's replicas, a replica's primary, every cluster "
    "node (--no-discover, or target.topology: standalone, watches the node the URL names).",
)
@common("status")
def status(env: str, url: str | None, watch: float | None, discover: bool, **kw: Any) -> int:
    """Show each node live: memory, ops/s, hit rate, evictions, expirations, clients, slowlog growth,
    replication, and each key class's share of keys and memory (a small sample).

    Read-only. Without --watch one reading (rates over 1 s); exit 0, or 1 when a node
    could not be reached. With --watch, Ctrl-C ends it with exit 0.
    """
    from redispolicy.commands import status as cmd

    opts = _options(**kw)
    req = cmd.StatusRequest(env=env, url=url, watch=watch, discover=discover)
    if watch is None:
        return _emit(cmd.run(opts, req), opts)
    if watch < cmd.MIN_WATCH:
        raise click.BadParameter(f"{watch:g} is too fast: at least {cmd.MIN_WATCH} s", param_hint="--watch")
    if opts.reports:
        raise click.UsageError(
            "--report writes one reading: drop --watch, or redirect the JSON lines of --watch -o json"
        )

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    return _emit(cmd.watch(opts, req, cmd.screen_for(opts, sys.stdout.isatty(), write)), opts)


@cli.command()
@click.argument("env_a")
@click.argument("env_b")
@click.option(
    "--live",
    is_flag=True,
    help="Compare the two environments' live servers (CONFIG GET * of each target, normalized) "
    "instead of their effective policies.",
)
@common("compare")
def compare(env_a: str, env_b: str, live: bool, **kw: Any) -> int:
    """Show how two environments differ: their effective policies (config, key classes, health,
    capacity), or with --live their servers' configuration; secrets only as "differs".

    Differences the policies declare under expected_differences: are shown as expected, with
    their reason. Exit 0 the same (or only expected differences), 2 an unexpected difference,
    1 an error (an environment missing, a server not reached).
    """
    from redispolicy.commands import compare as cmd

    opts = _options(**kw)
    return _emit(cmd.run(opts, cmd.CompareRequest(env_a=env_a, env_b=env_b, live=live)), opts)


@cli.command()
@click.option(
    "-e", "--env", "envs", multiple=True, required=True, help="Environment to write (repeat with --base)."
)
@click.option(
    "--url", "urls", multiple=True, help="The server of the -e before it (redis://, rediss://, unix://)."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    help="The file to write ('-': stdout); default --policy-dir/ENV.yaml.",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.option(
    "--base",
    is_flag=True,
    help="Several -e/--url pairs: write base.yaml with what they share and each ENV.yaml with the rest.",
)
@click.option(
    "--keys/--no-keys",
    default=True,
    show_default=True,
    help="Propose key classes from the keyspace (two rate-limited SCAN passes).",
)
@click.option(
    "--from-conf",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read a redis.conf / valkey.conf instead of a server (no key classes).",
)
@click.option(
    "--server-version",
    metavar="PRODUCT-X.Y",
    help="With --from-conf: the server the file is for (redis-7.0, valkey-8.1); default: guessed.",
)
@click.option(
    "--policy-dir",
    type=click.Path(path_type=Path),
    default=Path("policies"),
    show_default=True,
    help="Directory the files are written to.",
)
def init(
    envs: tuple[str, ...],
    urls: tuple[str, ...],
    out: Path | None,
    force: bool,
    base: bool,
    keys: bool,
    from_conf: Path | None,
    server_version: str | None,
    policy_dir: Path,
) -> int:
    """Write a first policy from a live server (or a config file): the parameters that differ from
    the server's defaults, secrets as ${VAR}, key classes from the keyspace, the health defaults.

    Never overwrites a file without --force. Exit 0 written, 1 error, 64 usage.
    """
    from redispolicy.commands import init as cmd

    opts = Options(policy_dir, dict(os.environ))
    req = cmd.InitRequest(
        envs=envs,
        urls=urls,
        out=out,
        force=force,
        base=base,
        keys=keys,
        from_conf=from_conf,
        server_version=server_version,
    )
    return _emit(cmd.run(opts, req), opts)


@cli.command()
@click.argument("which", type=click.Choice(["policy", "report", "plan"]), default="policy")
def schema(which: str) -> int:
    """Print a JSON Schema (2020-12): the policy format (default), the -o json report of plan/drift, or the plan file."""
    from redispolicy.commands import schema as cmd

    opts = Options.default()
    return _emit(cmd.run(opts, which), opts)


def _mcp_tools(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """--tools a,b,c, checked while parsing (exit 64 before anything is served)."""
    if value is None:
        return None
    from redispolicy.commands.mcp import parse_tools
    from redispolicy.errors import UsageError

    try:
        return parse_tools(value)
    except UsageError as exc:
        raise click.BadParameter(f"{exc.message}; {exc.hint}") from None


@cli.command()
@click.option(
    "--policy-dir",
    type=click.Path(path_type=Path),
    default=Path("policies"),
    show_default=True,
    help="Directory holding the policy files.",
)
@click.option(
    "--tools",
    "tool_names",
    metavar="A,B,...",
    callback=_mcp_tools,
    help="Expose only these tools (default: all seven; what they may change is set by the --allow-* flags).",
)
@click.option(
    "--http",
    metavar="HOST:PORT",
    help="Serve streamable HTTP on HOST:PORT (loopback only) instead of stdio; needs a bearer token.",
)
@click.option("--allow-remote", is_flag=True, help="Let --http listen on a non-loopback address.")
@click.option(
    "--token-env",
    default="REDISPOLICY_MCP_TOKEN",
    show_default=True,
    metavar="NAME",
    help="Environment variable holding the bearer token --http requires.",
)
@click.option("--allow-cleanup", is_flag=True, help="Let cleanup_old_cache delete (dry_run: false).")
@click.option(
    "--allow-apply",
    is_flag=True,
    help="Let set_memory_limit apply the plan it made (as `apply FILE`: stale check, lock, audit record).",
)
@click.option(
    "--no-write",
    is_flag=True,
    help="set_memory_limit writes a patch file instead of editing the policy file (and no plan file).",
)
@click.option(
    "--plan-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where set_memory_limit saves plan and patch files (default: ~/.local/state/redispolicy/mcp-plans).",
)
@click.option(
    "--audit-log",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Append audit records here (default: policy audit.log, else ~/.local/state/redispolicy/audit.log).",
)
def mcp(
    policy_dir: Path,
    tool_names: tuple[str, ...] | None,
    http: str | None,
    allow_remote: bool,
    token_env: str,
    allow_cleanup: bool,
    allow_apply: bool,
    no_write: bool,
    plan_dir: Path | None,
    audit_log: Path | None,
) -> int:
    """Serve the MCP tools (docs/mcp.md) over stdio, or streamable HTTP with --http.

    Needs the extra: pip install 'redispolicy[mcp]'. Tools only propose: set_memory_limit
    edits the policy file and saves a plan; nothing changes the server unless started with
    --allow-apply or --allow-cleanup. Exit 0 when the client disconnects, 1 error, 64 usage.
    """
    from redispolicy.commands import mcp as cmd

    opts = Options(policy_dir, dict(os.environ))
    req = cmd.McpRequest(
        http=http,
        allow_remote=allow_remote,
        token_env=token_env,
        allow_cleanup=allow_cleanup,
        allow_apply=allow_apply,
        no_write=no_write,
        plan_dir=plan_dir,
        audit_log=audit_log,
        **({"tools": tool_names} if tool_names else {}),
    )
    return _emit(cmd.run(opts, req), opts)


def run(argv: list[str] | None = None) -> int:
    """Entry point: the one place exceptions become messages and exit codes (and warnings, lines on stderr)."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", InsecureConnectionWarning)
        warnings.showwarning = _warn_once()
        return _run(argv)


def _warn_once() -> Callable[..., None]:
    """A ``warnings.showwarning`` for one run: each InsecureConnectionWarning shown once, when raised.

    Stages raise it where they connect (drift connects to every node, from several threads);
    it is shown at once, so it comes before an `apply -e` confirmation prompt, not after.
    Other warnings go to Python's usual display.
    """
    shown: set[str] = set()
    lock = threading.Lock()
    usual = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        if not issubclass(category, InsecureConnectionWarning):
            usual(message, category, filename, lineno, file, line)
            return
        with lock:
            if str(message) in shown:
                return
            shown.add(str(message))
        click.echo(f"redispolicy: warning: {message}", err=True)

    return show


def _run(argv: list[str] | None) -> int:
    try:
        code = cli.main(args=argv, prog_name="redispolicy", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
        return EX_USAGE
    except click.UsageError as exc:
        exc.show()
        return EX_USAGE
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        click.echo("redispolicy: interrupted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("redispolicy: interrupted", err=True)
        return 130
    except RedispolicyError as exc:
        click.echo(f"redispolicy: error: {exc}", err=True)
        return exc.exit_code
    except BrokenPipeError:
        return 1
    except click.ClickException as exc:
        exc.show()
        return 1
    except Exception as exc:  # the last line of defence: a bug, said plainly, no traceback
        if os.environ.get("REDISPOLICY_DEBUG"):
            raise
        click.echo(
            f"redispolicy: internal error: {type(exc).__name__}"
            "\n  hint: rerun with REDISPOLICY_DEBUG=1 for the traceback and report it",
            err=True,
        )
        return 1
