"""docs/ says only what the code does, and nothing in the repository points outside it.

Each page is checked against the thing it describes: docs/cli.md against the click
commands (both ways: no invented option, none left out), docs/policy-format.md against
policy/schema.json, the format table against the renderer registry, the module map
against the tree, the import rules of docs/architecture.md against the imports.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import pytest

from redispolicy.main import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = (
    "architecture.md",
    "policy-format.md",
    "cli.md",
    "json-format.md",
    "plan-file.md",
    "security.md",
    "fleets.md",
    "mcp.md",
)

COMMAND_KIND = {
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
SHARED_EXEMPT = {"schema", "mcp", "init"}  # without the shared options (mcp serves; init writes policy files)


def _page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _sections(text: str) -> dict[str, str]:
    """'## title' -> its body; the text before the first heading is ''."""
    out: dict[str, str] = {}
    title = ""
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            title = line[3:].strip()
            out[title] = ""
        else:
            out[title] = out.get(title, "") + line
    return out


def _long_options(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))


def _options(cmd: click.Command) -> set[str]:
    opts = {"--help"}
    for p in cmd.params:
        if isinstance(p, click.Option):
            opts |= {o for o in (*p.opts, *p.secondary_opts) if o.startswith("--")}
    return opts


COMMANDS: dict[str, click.Command] = dict(cli.commands)


def test_every_page_exists() -> None:
    assert sorted(p.name for p in DOCS.glob("*.md")) == sorted(PAGES)


# -- docs/cli.md ---------------------------------------------------------------------------


def _cli_sections() -> tuple[dict[str, str], str, str]:
    """(command -> its section), the shared options' section, everything else."""
    per_command: dict[str, str] = {}
    shared, rest = "", ""
    for title, body in _sections(_page("cli.md")).items():
        m = re.match(r"`redispolicy ([\w-]+)", title)  # merge-reports has a hyphen
        if m:
            assert m.group(1) in COMMANDS, f"docs/cli.md has a section for {m.group(1)!r}, not a command"
            per_command[m.group(1)] = per_command.get(m.group(1), "") + title + "\n" + body
        elif title == "Shared options":
            shared = body
        else:
            rest += title + "\n" + body
    return per_command, shared, rest


QUOTED_COMMAND = re.compile(r"`redispolicy ([a-z]+(?:-[a-z]+)*)\b([^`]*)`")


def test_cli_page_names_only_options_that_exist() -> None:
    per_command, shared, rest = _cli_sections()
    for quoted, args in QUOTED_COMMAND.findall(_page("cli.md")):
        # a quoted command line (`redispolicy remediate -e ENV --execute --resume`) is checked as itself
        assert quoted in COMMANDS, f"docs/cli.md quotes `redispolicy {quoted}`, not a command"
        unknown = _long_options(args) - _options(COMMANDS[quoted])
        assert not unknown, (
            f"docs/cli.md: `redispolicy {quoted}{args}`: {sorted(unknown)} are not its options"
        )
    for name, section in per_command.items():
        section = QUOTED_COMMAND.sub("", section.split("\n", 1)[1])  # the heading is a quoted command too
        unknown = _long_options(section) - _options(COMMANDS[name])
        assert not unknown, f"docs/cli.md, section {name}: {sorted(unknown)} are not options of {name}"
    for name, cmd in COMMANDS.items():
        if name not in SHARED_EXEMPT:
            missing = _long_options(shared) - _options(cmd)
            assert not missing, f"docs/cli.md 'Shared options': {sorted(missing)} are not options of {name}"
    anywhere = {"--version"}.union(*(_options(c) for c in COMMANDS.values()))
    assert not _long_options(rest) - anywhere, sorted(_long_options(rest) - anywhere)


def test_cli_page_documents_every_command_and_option() -> None:
    per_command, shared, _ = _cli_sections()
    assert set(per_command) == set(COMMANDS), "docs/cli.md needs one section per command"
    for name, cmd in COMMANDS.items():
        documented = _long_options(per_command[name])
        if name not in SHARED_EXEMPT:
            documented |= _long_options(shared)
        missing = _options(cmd) - documented - {"--help"}
        assert not missing, f"docs/cli.md does not document {name} {sorted(missing)}"


