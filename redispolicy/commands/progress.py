"""Progress bars for long key passes: rich, on stderr, only on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable


def progress_bar(total: int, label: str) -> Callable[[int], None] | None:
    """A rich progress bar on stderr, only on a terminal (stdout carries the report alone); step(-1) stops it."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress

    prog = Progress(transient=True, console=Console(stderr=True))
    prog.start()
    task = prog.add_task(label, total=total or None)

    def step(n: int) -> None:
        if n < 0:
            prog.stop()
        else:
            prog.advance(task, n)

    return step


def progress_line(text: str) -> None:
    """One line of a long run's progress on stderr (stdout carries the report alone), in CI logs too."""
    print(f"redispolicy: {text}", file=sys.stderr, flush=True)
