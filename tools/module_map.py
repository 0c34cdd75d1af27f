"""Regenerate the module map in docs/architecture.md from the package tree.

Each module of redispolicy/ is listed with the first line of its docstring, between the
``<!-- module-map -->`` markers, so the map is read from the code rather than kept by hand.

    python tools/module_map.py [--check]

``--check`` writes nothing and exits 1 when the page's map is not what the tree gives.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "redispolicy"
PAGE = ROOT / "docs" / "architecture.md"
BEGIN = "<!-- module-map:begin (python tools/module_map.py) -->"
END = "<!-- module-map:end -->"


def summary(path: Path) -> str:
    """The docstring's first sentence (of its first paragraph), or nothing."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    if not doc:
        return ""
    para = " ".join(doc.strip().split("\n\n")[0].split())
    end = para.find(". ")
    return para if end < 0 else para[: end + 1]


def modules() -> list[tuple[str, str]]:
    """(module path relative to the package, summary): top-level modules, then package by package."""
    out = []
    for path in sorted(
        PACKAGE.rglob("*.py"),
        key=lambda p: (p.parent.relative_to(PACKAGE).parts, p.name != "__init__.py", p.name),
    ):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in ("__init__.py", "__main__.py"):
            continue  # the package itself: the page says what it is
        out.append((rel, summary(path)))
    return out


def table() -> str:
    """Per package its own summary, then one line per module."""
    lines: list[str] = []
    for rel, text in modules():
        folder, _, name = rel.rpartition("/")
        if name == "__init__.py":
            lines += ["", f"**`{folder}/`** — {text}", ""]
        else:
            lines.append(f"- `{rel}` — {text}" if text else f"- `{rel}`")
    return "\n".join(lines).strip("\n")


def render(page: str) -> str:
    head, sep, rest = page.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise SystemExit(f"module_map: {PAGE} has no {BEGIN} ... {END} block; add one where the map goes")
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    page = PAGE.read_text(encoding="utf-8")
    new = render(page)
    if "--check" in argv[1:]:
        if new != page:
            print(f"{PAGE} has a stale module map: run python tools/module_map.py", file=sys.stderr)
            return 1
        print(f"{PAGE}: module map is up to date")
        return 0
    PAGE.write_text(new, encoding="utf-8")
    print(f"wrote the module map of {PAGE} ({len(modules())} modules)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