def test_cli_page_lists_every_exit_code_the_cli_promises() -> None:
    promised = set(re.findall(r"\b(\d+) [a-z]", cli.help or ""))  # "0 ok · 1 invalid ... 64 usage"
    table = _sections(_page("cli.md"))["Exit codes"]
    documented = set(re.findall(r"^\| (\d+) \|", table, re.M))
    assert promised and promised <= documented, (promised, documented)


def test_cli_page_format_table_is_the_renderer_matrix() -> None:
    from redispolicy.render import formats  # the registry the renderer matrix is declared in

    section = _sections(_page("cli.md"))["Shared options"]
    header = next(line for line in section.splitlines() if line.startswith("| command |"))
    columns = [c.strip() for c in header.strip("|").split("|")][1:]
    seen = set()
    for line in section.splitlines():
        m = re.match(r"\| (`\w+`(?:, `\w+`)*) \|(.*)\|$", line)
        if not m:
            continue
        marks = [c.strip() for c in m.group(2).split("|")]
        documented = tuple(f for f, mark in zip(columns, marks, strict=True) if mark == "✓")
        for name in re.findall(r"`(\w+)`", m.group(1)):
            seen.add(name)
            assert documented == formats(COMMAND_KIND[name]), f"docs/cli.md formats of {name}"
    assert seen == set(COMMAND_KIND)


# -- docs/policy-format.md -----------------------------------------------------------------


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((ROOT / "redispolicy" / "policy" / "schema.json").read_text())
    return schema


def _field_names(node: dict[str, Any], defs: dict[str, Any], seen: frozenset[str] = frozenset()) -> set[str]:
    """Every property name below ``node``, through $ref, allOf and array items."""
    names: set[str] = set()
    ref = node.get("$ref", "")
    if ref.startswith("#/$defs/") and ref not in seen:
        names |= _field_names(defs[ref.rsplit("/", 1)[1]], defs, seen | {ref})
    for sub in node.get("allOf", []) + node.get("oneOf", []):
        names |= _field_names(sub, defs, seen)
    if isinstance(node.get("items"), dict):
        names |= _field_names(node["items"], defs, seen)
    for name, sub in node.get("properties", {}).items():
        names.add(name)
        names |= _field_names(sub, defs, seen)
    return names


def test_policy_page_has_one_heading_per_top_level_field_and_no_other() -> None:
    text = _page("policy-format.md")
    fields = _sections(text)["Fields"]
    headings = re.findall(r"^### `([^`]+)`$", fields, re.M)
    assert headings == list(_schema()["properties"]), (
        "docs/policy-format.md: one ### heading per field, in order"
    )


def test_policy_page_names_every_nested_field() -> None:
    schema = _schema()
    text = _page("policy-format.md")
    quoted = set(re.findall(r"`([A-Za-z_]+)`", text))
    quoted |= {w for inner in re.findall(r"`\{([^`}]*)\}`", text) for w in re.findall(r"[A-Za-z_]+", inner)}
    missing = _field_names(schema, schema["$defs"]) - quoted
    assert not missing, f"docs/policy-format.md does not name {sorted(missing)}"


def test_policy_page_names_no_field_the_schema_lacks() -> None:
    """Every field row (`| \\`name\\` |`) of a field table is a field of the schema."""
    schema = _schema()
    known = _field_names(schema, schema["$defs"])
    rows = set(re.findall(r"^\| `([a-z_]+)`(?:, `([a-z_]+)`)? \|", _page("policy-format.md"), re.M))
    named = {n for row in rows for n in row if n}
    assert named and not named - known, sorted(named - known)


# -- the architecture page -----------------------------------------------------------------


