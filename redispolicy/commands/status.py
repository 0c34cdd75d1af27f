"""redispolicy status -e ENV [--watch SECONDS]: a live view of every node of the target's deployment.

Memory against the limit, ops/s, hit rate, evictions/s and expirations/s over the refresh
window, clients, slowlog growth (command names only), the replication link, and each key
class's share of the keys and memory of a small RANDOMKEY sample (taken every few refreshes:
it costs). Coloured by the policy's ``health:`` thresholds (plan/health.py, as drift).

One reading (no --watch) takes two INFO readings ``WINDOW`` seconds apart, so its rates
are real. --watch on a terminal redraws a rich Live table in place; elsewhere it writes one
line per node per refresh (``-o json``: one JSON object per line). Ctrl-C ends a watch with
exit 0. Read-only: nothing is ever written to a server.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from redispolicy.commands import Options, Result
from redispolicy.commands import plan as plan_cmd
from redispolicy.commands.output import render_result
from redispolicy.errors import RedispolicyError, UsageError
from redispolicy.live.connect import ConnectOptions, address
from redispolicy.live.expiry import ExpiryWatch
from redispolicy.live.model import ClassSample, NodeReading
from redispolicy.live.sentinel import deployment as sentinel_deployment
from redispolicy.live.status import SAMPLE_DRAWS, NodeWatch
from redispolicy.plan.expiry import ExpiryClassifier
from redispolicy.plan.status import StatusReport, report
from redispolicy.policy.model import Policy, Target
from redispolicy.render.style import Style

WINDOW = 1.0  # seconds between the two INFO readings of one reading (no --watch)
MIN_WATCH = 0.2  # a faster refresh measures little but the tool's own INFO calls
SAMPLE_EVERY = 5  # refreshes between two key samples
MAX_PARALLEL = 8  # nodes read at once


@dataclasses.dataclass(frozen=True)
class StatusRequest:
    """`redispolicy status`'s flags, by name."""

    env: str
    url: str | None = None
    watch: float | None = None  # --watch SECONDS; None: one reading
    discover: bool = True  # every node of the deployment (False: --no-discover, the URL's node)
    window: float = WINDOW
    sample_draws: int = SAMPLE_DRAWS


class Screen(Protocol):
    """Where a watch's refreshes go: a live terminal view, or lines."""

    immediate: bool  # show the first reading at once (its rates pending), or wait for the first window

    def show(self, report: StatusReport) -> None: ...

    def close(self) -> None: ...


def _members(
    policy: Policy, target: Target | None, conn: ConnectOptions, req: StatusRequest
) -> list[NodeWatch]:
    """The nodes of one target's deployment, found as drift finds them (commands/plan.py find_deployment,
    a sentinel target's primary and replicas); one node with --no-discover or ``topology: standalone``."""
    chosen = target or policy.target
    pinned = chosen.topology if chosen is not None else None
    if not req.discover or pinned in ("standalone", "sentinel"):
        return [NodeWatch(conn, address(conn.url.reveal()), "unknown")]
    try:
        if req.url is None and chosen is not None and chosen.sentinel is not None:
            found = sentinel_deployment(plan_cmd.sentinel_spec(chosen.sentinel), conn)
        else:
            found = plan_cmd.find_deployment(conn)
    except RedispolicyError as exc:
        # e.g. INFO refused (it names the replicas): the URL's node is still worth watching, and says why
        # it is alone.
        why = f"{exc.message}; only the URL's node is shown (--no-discover says so on purpose)"
        return [NodeWatch(conn, address(conn.url.reveal()), "unknown", (("discovery", why),))]
    return [NodeWatch(plan_cmd.node_options(conn, m), m.address, m.role) for m in found.members]


def nodes(policy: Policy, req: StatusRequest) -> list[NodeWatch]:
    """Every node to watch: the target's deployment, or each deployment of a ``targets:`` fleet."""
    targets: list[Target | None] = [None] if req.url or not policy.targets else list(policy.targets)
    out: dict[str, NodeWatch] = {}
    for target in targets:
        conn = plan_cmd.connect_options(policy, req.url, target)
        for node in _members(policy, target, conn, req):
            out.setdefault(node.address, node)  # a node two targets share is watched once
    return list(out.values())


