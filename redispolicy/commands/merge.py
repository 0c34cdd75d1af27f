"""redispolicy merge-reports FILE...: the shards' ``drift -o json`` reports joined into one drift report.

Each file is read back into the DriftReport it was rendered from, the targets are joined
(in the fleet's order when the reports are shards of ``drift --shard K/N``), and the one
report is rendered by drift's own renderers, in any of drift's formats, with drift's exit
code: so a merged report reads, and exits, as the unsharded run would have. Rebuilding the
report, rather than editing JSON, is what lets every format (text, SARIF, JUnit,
Prometheus ...) come out of the one renderer each already has; a test renders the rebuilt
report back to JSON and requires the very document it was read from.

The JSON does not carry what the renderers of a drift report never show (a server's
run_id, its mode, a policy line's column), and key names only when the shard ran with
--examples. A shard of the fleet whose report is missing is not skipped: its targets are
errors ("not checked") and the merged run exits 1, as an unsharded run that could not
reach them would. Reports of different environments, format versions, --fail-on levels,
fleets or shard counts, and reports that share a target, are refused, naming the files.
"""

from __future__ import annotations

import dataclasses
import json
from importlib import resources
from pathlib import Path
from typing import Any

from redispolicy.commands import Options, Result
from redispolicy.commands.drift import exit_code
from redispolicy.commands.output import render_result
from redispolicy.diagnostics import Location
from redispolicy.errors import RedispolicyError
from redispolicy.live.model import Identity
from redispolicy.plan.drift import CHECKS, DriftReport, Finding, NotChecked, TargetDrift
from redispolicy.plan.health import HealthCheck
from redispolicy.plan.model import CapacityObservation, Change, ClassFindings, KeyFindings, Plan
from redispolicy.plan.stats import Estimate
from redispolicy.policy.schema import document_errors

FORMAT_VERSION = "1"  # the -o json format this reads (render/json_.py)
_NEXT = "merge the `drift --shard K/N -o json` reports of one run of one environment"


@dataclasses.dataclass(frozen=True)
class MergeRequest:
    """`redispolicy merge-reports`'s arguments, by name."""

    files: tuple[Path, ...]
    examples: bool = False  # key names in formats other than text on stdout (as drift --examples)


def run(opts: Options, req: MergeRequest) -> Result:
    if not req.files:
        raise RedispolicyError("merge-reports needs at least one report", _NEXT)
    parts = [(path, _read(path)) for path in req.files]
    report = merge(parts)
    return render_result(opts, "drift", report, exit_code(report), examples=req.examples)


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RedispolicyError(f"cannot read the report {path}: {exc.strerror}", "check the path") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RedispolicyError(
            f"{path} is not a JSON report ({exc})", "pass the files `redispolicy drift -o json` wrote"
        ) from None
    if not isinstance(doc, dict) or doc.get("command") != "drift":
        what = doc.get("command") if isinstance(doc, dict) else None
        raise RedispolicyError(
            f"{path} is not a drift report" + (f" (it is a {what} report)" if what else ""),
            "pass the files `redispolicy drift -o json` wrote",
        )
    if doc.get("format_version") != FORMAT_VERSION:
        raise RedispolicyError(
            f"{path} has format_version {doc.get('format_version')!r}; this redispolicy reads "
            f"format_version {FORMAT_VERSION!r}",
            "make every shard's report with the same redispolicy version as merge-reports",
        )
    _check_schema(path, doc)
    return doc


def _check_schema(path: Path, doc: dict[str, Any]) -> None:
    """A report is checked against the published report schema before it is read back: an edited or
    truncated file is refused with the place that is wrong, never half-rendered."""
    schema = json.loads(
        resources.files("redispolicy.render").joinpath("schemas/report-v1.json").read_text(encoding="utf-8")
    )
    errors = document_errors(schema, doc, limit=1)
    if errors:
        raise RedispolicyError(
            f"{path} is not a valid drift report: {errors[0]}",
            "pass the files `redispolicy drift -o json` wrote, unedited",
        )


