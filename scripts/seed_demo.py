"""Seed a throwaway local Redis with document-pipeline data for the redispolicy demo.

    python scripts/seed_demo.py --url redis://127.0.0.1:PORT/0 [--wait 10]

About 2000 keys, the same every run (seeded random), shaped like the pipeline that
policies/ describes, including the problems redispolicy should find:

    ocr:<doc>            string, 2-6 KB   TTL <= 3d; 10 keys 3-7 days; 3 keys without TTL
    entities:<doc>       hash             TTL <= 12h
    chunks:<doc>:<n>     string           TTL 1-2 days
    doc:<doc>:state      hash             no TTL (persistent)
    doc:<doc>:temp       string           TTL <= 6h; 5 keys without TTL
    lock:doc:<doc>       string           TTL <= 10m; 2 keys without TTL (a bug)
    ratelimit:<client>   zset             TTL 1h
    misc:*               mixed            unclassified

Refuses anything but a loopback address, and a database that already holds keys.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

import redis

MINUTE, HOUR, DAY = 60, 3600, 86400
BASE_EPOCH = 1767225600  # 2026-01-01T00:00:00Z: fixed, so the data is the same every run

_WORD_TEXT = (
    "invoice total amount due payment terms net days customer supplier order number "
    "delivery address tax vat subtotal item quantity unit price description reference "
    "contract party agreement clause section page signature date effective period "
    "account bank iban swift remittance shipment carrier tracking weight pallet "
    "the of and to in for on with by from as at per"
)
WORDS = _WORD_TEXT.split()
ENTITY_TYPES = ("ORG", "PERSON", "DATE", "MONEY", "GPE", "INVOICE_NO", "IBAN")
STAGES = ("received", "ocr", "entities", "chunked", "indexed", "failed")


def text(rng: random.Random, size: int) -> str:
    """Roughly `size` bytes of OCR-looking text."""
    out: list[str] = []
    n = 0
    while n < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14)))
        if rng.random() < 0.2:
            line += f" {rng.randint(1, 99999)}.{rng.randint(0, 99):02d}"
        out.append(line)
        n += len(line) + 1
    return "\n".join(out)[:size]


def loopback_only(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return
    host = parts.hostname or ""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        sys.exit(
            f"seed_demo: refusing to seed {host or url!r}: the demo only writes to a local server (127.0.0.1)"
        )


def wait_for(client: redis.Redis, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            client.ping()
            return
        except (redis.ConnectionError, redis.BusyLoadingError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def seed(client: redis.Redis, *, seed_value: int, docs: int) -> Counter[str]:
    rng = random.Random(seed_value)
    counts: Counter[str] = Counter()
    pipe = client.pipeline(transaction=False)
    pending = 0

    def flush(force: bool = False) -> None:
        nonlocal pending
        if pending and (force or pending >= 500):
            pipe.execute()
            pending = 0

    def put(namespace: str, *commands: tuple[str, tuple[object, ...]]) -> None:
        nonlocal pending
        for name, args in commands:
            getattr(pipe, name)(*args)
            pending += 1
        counts[namespace] += 1
        flush()

    doc_ids = [f"{rng.randrange(16**8):08x}" for _ in range(docs)]
    ocr_over_3d = set(rng.sample(range(docs), 10))
    ocr_no_ttl = set(rng.sample(sorted(set(range(docs)) - ocr_over_3d), 3))
    with_temp = rng.sample(range(docs), docs // 2)
    temp_no_ttl = set(rng.sample(with_temp, 5))
    with_lock = rng.sample(range(docs), max(docs // 10, 2))
    lock_no_ttl = set(rng.sample(with_lock, 2))

    for i, doc in enumerate(doc_ids):
        # OCR text: production allows 3 days, dev 7 - a few keys are left from a 7-day config.
        key = f"ocr:{doc}"
        body = text(rng, rng.randint(2048, 6144))
        if i in ocr_no_ttl:
            put("ocr", ("set", (key, body)))
        else:
            ttl = rng.randint(3 * DAY + HOUR, 7 * DAY) if i in ocr_over_3d else rng.randint(HOUR, 3 * DAY)
            put("ocr", ("set", (key, body)), ("expire", (key, ttl)))

        key = f"entities:{doc}"
        entities = {
            f"{rng.choice(ENTITY_TYPES)}:{n}": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
            for n in range(rng.randint(3, 12))
        }
        put(
            "entities", ("hset", (key, None, None, entities)), ("expire", (key, rng.randint(HOUR, 12 * HOUR)))
        )

        for n in range(rng.randint(1, 5)):
            key = f"chunks:{doc}:{n}"
            put(
                "chunks",
                ("set", (key, text(rng, rng.randint(300, 1200)))),
                ("expire", (key, rng.randint(DAY, 2 * DAY))),
            )

        stage = rng.choice(STAGES)
        state = {
            "stage": stage,
            "pages": rng.randint(1, 400),
            "size_bytes": rng.randint(200_000, 12_000_000),
            "received_at": BASE_EPOCH + rng.randint(0, 30 * DAY),
            "attempts": rng.randint(1, 3) if stage == "failed" else 1,
        }
        put("doc-state", ("hset", (f"doc:{doc}:state", None, None, state)))

        if i in with_temp:
            key = f"doc:{doc}:temp"
            scratch = json.dumps({"page": rng.randint(1, 400), "partial": text(rng, 200)})
            if i in temp_no_ttl:
                put("doc-temp", ("set", (key, scratch)))
            else:
                put("doc-temp", ("set", (key, scratch)), ("expire", (key, rng.randint(5 * MINUTE, 6 * HOUR))))

        if i in with_lock:
            key = f"lock:doc:{doc}"
            owner = f"worker-{rng.randint(1, 8)}:{rng.randrange(16**6):06x}"
            if i in lock_no_ttl:
                put("locks", ("set", (key, owner)))
            else:
                put("locks", ("set", (key, owner)), ("expire", (key, rng.randint(30, 10 * MINUTE))))

    for c in range(24):
        key = f"ratelimit:client-{c:02d}"
        hits = {
            f"req-{rng.randrange(16**8):08x}": BASE_EPOCH + rng.randint(0, HOUR)
            for _ in range(rng.randint(5, 60))
        }
        put("ratelimit", ("zadd", (key, hits)), ("expire", (key, HOUR)))

    misc = [
        (
            "misc:feature-flags",
            ("hset", ("misc:feature-flags", None, None, {"fast_ocr": "1", "ner_v2": "0"})),
            None,
        ),
        ("misc:last-deploy", ("set", ("misc:last-deploy", "2026-01-14T09:30:00Z")), None),
        ("misc:healthcheck", ("set", ("misc:healthcheck", "ok")), 5 * MINUTE),
        ("misc:queue:ocr", ("rpush", ("misc:queue:ocr", *doc_ids[:20])), None),
        ("misc:debug:dump", ("set", ("misc:debug:dump", text(rng, 4096))), None),
        ("misc:stats:daily", ("hset", ("misc:stats:daily", None, None, {"docs": docs, "failed": 7})), DAY),
        ("misc:tmp:migration", ("set", ("misc:tmp:migration", "v3")), None),
        ("misc:seen-docs", ("sadd", ("misc:seen-docs", *doc_ids[:50])), 2 * DAY),
    ]
    for key, command, ttl in misc:
        put("misc", command, *((("expire", (key, ttl)),) if ttl else ()))

    flush(force=True)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0", help="a local server (127.0.0.1 only)")
    parser.add_argument("--seed", type=int, default=20260101, help="random seed (default: %(default)s)")
    parser.add_argument("--docs", type=int, default=300, help="documents to simulate (default: %(default)s)")
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the server to answer PING")
    parser.add_argument("--force", action="store_true", help="seed even if the database already holds keys")
    args = parser.parse_args(argv)

    loopback_only(args.url)
    client = redis.Redis.from_url(args.url, decode_responses=True)
    try:
        wait_for(client, args.wait)
        existing = int(client.dbsize())
        if existing and not args.force:
            print(
                f"seed_demo: the database at {args.url} already holds {existing} keys; use --force to add to it",
                file=sys.stderr,
            )
            return 1
        counts = seed(client, seed_value=args.seed, docs=args.docs)
        total = int(client.dbsize())
    except redis.RedisError as exc:
        print(f"seed_demo: {exc} (is the server at {args.url} running?)", file=sys.stderr)
        return 1
    finally:
        client.close()
    detail = ", ".join(f"{ns} {n}" for ns, n in counts.items())
    print(f"seeded {sum(counts.values())} keys ({detail}); dbsize {total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
