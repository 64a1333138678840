"""Speed of the detector scanner on a realistic mix of analytics strings.

Builds ``--strings`` strings (20 000 by default) the way the engine meets
them: one property value at a time. Most are clean (event and browser
names, versions, UUIDs, ISO dates, epoch times written as strings, hex
tokens, clean URLs with campaign parameters, user agents, short free text);
``--planted`` of them (5% by default) carry personal data or a secret
(emails, phone numbers, card numbers, IP addresses, JWTs, API keys, URL
credentials). Every planted value is made up: documentation domains, ranges
and test numbers.

Prints strings per second for ``Scanner.scan``, microseconds per string by
kind of value, and the ratio against a baseline measured in the same
process on the same strings: ``orjson.dumps`` then ``orjson.loads`` of each
string, i.e. the cost of merely passing the value through JSON.

Run: ``python bench/detect.py [--strings 20000] [--planted 0.05]``.
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Callable

import orjson

from redline.detect import default_scanner

Maker = Callable[[random.Random], str]


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _uuid(rng: random.Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _iso(rng: random.Random) -> str:
    return (
        f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        f"T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
        f"{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z"
    )


def _url(rng: random.Random) -> str:
    path = rng.choice(["/", "/pricing", "/settings/billing", "/docs/api/errors"])
    query = rng.choice(
        [
            "",
            "?utm_source=newsletter&utm_medium=email&utm_campaign=dec-launch",
            "?tab=usage&range=30d",
            "?ref=producthunt",
        ]
    )
    return f"https://app.example.com{path}{query}"


def _agent(rng: random.Random) -> str:
    version = (
        f"{rng.randint(110, 131)}.0.{rng.randint(5000, 6999)}.{rng.randint(0, 200)}"
    )
    return (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
        f"(KHTML, like Gecko) Chrome/{version} Safari/537.36"
    )


CLEAN: dict[str, Maker] = {
    "word": lambda r: r.choice(
        ["Chrome", "Safari", "Mac OS X", "web", "pro", "team", "en-US", "true", "GB"]
    ),
    "event": lambda r: r.choice(
        ["$mp_web_page_view", "Signed In", "api_call", "Checkout Completed"]
    ),
    "version": lambda r: f"{r.randint(1, 3)}.{r.randint(0, 60)}.{r.randint(0, 9)}",
    "number": lambda r: str(
        r.choice([r.randint(0, 5000), r.randint(10**9, 2 * 10**9)])
    ),
    "epoch_ms": lambda r: str(r.randint(1_700_000_000_000, 1_800_000_000_000)),
    "decimal": lambda r: f"{r.random():.6f}",
    "uuid": _uuid,
    "iso_date": _iso,
    "hex_token": lambda r: _hex(r, 32),
    "insert_id": lambda r: "".join(
        r.choice("abcdefghijkmnpqrstuvwxyz0123456789") for _ in range(16)
    ),
    "url": _url,
    "user_agent": _agent,
    "text": lambda r: r.choice(
        [
            "Summarise this contract and list the open questions",
            "Translate the release notes into German",
            "Why does the build fail on Windows 10.0.19045.1?",
        ]
    ),
}

_JWT_HEAD = (
    base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
)

PLANTED: dict[str, Maker] = {
    "email": lambda r: f"user{r.randint(1, 999)}@example.com",
    "email_in_url": lambda r: (
        f"https://app.example.com/invite?email=user{r.randint(1, 999)}%40example.org"
    ),
    "phone": lambda r: f"call me on +1 202-555-01{r.randint(10, 99)} after 6pm",
    "card": lambda r: "Card 4111 1111 1111 1111 was declined",
    "ip": lambda r: f"198.51.100.{r.randint(1, 254)}",
    "jwt": lambda r: (
        f"https://app.example.com/reset/{_JWT_HEAD}.eyJzdWIiOiIxIn0.{_hex(r, 43)}"
    ),
    "api_key": lambda r: f"Invalid API Key provided: sk_live_{_hex(r, 24)}",
    "credential": lambda r: f"https://api.example.com/v1?access_token={_hex(r, 40)}",
}


def build(count: int, planted: float, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    corpus: list[tuple[str, str]] = []
    clean_kinds = list(CLEAN)
    planted_kinds = list(PLANTED)
    for _ in range(count):
        if rng.random() < planted:
            kind = rng.choice(planted_kinds)
            corpus.append((kind, PLANTED[kind](rng)))
        else:
            kind = rng.choice(clean_kinds)
            corpus.append((kind, CLEAN[kind](rng)))
    return corpus


def time_each(
    fn: Callable[[str], object], corpus: list[tuple[str, str]]
) -> list[float]:
    """Seconds per call for each string (best of three passes)."""
    best = [float("inf")] * len(corpus)
    clock = time.perf_counter
    for _ in range(3):
        for i, (_, text) in enumerate(corpus):
            start = clock()
            fn(text)
            elapsed = clock() - start
            if elapsed < best[i]:
                best[i] = elapsed
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strings", type=int, default=20_000)
    parser.add_argument("--planted", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    corpus = build(args.strings, args.planted, args.seed)
    scanner = default_scanner()
    found = sum(1 for _, text in corpus if scanner.scan(text))  # also warms caches

    def baseline(text: str) -> object:
        return orjson.loads(orjson.dumps(text))

    # whole-corpus throughput: one loop, no per-string clock in the way
    started = time.perf_counter()
    for _, text in corpus:
        scanner.scan(text)
    scan_total = time.perf_counter() - started
    started = time.perf_counter()
    for _, text in corpus:
        baseline(text)
    base_total = time.perf_counter() - started

    scan_each = time_each(scanner.scan, corpus)
    base_each = time_each(baseline, corpus)

    n = len(corpus)
    print(f"corpus: {n} strings, {n - found} without findings, {found} with")
    print(
        f"scan:     {n / scan_total:>11,.0f} strings/s "
        f"({scan_total / n * 1e6:.2f} us/string)"
    )
    print(
        f"baseline: {n / base_total:>11,.0f} strings/s "
        f"({base_total / n * 1e6:.2f} us/string, orjson dumps+loads)"
    )
    print(f"ratio:    scan takes {scan_total / base_total:.1f}x the baseline")
    print()
    print(f"{'kind':<14}{'count':>7}{'median us':>11}{'p99 us':>9}{'x baseline':>12}")
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, (kind, _) in enumerate(corpus):
        by_kind[kind].append(i)
    for kind in [*CLEAN, *PLANTED]:
        rows = by_kind.get(kind)
        if not rows:
            continue
        scan_us = sorted(scan_each[i] * 1e6 for i in rows)
        base_us = statistics.median(base_each[i] * 1e6 for i in rows)
        median = statistics.median(scan_us)
        p99 = scan_us[min(len(scan_us) - 1, int(len(scan_us) * 0.99))]
        ratio = median / base_us
        print(f"{kind:<14}{len(rows):>7}{median:>11.2f}{p99:>9.2f}{ratio:>12.1f}")


if __name__ == "__main__":
    main()