def merge(parts: list[tuple[Path, dict[str, Any]]]) -> DriftReport:
    """The one report of ``parts`` ((file, drift -o json document) pairs); refusals name the files."""
    first = parts[0][1]
    for field, what in (("environment", "environments"), ("summary.fail_on", "--fail-on levels")):
        _same(parts, field, what)
    shards = [(path, doc.get("shard")) for path, doc in parts]
    sharded = [path for path, s in shards if s is not None]
    if sharded and len(sharded) != len(parts):
        plain = next(path for path, s in shards if s is None)
        raise RedispolicyError(
            f"{sharded[0]} is a shard of a fleet (drift --shard) but {plain} is not", _NEXT
        )
    if sharded:
        _same(parts, "shard.count", "shard counts (N of --shard K/N)")
        _same(parts, "shard.fleet", "fleets (their policies' `targets:` differ)")
    seen: dict[str, Path] = {}
    targets: list[tuple[str, TargetDrift]] = []
    for path, doc in parts:
        for entry in doc.get("targets", []):
            t = target_from_json(entry, doc.get("environment"), path)
            key = t.name or t.identity.address
            if key in seen:
                raise RedispolicyError(
                    f"target {key} is in both {seen[key]} and {path}",
                    "merge each shard's report once (shards of one run never share a target)",
                )
            seen[key] = path
            targets.append((key, t))
    if sharded:
        targets = _in_fleet_order(targets, parts)
    environment = first.get("environment")
    fail_on = str(first.get("summary", {}).get("fail_on", "critical"))
    policy_file = str((first.get("shard") or {}).get("policy_file", ""))
    return DriftReport(environment, tuple(t for _, t in targets), policy_file, fail_on)


def _same(parts: list[tuple[Path, dict[str, Any]]], field: str, what: str) -> None:
    """Refuse reports that differ in ``field`` (a dotted path), naming the first two that do."""

    def get(doc: dict[str, Any]) -> object:
        value: object = doc
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    first_path, first = parts[0]
    for path, doc in parts[1:]:
        if get(doc) != get(first):
            shown = "" if field == "shard.fleet" else f": {get(first)!r} and {get(doc)!r}"
            raise RedispolicyError(f"{first_path} and {path} are reports of different {what}{shown}", _NEXT)


def _in_fleet_order(
    targets: list[tuple[str, TargetDrift]], parts: list[tuple[Path, dict[str, Any]]]
) -> list[tuple[str, TargetDrift]]:
    """The targets in the policy's order; every entry of the fleet no report covers is an error."""
    shard = parts[0][1]["shard"]
    fleet, count = [str(n) for n in shard["fleet"]], int(shard["count"])
    have = {int(doc["shard"]["index"]) for _, doc in parts}
    by_name = dict(targets)
    out = []
    for name in fleet:
        if name in by_name:
            out.append((name, by_name.pop(name)))
        else:
            out.append((name, _missing(name, count, have, parts[0][1].get("environment"))))
    return out + list(by_name.items())  # a name outside the fleet: kept, after it


def _missing(name: str, count: int, have: set[int], environment: str | None) -> TargetDrift:
    from redispolicy.commands.fleet import shard_of

    k = shard_of(name, count)
    why = (
        f"not checked: no report of shard {k}/{count} was merged (its job failed, or its file was not passed)"
        if k not in have
        else f"not checked: it is missing from the report of shard {k}/{count}"
    )
    ident = Identity("unknown", "", "", "unknown", "unknown", "(no report)")
    return TargetDrift(ident, Plan(environment, ident, ()), None, (), (), error=why, name=name)


# -- JSON -> the report (the inverse of render/json_.py's render_drift) ------------------------------------------


def target_from_json(e: dict[str, Any], environment: str | None, path: Path | str = "") -> TargetDrift:
    """One ``targets[]`` entry of a drift report, as the TargetDrift it was rendered from."""
    try:
        return _target(e, environment)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RedispolicyError(
            f"{path}: a target entry does not read as a drift report's ({type(exc).__name__}: {exc})",
            "pass the files `redispolicy drift -o json` wrote, unedited",
        ) from None


def _target(e: dict[str, Any], environment: str | None) -> TargetDrift:
    server = e["server"]
    ident = Identity(
        server["product"],
        server["version"],
        "",
        e["role"],
        "unknown",
        e["address"],
        e.get("connected_replicas", 0),
    )
    error = e.get("error", "")
    if error:
        return TargetDrift(
            ident, Plan(environment, ident, ()), None, (), (), error=error, name=e.get("name", "")
        )
    checks: dict[str, str] = e.get("checks", {})
    reasons: dict[str, str] = e.get("not_checked", {})
    notes = tuple(e.get("notes", []))
    config = checks.get("config", "checked")
    plan = Plan(
        environment,
        ident,
        tuple(_change(c) for c in e.get("config", [])),
        config_available=config == "checked",
        config_reason=reasons.get("config", "") if config != "checked" else "",
        config_declared="unavailable"
        if config == "not_checked_expected" or any("target.config: unavailable" in n for n in notes)
        else "available",
    )
    return TargetDrift(
        ident,
        plan,
        _keys(e["keys"]) if "keys" in e else None,
        tuple(
            HealthCheck(h["check"], h["value"], h["status"], h["threshold"], h.get("detail", ""))
            for h in e.get("health", [])
        ),
        tuple(_finding(f) for f in e.get("findings", [])),
        name=e.get("name", ""),
        not_checked=tuple(
            NotChecked(c, reason, checks.get(c) == "not_checked_expected")
            for c, reason in reasons.items()
            if c != "config" and c in CHECKS
        ),
        notes=notes,
    )