class Watcher:
    """The nodes, their previous readings and latest key samples: one ``refresh`` per window."""

    def __init__(self, policy: Policy, watches: list[NodeWatch], req: StatusRequest) -> None:
        self.policy = policy
        self.watches = watches
        self.req = req
        self.prev: dict[str, NodeReading] = {}
        self.samples: dict[str, ClassSample] = {}
        self.count = 0
        self.pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, max(1, len(watches))))
        self.expiry = self._subscribe()

    def _subscribe(self) -> dict[str, ExpiryWatch]:
        """With a ``health.expired_per_hour`` rule: one expired-event subscription per primary (a replica
        does not expire keys itself: its primary's DEL reaches it), counting lock timeouts per class from
        now on. No rule: nothing subscribes, as in drift."""
        if self.policy.health.expired_per_hour is None:
            return {}
        classify = ExpiryClassifier(self.policy.keys)
        out = {}
        for w in self.watches:
            if w.role == "master":
                out[w.address] = ExpiryWatch(w.opts, classify, classify.names)
                out[w.address].start()  # an unavailable start is kept and said with every reading
        return out

    def _with_expiry(self, r: NodeReading) -> NodeReading:
        """The reading with its node's expirations per class since the watch began (or why not)."""
        watch = self.expiry.get(r.address)
        if watch is None:
            return r
        counted = watch.snapshot()
        if not counted.available:
            return dataclasses.replace(
                r, unavailable=(*r.unavailable, ("lock timeouts", counted.unavailable))
            )
        return dataclasses.replace(r, expired_by_class=counted.counts)

    def read(self, sample: bool) -> StatusReport:
        """Read every node (with a key sample when ``sample`` and the policy has classes), and judge it
        against the previous reading."""
        draws = self.req.sample_draws if sample and self.policy.keys else 0
        pairs = list(self.pool.map(lambda w: w.read(draws), self.watches))
        readings = [self._with_expiry(shown) for shown, _ in pairs]
        for r in readings:
            if r.sample is not None:
                self.samples[r.address] = r.sample
        out = report(
            self.policy.environment,
            self.prev,
            readings,
            self.policy.health,
            self.policy.keys,
            self.samples,
            self.count,
            self.req.watch,
        )
        self.prev = {r.address: r for _, r in pairs}  # after a sample: read after it (see NodeWatch.read)
        self.count += 1
        return out

    def close(self) -> None:
        for expiry in self.expiry.values():
            expiry.stop()
        self.pool.shutdown(wait=True)
        for w in self.watches:
            w.close()


def _start(opts: Options, req: StatusRequest) -> tuple[Watcher | None, Result | None]:
    policy, failed = plan_cmd.load_policy(opts, req.env, req.url is not None)
    if failed is not None:
        return None, failed
    assert policy is not None
    return Watcher(policy, nodes(policy, req), req), None


def run(opts: Options, req: StatusRequest) -> Result:
    """One reading: two INFO readings ``req.window`` apart (the first with the key sample). Exit 1 when a
    node could not be reached at all, else 0."""
    watcher, failed = _start(opts, req)
    if failed is not None:
        return failed
    assert watcher is not None
    try:
        watcher.read(sample=True)
        time.sleep(req.window)
        reading = watcher.read(sample=False)
    finally:
        watcher.close()
    unreached = any(what == "node" for n in reading.nodes for what, _ in n.unavailable)
    return render_result(opts, "status", reading, 1 if unreached else 0)


def watch(opts: Options, req: StatusRequest, screen: Callable[[], Screen]) -> Result:
    """Refresh every ``req.watch`` seconds until Ctrl-C, which ends it cleanly: exit 0, the screen closed
    (the terminal's cursor back), nothing half-written. A key sample every SAMPLE_EVERY refreshes."""
    if req.watch is None or not req.watch >= MIN_WATCH:  # `not >=` refuses nan too
        raise UsageError(
            f"--watch {req.watch}: refresh at most every {MIN_WATCH} s",
            f"give --watch a number of seconds of at least {MIN_WATCH}",
        )
    watcher: Watcher | None = None
    shown: Screen | None = None
    try:
        watcher, failed = _start(opts, req)
        if failed is not None:
            return failed
        assert watcher is not None
        shown = screen()
        first = watcher.read(sample=True)
        if shown.immediate:
            shown.show(first)  # on a terminal, the figures without rates at once; lines wait for a window
        due = time.monotonic()
        while True:
            due = max(due + req.watch, time.monotonic())  # a slow refresh delays the next, never piles up
            time.sleep(max(0.0, due - time.monotonic()))
            shown.show(watcher.read(sample=watcher.count % SAMPLE_EVERY == 0))
    except KeyboardInterrupt:
        return Result("", 0)
    finally:
        if shown is not None:
            shown.close()
        if watcher is not None:
            watcher.close()


class LiveScreen:
    """rich's Live view on the terminal, redrawn in place; stopping it restores the cursor."""

    immediate = True

    def __init__(self, style: Style) -> None:
        from rich.console import Console
        from rich.live import Live

        self.style = style
        console = Console(
            force_terminal=True,
            no_color=not style.color,
            highlight=False,
        )
        self.live = Live(console=console, auto_refresh=False, redirect_stdout=False, redirect_stderr=False)
        self.live.start()

    def show(self, reading: StatusReport) -> None:
        from redispolicy.render.text.status import view

        self.live.update(view(reading, self.style), refresh=True)

    def close(self) -> None:
        self.live.stop()


class LineScreen:
    """Lines for a log or a pipe: text, one line per node per refresh; json, one object per refresh."""

    immediate = False

    def __init__(
        self, render: Callable[[StatusReport, Style], str], style: Style, write: Callable[[str], None]
    ):
        self.render = render
        self.style = style
        self.write = write

    def show(self, reading: StatusReport) -> None:
        self.write(self.render(reading, self.style))

    def close(self) -> None:
        pass


def screen_for(opts: Options, terminal: bool, write: Callable[[str], None]) -> Callable[[], Screen]:
    """The screen for ``opts.output`` on this stdout: rich Live for text on a terminal, lines otherwise."""
    from redispolicy.render.json_ import render_status_line
    from redispolicy.render.text.status import render_lines

    style = opts.style
    if opts.output == "json":
        return lambda: LineScreen(render_status_line, style, write)
    if terminal:
        return lambda: LiveScreen(style)
    return lambda: LineScreen(render_lines, style, write)


__all__ = ["MIN_WATCH", "StatusRequest", "run", "screen_for", "watch"]