def _module_map() -> ModuleType:
    spec = importlib.util.spec_from_file_location("module_map", ROOT / "tools" / "module_map.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_module_map_lists_exactly_the_modules_of_the_tree() -> None:
    mm = _module_map()
    page = _page("architecture.md")
    assert mm.BEGIN in page and mm.END in page
    block = page.split(mm.BEGIN, 1)[1].split(mm.END, 1)[0]
    listed = set(re.findall(r"^- `([\w/]+\.py)`", block, re.M))
    listed |= {f"{p}__init__.py" for p in re.findall(r"^\*\*`([\w/]+/)`\*\*", block, re.M)}
    tree = {rel for rel, _ in mm.modules()}
    assert listed == tree, (
        f"module map is stale (added: {sorted(tree - listed)}, gone: {sorted(listed - tree)}): "
        "run python tools/module_map.py"
    )


def _imports(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, at any depth of the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("library", "doors"),
    [
        ("click", {"main.py"}),
        ("yaml", {"policy/yamlload.py"}),
        ("jsonschema", {"policy/schema.py"}),
    ],
)
def test_one_door_per_library(library: str, doors: set[str]) -> None:
    package = ROOT / "redispolicy"
    users = {p.relative_to(package).as_posix() for p in package.rglob("*.py") if library in _imports(p)}
    assert users == doors, f"docs/architecture.md: {library} is imported only in {sorted(doors)}"


def test_pure_stages_do_not_import_redis() -> None:
    package = ROOT / "redispolicy"
    offenders = [
        p.relative_to(package).as_posix()
        for folder in ("policy", "catalog", "plan", "render")
        for p in (package / folder).rglob("*.py")
        if "redis" in _imports(p)
    ]
    assert not offenders, f"docs/architecture.md: redis-py stays out of these stages: {offenders}"


# -- links and references ------------------------------------------------------------------


def _repo_files() -> list[Path]:
    """Tracked and new (not ignored) files: what a clone of the working tree would hold."""
    out = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [ROOT / p for p in sorted(set(out.split("\0"))) if p and (ROOT / p).is_file()]


def test_relative_links_in_docs_and_readme_resolve() -> None:
    for page in [
        ROOT / "README.md",
        *sorted(DOCS.glob("*.md")),
        ROOT / "tools" / "catalog-source" / "ORIGIN.md",
    ]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), (
                f"{page.relative_to(ROOT)} links to {target}, which does not exist"
            )


# Built from parts so that this file does not match itself.
OUTSIDE = [
    re.compile(p)
    for p in (
        r"DESIGN" + r" ?§",
        r"DESIGN" + r"\.md",
        r"shared/" + r"research",
        r"research" + r" §",
        r"research/" + r"anchors",
    )
]
SHARED_DIR = re.compile(r"\.\./" + r"shared\b")
# The CI entry and the test matrix run the environment's server-matrix tool (not documentation);
# the extends fixture names a path outside the policy directory on purpose (it must be refused).
SHARED_ALLOWED = {".ci/run", "tests/redis_servers.py", "tests/cases/invalid/extends-outside-dir/policy.yaml"}


def test_nothing_in_the_repository_points_outside_it() -> None:
    found = []
    for path in _repo_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        rel = path.relative_to(ROOT).as_posix()
        for pattern in OUTSIDE:
            found += [
                f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}" for m in pattern.finditer(text)
            ]
        if rel not in SHARED_ALLOWED:
            found += [
                f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
                for m in SHARED_DIR.finditer(text)
            ]
    assert not found, "references outside the repository (point them at docs/ instead):\n" + "\n".join(found)


def test_matrix_tool_is_the_only_outside_path_the_ci_files_use() -> None:
    for rel in (".ci/run", "tests/redis_servers.py"):
        text = (ROOT / rel).read_text(encoding="utf-8")
        uses = set(re.findall(r"\.\./" + r"shared[\w/.-]*", text))
        assert uses <= {"../" + "shared/tools/redis-servers", "../" + "shared."}, (rel, uses)


def test_readme_rules_table_lists_every_rule() -> None:
    """Every stable rule id validate can emit is in the README's table, with its summary, and nothing else."""
    from redispolicy.rules import RULES

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = dict(
        re.findall(
            r"^\| `([a-z0-9-]+)` \| (.+?) \|$", text.split("## Rules", 1)[1].split("\n## ", 1)[0], re.M
        )
    )
    assert table == {r.id: r.summary for r in RULES.values()}