def _location(short: str | None) -> Location | None:
    """``file:line`` (Location.short) back into a Location; a bare file has no line."""
    if not short:
        return None
    file, sep, line = short.rpartition(":")
    return Location(file, int(line)) if sep and line.isdigit() else Location(short)


def _change(c: dict[str, Any]) -> Change:
    return Change(
        c["parameter"],
        c["before"],
        c["after"],
        c["action"],
        _location(c["source"]) or Location(""),
        sensitive=c.get("sensitive", False),
        dangerous=c.get("dangerous", False),
    )


def _finding(f: dict[str, Any]) -> Finding:
    return Finding(
        f["kind"],
        f["subject"],
        f["message"],
        f["severity"],
        _location(f.get("source")),
        f.get("ignore_reason") or "",
    )


def _estimate(d: dict[str, Any]) -> Estimate:
    return Estimate(d["value"], d["low"], d["high"])


# A report made without --examples lists no key names; where the audit had some, the rebuilt report holds
# this instead, so renderers still say that names were withheld (and never show one).
WITHHELD = "(key name withheld: rerun the shard with --examples)"


def _keys(k: dict[str, Any]) -> KeyFindings:
    exact = k["mode"] != "sample"
    unclassified = k["unclassified"]
    sample = k.get("sample", {})
    withheld = k.get("key_names") == "withheld"
    return KeyFindings(
        k["mode"],
        k["dbsize"],
        k["scanned"],
        tuple(_class(c, withheld) for c in k["classes"]),
        unclassified["matched"],
        (WITHHELD,) if withheld and unclassified["matched"] else tuple(unclassified.get("examples", [])),
        duplicates=k.get("duplicates", 0) if exact else sample.get("repeated_draws", 0),
        sample_size=0 if exact else sample.get("draws", 0),
        estimated_unclassified=_estimate(unclassified["estimated"]),
        suggestions=tuple((s["pattern"], s["count"]) for s in unclassified.get("suggested_patterns", [])),
        capacity=tuple(_capacity(o) for o in k.get("capacity", [])),
        nodes=tuple(k.get("nodes", [])),
    )


def _class(c: dict[str, Any], withheld: bool = False) -> ClassFindings:
    violating = dict(c["estimated_violating"])
    upper = violating.pop("upper_bound", None)
    ttl = c.get("ttl_seconds", {})
    memory = c.get("memory")
    exact = c.get("exact", True)
    return ClassFindings(
        c["name"],
        c["pattern"],
        c["matched"],
        c["vanished"],
        dict(c["violations"]),
        ttl.get("p50"),
        ttl.get("p90"),
        ttl.get("max"),
        (WITHHELD,) if withheld and c.get("violating_keys") else tuple(c.get("examples", [])),
        memory_bytes=c.get("memory_bytes"),
        violating_keys=c.get("violating_keys"),
        exact=exact,
        via="match" if c.get("audited_by") == "scan_match" else ("scan" if exact else "sample"),
        estimated_matched=_estimate(c["estimated_matched"]),
        estimated_violations={r: _estimate(e) for r, e in c["estimated_violations"].items()},
        estimated_violating=_estimate(violating),
        upper_bound_violating=upper,
        upper_bound_rate=c.get("upper_bound_rate"),
        memory_estimate=None
        if memory is None
        else Estimate(memory["total_bytes"], memory["low_bytes"], memory["high_bytes"]),
        memory_mean=None if memory is None else memory.get("mean_bytes"),
    )


def _capacity(o: dict[str, Any]) -> CapacityObservation:
    exact = bool(o["exact"])
    keys = _estimate(o["observed_keys_interval"]) if not exact else Estimate.exact(o["observed_keys"])
    observed: Estimate | None = None
    if o.get("observed_bytes") is not None:
        span = o.get("observed_bytes_interval")
        b = o["observed_bytes"]
        observed = Estimate(b, span["low"], span["high"]) if span else Estimate.exact(b)
    return CapacityObservation(o["class"], o.get("estimate_bytes"), keys, observed, exact)


__all__ = ["MergeRequest", "merge", "run", "target_from_json"]
