"""Cost per event of the policy engine, beside detection alone and the
JSON floor.

Builds ``--events`` events (20 000 by default) from the sample events in
``tests/data/mixpanel_events.jsonl`` the way ``bench/_load.py`` does (random
distinct ids, insert ids and browsers), plus a user-agent string, a nested
address and a list of line items on every event. Then, over the same
events, in one process:

- floor: ``orjson.loads`` and ``orjson.dumps`` of each event's JSON record,
  i.e. merely passing it through JSON;
- detection only: ``Scanner.scan`` of every string in the event (property
  values at any depth, and the distinct id), without the engine's memo;
- engine, shipped policy: ``Engine.apply`` with ``defaults/policy.yaml``;
- engine, new actions: a policy that also uses mask, truncate, user_agent,
  bucket, enum, type checks, nested rules, drop_if, sample and a hash key
  rotation window.

Each figure is the best of ``--repeat`` timed passes after one warm-up
pass (the engine's memos are warm, as in a running gateway).

Run: ``python bench/policy.py [--events 20000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import datetime
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from redline.config import default_policy_path
from redline.detect import default_scanner
from redline.engine import Engine, Hasher
from redline.events import Event
from redline.policy import load_policy, parse_policy
from redline.protocols.mixpanel import event_from_export
from redline.sensitive import Sensitive

SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "data"
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
]

NEW_ACTIONS = """
version: 1
hash:
  key_id: k2
  key: {env: UNUSED}
  previous:
    - {key_id: k1, key: {env: UNUSED}, until: 2099-12-31}
all_events:
  drop_if:
    - {property: plan, equals: internal}
    - {property: $current_url, matches: "^https://staging\\\\."}
  properties:
    distinct_id: hash
    $device_id: hash
    $current_url: url
    $referrer: url
    $browser: {action: enum, values: [Chrome, Firefox, Safari], other: other}
    $browser_version: {type: number}
    $os: keep
    $screen_height: {action: bucket, edges: [0, 800, 1200, 2000]}
    $screen_width: {action: bucket, edges: [0, 800, 1200, 2000]}
    mp_lib: keep
    $lib_version: {action: truncate, max_length: 8}
    user_agent: user_agent
    address: {properties: {city: keep, country: keep, street: drop}}
    line_items:
      items:
        properties:
          sku: keep
          price: {action: bucket, edges: [0, 10, 100, 1000]}
          quantity: {type: integer}
events:
  $mp_web_page_view:
    sample: {rate: 0.5}
    properties:
      current_page_title: {action: truncate, max_length: 40}
  api_call:
    properties:
      category: keep
      model: {action: enum, values: [gpt-5, gpt-5-mini], other: other}
      prompt_tokens: {action: bucket, edges: [0, 100, 1000, 10000]}
      completion_tokens: {action: bucket, edges: [0, 100, 1000, 10000]}
      latency_ms: {type: number, on_mismatch: drop_event}
      text: drop
  api_key_created:
    properties:
      key_name: {action: mask, keep_first: 3}
      org_id: hash
  checkout:
    properties:
      plan: {action: enum, values: [free, pro, team]}
      price: {action: bucket, edges: [0, 10, 100, 1000]}
      currency: keep
      order_id: {action: mask, keep_last: 4}
      billing_phone: drop
  error:
    properties:
      message: {action: truncate, max_length: 80}
      release: keep
  search:
    properties:
      results: {type: integer}
  signup:
    properties:
      company_size: {action: bucket, edges: [1, 10, 100, 1000]}
      referrer_code: {action: mask, keep_first: 2}
  playground_session:
    properties:
      session_id: keep
      messages: {items: {properties: {role: keep, content: drop}}}
      total_tokens: {action: bucket, edges: [0, 1000, 10000]}
      temperature: {type: number}
"""


def make_events(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    lines = (SAMPLES / "mixpanel_events.jsonl").read_text().splitlines()
    samples = [orjson.loads(line) for line in lines if line]
    records = []
    for _ in range(count):
        record = orjson.loads(orjson.dumps(rng.choice(samples)))
        props = record["properties"]
        props["time"] = 1764230400 + rng.randrange(86_400)
        props["distinct_id"] = f"user_{rng.randrange(10_000)}"
        props["$insert_id"] = "".join(rng.choice(_BASE36) for _ in range(16))
        props["$browser"] = rng.choice(["Chrome", "Firefox", "Safari", "Edge"])
        props["user_agent"] = rng.choice(USER_AGENTS)
        props["address"] = {
            "city": rng.choice(["Zürich", "Lyon", "Osaka"]),
            "country": "CH",
            "street": f"{rng.randrange(1, 99)} Main St",
        }
        props["line_items"] = [
            {
                "sku": f"SKU-{rng.randrange(100)}",
                "price": rng.random() * 200,
                "quantity": rng.randrange(1, 5),
            }
            for _ in range(rng.randrange(0, 3))
        ]
        records.append(record)
    return records


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def best(run: Callable[[], None], repeat: int) -> float:
    run()  # warm-up: memos filled, code paths loaded
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    records = make_events(args.events)
    raw = [orjson.dumps(record) for record in records]
    events: list[Event] = [event_from_export(record) for record in records]
    scanner = default_scanner()
    key = Sensitive("bench-key-0123456789abcdef0123456789")
    shipped = Engine(load_policy(default_policy_path()), Hasher("local", key))
    rotating = Hasher(
        "k2",
        key,
        previous=[
            (
                Hasher("k1", Sensitive("old-key-0123456789abcdef")),
                datetime.date(2099, 12, 31),
            )
        ],
        today=lambda: datetime.date(2026, 12, 3),
    )
    new = Engine(parse_policy(NEW_ACTIONS, "bench"), rotating)

    def floor() -> None:
        for line in raw:
            orjson.dumps(orjson.loads(line))

    def detect() -> None:
        for event in events:
            for text in strings(event.properties):
                scanner.scan(text)
            if event.distinct_id:
                scanner.scan(event.distinct_id)

    def engine_run(engine: Engine) -> Callable[[], None]:
        def run() -> None:
            for event in events:
                engine.apply(event)

        return run

    kept = sum(new.apply(event).event is not None for event in events)
    figures = [
        ("orjson loads+dumps (floor)", best(floor, args.repeat)),
        ("Scanner.scan of each string", best(detect, args.repeat)),
        ("engine, shipped policy", best(engine_run(shipped), args.repeat)),
        ("engine, new actions", best(engine_run(new), args.repeat)),
    ]
    floor_seconds = figures[0][1]
    print(f"{len(events):,} events; the new-actions policy keeps {kept:,} of them")
    for label, seconds in figures:
        per_event = seconds / len(events) * 1e6
        print(
            f"{label:<30} {per_event:8.2f} us/event  "
            f"{len(events) / seconds:>10,.0f} events/s  "
            f"{seconds / floor_seconds:6.1f}x floor"
        )


if __name__ == "__main__":
    main()
