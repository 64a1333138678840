"""Sample vendor exports with personal data planted at known counts.

``write_exports`` writes one small dataset per format (Mixpanel, PostHog CSV
and JSON, Segment, Amplitude, generic JSON / JSON lines / CSV) from the same
population of people and event templates, and returns for each the ground
truth: how many events and distinct people carry each type of data, per type
and per (event, property, type), where the malformed lines are, and every raw
value planted (for canary tests). Output is a pure function of the seed.

``write_big_mixpanel`` writes a large Mixpanel-style export fast (gigabytes in
seconds, several files, optionally gzipped) for the benchmark, with event
counts per type but without the per-person truth.

Properties are counted by their top-level key in ``AuditRecord.properties``
(so a Segment IP in ``context.ip`` counts under ``context``, an Amplitude email
in ``user_properties.email`` under ``user_properties``). Types are the
detectors' entity names (``EMAIL``, ``PHONE``, ``CREDIT_CARD``, ``IP_ADDRESS``,
``JWT``, ``API_KEY``, ``IBAN``, ``US_SSN``, ``JP_MY_NUMBER``) and ``FREE_TEXT``
(sentences of five or more words with nothing else in them). Every other value (plans,
amounts, URLs, UUIDs, ISO times) is clean for the default scanner.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import gzip
import io
import os
import random
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from stdnum.jp import in_ as my_number

from redline.audit.records import FORMATS

START = 1_714_550_400  # 2024-05-01T08:00:00Z
EMAIL_ID_SHARE = 0.1
_DIGIT_RUN = re.compile(r"\d{7}")  # people whose distinct id is their email address


@dataclass
class Count:
    """Events carrying something, and the distinct people among them."""

    events: int = 0
    people_ids: set[str] = field(default_factory=set)

    @property
    def people(self) -> int:
        return len(self.people_ids)

    def add(self, person: str | None) -> None:
        self.events += 1
        if person is not None:
            self.people_ids.add(person)


@dataclass
class Truth:
    """What a correct audit of one written dataset must report."""

    format: str
    root: Path  # the directory holding the dataset's files
    files: list[Path] = field(default_factory=list)
    events: int = 0
    people_ids: set[str] = field(default_factory=set)
    by_event: Counter[str] = field(default_factory=Counter)
    by_type: dict[str, Count] = field(default_factory=dict)
    # (event name, top-level property key, type) -> count
    by_property: dict[tuple[str, str, str], Count] = field(default_factory=dict)
    # events carrying at least one planted value, and their people
    affected: Count = field(default_factory=Count)
    malformed: list[str] = field(default_factory=list)  # "file:line" sources
    planted: set[str] = field(default_factory=set)  # every raw planted value
    first: float | None = None
    last: float | None = None
    # (source, the vendor object or CSV row as written), in reading order
    written: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def people(self) -> int:
        return len(self.people_ids)

    def record(
        self,
        name: str,
        person: str | None,
        time: float,
        plants: Iterable[tuple[str, str]],
    ) -> None:
        self.events += 1
        self.by_event[name] += 1
        if person is not None:
            self.people_ids.add(person)
        self.first = time if self.first is None else min(self.first, time)
        self.last = time if self.last is None else max(self.last, time)
        kinds = set()
        for key, kind in set(plants):
            kinds.add(kind)
            self.by_property.setdefault((name, key, kind), Count()).add(person)
        for kind in kinds:
            self.by_type.setdefault(kind, Count()).add(person)
        if kinds:
            self.affected.add(person)


# -- values ------------------------------------------------------------------

_FIRST = ("ana", "ben", "chloe", "dev", "emi", "farid", "gala", "hiro", "ines")
_LAST = ("novak", "okafor", "petrov", "quint", "rossi", "sato", "tanaka", "ueda")
_DOMAINS = ("gmail.com", "proton.me", "outlook.com", "mailbox.org", "yahoo.co.jp")
_PHONES = (
    "+81 90-{a:04d}-{b:04d}",
    "+1 650-253-{b:04d}",
    "+44 20 7946 {b:04d}",
    "+49 30 {a:04d}{b:04d}",
)
_WORDS = (
    "please",
    "the",
    "checkout",
    "keeps",
    "failing",
    "when",
    "I",
    "change",
    "my",
    "delivery",
    "address",
    "again",
    "and",
    "nobody",
    "answers",
    "support",
    "tickets",
    "today",
)
_BROWSERS = ("Chrome", "Firefox", "Safari", "Edge")
_PLANS = ("free", "pro", "team")
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _luhn_complete(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return digits + str((10 - total % 10) % 10)


def _iban(rng: random.Random) -> str:
    bban = "".join(rng.choice("0123456789") for _ in range(18))
    rearranged = bban + "1314" + "00"  # D=13, E=14, check digits 00
    check = 98 - int(rearranged) % 97
    return f"DE{check:02d}{bban}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Person:
    id: str
    email: str
    phone: str
    card: str
    iban: str
    ip: str
    jwt: str
    api_key: str
    ssn: str
    my_number: str


def _person(rng: random.Random, index: int) -> Person:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    email = f"{first}.{last}{index}@{rng.choice(_DOMAINS)}"
    pid = email if rng.random() < EMAIL_ID_SHARE else f"u-{index:06d}"
    phone = rng.choice(_PHONES).format(
        a=rng.randrange(1000, 9999), b=rng.randrange(1000, 9999)
    )
    # not 49..: a grouped Visa number from 49 also reads as a German phone
    # number, and the phone detector wins (see README, Limitations)
    head = "4" + rng.choice("012345678")
    card = _luhn_complete(head + "".join(rng.choice("0123456789") for _ in range(13)))
    if rng.random() < 0.5:
        card = " ".join(card[i : i + 4] for i in range(0, 16, 4))
    if rng.random() < 0.5:
        a, b, c = rng.randrange(1, 255), rng.randrange(0, 255), rng.randrange(1, 255)
        ip = f"81.{a}.{b}.{c}"
    else:
        ip = (
            f"2a00:1450:{rng.randrange(0x1000, 0xFFFF):x}::{rng.randrange(1, 0xFFFF):x}"
        )
    header = _b64(b'{"alg":"HS256","typ":"JWT"}')
    payload = _b64(orjson.dumps({"sub": f"s{index}", "iat": START}))
    signature = _b64(rng.randbytes(32))
    if rng.random() < 0.5:
        key = "sk_live_" + "".join(rng.choice(_ALNUM) for _ in range(24))
    else:
        key = "AKIA" + "".join(rng.choice(_B32) for _ in range(16))
    jwt = f"{header}.{payload}.{signature}"
    return Person(
        pid, email, phone, card, _iban(rng), ip, jwt, key, _ssn(rng), _my_number(rng)
    )


def _ssn(rng: random.Random) -> str:
    """A number in the SSA's issued ranges (area 200-399, group 10-98).

    Areas 16x and 49x are left out: such numbers also read as German phone
    numbers, and the phone detector wins (see README, Limitations)."""
    area, group = rng.randrange(200, 400), rng.randrange(10, 99)
    return f"{area:03d}-{group:02d}-{rng.randrange(1000, 10000):04d}"


def _my_number(rng: random.Random) -> str:
    """A Japanese Individual Number with its check digit, as on the card.

    It starts with 2, 6 or 7: a grouped 12-digit number starting with 0 or
    with a country code (44, 49, 81, 91 ...) also reads as a phone number,
    and the phone detector wins (see README, Limitations)."""
    body = rng.choice("267") + "".join(rng.choice("0123456789") for _ in range(10))
    digits = body + my_number.calc_check_digit(body)
    return " ".join(digits[i : i + 4] for i in range(0, 12, 4))


def _clean_hex(rng: random.Random) -> str:
    """A 32-digit hex id without a run of 7 digits (a phone to a scanner)."""
    while True:
        value = f"{rng.getrandbits(128):032x}"
        if not _DIGIT_RUN.search(value):
            return value


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randrange(5, 10)))


# -- canonical events ----------------------------------------------------------


@dataclass
class Event:
    """A vendor-neutral event before it is written in a vendor's shape."""

    name: str
    person: Person
    time: int
    props: dict[str, Any]
    plants: list[tuple[str, str]]  # (property key, type) of planted values
    insert_id: str


Template = Callable[
    [random.Random, Person], tuple[dict[str, Any], list[tuple[str, str]]]
]


def _signed_up(rng: random.Random, p: Person) -> tuple[dict[str, Any], list[Any]]:
    props: dict[str, Any] = {"plan": rng.choice(_PLANS), "email": p.email}
    plants = [("email", "EMAIL")]
    if rng.random() < 0.5:
        props["phone"] = p.phone
        plants.append(("phone", "PHONE"))
    return props, plants


def _checkout(rng: random.Random, p: Person) -> tuple[dict[str, Any], list[Any]]:
    props: dict[str, Any] = {
        "amount": round(rng.uniform(5, 500), 2),
        "currency": "EUR",
    }
    plants = []
    if rng.random() < 0.3:
        props["card_number"] = p.card
        plants.append(("card_number", "CREDIT_CARD"))
    if rng.random() < 0.2:
        props["iban"] = p.iban
        plants.append(("iban", "IBAN"))
    return props, plants


def _page(rng: random.Random, p: Person) -> tuple[dict[str, Any], list[Any]]:
    props: dict[str, Any] = {
        "$current_url": f"https://shop.example.com/products/{rng.randrange(1, 999)}",
        "$browser": rng.choice(_BROWSERS),
    }
    plants = []
    if rng.random() < 0.6:
        props["ip"] = p.ip
        plants.append(("ip", "IP_ADDRESS"))
    return props, plants


def _api(rng: random.Random, p: Person) -> tuple[dict[str, Any], list[Any]]:
    props: dict[str, Any] = {"endpoint": rng.choice(("orders", "invoices", "users"))}
    plants = []
    if rng.random() < 0.4:
        props["token"] = p.jwt
        plants.append(("token", "JWT"))
    if rng.random() < 0.3:
        props["api_key"] = p.api_key
        plants.append(("api_key", "API_KEY"))
    return props, plants


def _feedback(rng: random.Random, p: Person) -> tuple[dict[str, Any], list[Any]]:
    return {"rating": rng.randrange(1, 6), "comment": _sentence(rng)}, [
        ("comment", "FREE_TEXT")
    ]


def _verified(rng: random.Random, p: Person) -> tuple[dict[str, Any], list[Any]]:
    props: dict[str, Any] = {"method": rng.choice(("document", "bank", "video"))}
    if rng.random() < 0.5:
        props["ssn"] = p.ssn
        return props, [("ssn", "US_SSN")]
    props["my_number"] = p.my_number
    return props, [("my_number", "JP_MY_NUMBER")]


def _clicked(rng: random.Random, p: Person) -> tuple[dict[str, Any], list[Any]]:
    return {"button": rng.choice(("buy-now", "add-to-cart", "menu")), "items": 3}, []


TEMPLATES: dict[str, Template] = {
    "Signed Up": _signed_up,
    "Checkout Completed": _checkout,
    "Page Viewed": _page,
    "API Request": _api,
    "Feedback Sent": _feedback,
    "Button Clicked": _clicked,
    "Identity Verified": _verified,
}
# CSV columns: every property a template can write
CSV_PROPERTIES = (
    "plan",
    "email",
    "phone",
    "amount",
    "currency",
    "card_number",
    "iban",
    "$current_url",
    "$browser",
    "ip",
    "endpoint",
    "token",
    "api_key",
    "rating",
    "comment",
    "button",
    "items",
    "method",
    "ssn",
    "my_number",
)
PLANT_VALUE_TYPES = (
    "email",
    "phone",
    "card",
    "iban",
    "ip",
    "jwt",
    "api_key",
    "ssn",
    "my_number",
)


def events(seed: int, count: int, people: int) -> list[Event]:
    """The canonical events every format is written from."""
    rng = random.Random(seed)
    population = [_person(rng, index) for index in range(people)]
    names = list(TEMPLATES)
    out = []
    for index in range(count):
        person = rng.choice(population)
        name = rng.choice(names)
        props, plants = TEMPLATES[name](rng, person)
        insert_id = _clean_hex(rng)
        out.append(Event(name, person, START + index * 7, props, plants, insert_id))
    return out


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def _id_plants(event: Event, key: str) -> list[tuple[str, str]]:
    return [(key, "EMAIL")] if event.person.id == event.person.email else []


def _planted_values(event: Event) -> set[str]:
    values = {str(event.props[key]) for key, _ in event.plants}
    if event.person.id == event.person.email:
        values.add(event.person.id)
    return values


# -- vendor shapes ------------------------------------------------------------
# Each returns the object as written and the (top-level key, type) plants as
# the reader will present them.

Shaped = tuple[dict[str, Any], list[tuple[str, str]]]


def mixpanel_shape(event: Event) -> Shaped:
    properties = {
        "time": event.time,
        "distinct_id": event.person.id,
        "$insert_id": event.insert_id,
        **event.props,
    }
    obj = {"event": event.name, "properties": properties}
    return obj, event.plants + _id_plants(event, "distinct_id")


def posthog_shape(event: Event) -> Shaped:
    obj = {
        "uuid": _uuid(event.insert_id),
        "event": event.name,
        "distinct_id": event.person.id,
        "timestamp": _iso(event.time),
        "properties": dict(event.props),
    }
    return obj, event.plants + _id_plants(event, "distinct_id")


def _uuid(hex32: str) -> str:
    h = hex32
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def segment_shape(event: Event) -> Shaped:
    base: dict[str, Any] = {
        "messageId": _uuid(event.insert_id),
        "userId": event.person.id,
        "anonymousId": _uuid(event.insert_id[::-1]),
        "timestamp": _iso(event.time),
        "context": {"library": {"name": "analytics-python", "version": "2.3.2"}},
    }
    plants = _id_plants(event, "userId")
    props = dict(event.props)
    for key, kind in event.plants:
        if key == "ip":
            base["context"]["ip"] = props.pop("ip")
            plants.append(("context", kind))
    if event.name == "Signed Up":
        base.update(type="identify", traits=props)
        plants += [("traits", kind) for _, kind in event.plants]
    else:
        base.update(type="track", event=event.name, properties=props)
        plants += [(key, kind) for key, kind in event.plants if key != "ip"]
    return base, plants


def amplitude_shape(event: Event) -> Shaped:
    obj: dict[str, Any] = {
        "event_type": event.name,
        "user_id": event.person.id,
        "device_id": _uuid(event.insert_id[::-1]),
        "event_time": datetime.fromtimestamp(event.time, UTC).strftime(
            "%Y-%m-%d %H:%M:%S.%f"
        ),
        "insert_id": event.insert_id,
        "amplitude_id": int(event.insert_id[:7], 16),
        "platform": "Web",
    }
    plants = _id_plants(event, "user_id")
    props = dict(event.props)
    user: dict[str, Any] = {}
    for key, kind in event.plants:
        if key == "ip":
            obj["ip_address"] = props.pop("ip")
            plants.append(("ip_address", kind))
        elif key in ("email", "phone"):
            user[key] = props.pop(key)
            plants.append(("user_properties", kind))
        else:
            plants.append((key, kind))
    obj["event_properties"] = props
    obj["user_properties"] = user
    return obj, plants


def generic_shape(event: Event) -> Shaped:
    obj = {
        "event": event.name,
        "user_id": event.person.id,
        "time": event.time,
        **event.props,
    }
    return obj, event.plants + _id_plants(event, "user_id")


def _csv_row(obj: dict[str, Any], columns: Iterable[str]) -> list[str]:
    return ["" if obj.get(c) is None else str(obj[c]) for c in columns]


# -- writers -----------------------------------------------------------------

# Lines no reader accepts, in turn; the last is broken only for vendor
# formats (a generic reader takes any object, named or not).
_BROKEN_LINES = (
    b'{"event": "Signed Up", "properties": {"email": "%s"',  # cut short
    b"[1, 2, 3]",  # not an object
    b"\x00\x01 binary noise %s",
    b'{"properties": {"note": "%s"}}',  # no event name
)


def _broken(turn: int, canary: str, generic: bool) -> bytes:
    choices = _BROKEN_LINES[:-1] if generic else _BROKEN_LINES
    template = choices[turn % len(choices)]
    return template.replace(b"%s", canary.encode())


def _canary(index: int) -> str:
    return f"malformed.canary{index}@leak.example.org"


def write_exports(
    directory: str | os.PathLike[str],
    *,
    seed: int = 7,
    count: int = 1200,
    people: int = 150,
    formats: Iterable[str] = FORMATS,
    malformed: int = 4,
) -> dict[str, Truth]:
    """One dataset per format under ``directory/<format>/``, and its truth.

    ``malformed`` broken lines (rows, array elements) are planted per dataset
    where the format allows; each holds a canary email in its raw text.
    """
    root = Path(directory)
    canonical = events(seed, count, people)
    truths = {}
    for fmt in formats:
        target = root / fmt
        target.mkdir(parents=True, exist_ok=True)
        truths[fmt] = _WRITERS[fmt](target, canonical, malformed)
    return truths


def _new_truth(fmt: str, root: Path) -> Truth:
    return Truth(format=fmt, root=root)


def _account(
    truth: Truth, event: Event, plants: list[tuple[str, str]], obj: dict[str, Any]
) -> None:
    # Segment sign-ups are identify calls, which readers name by their kind
    name = "identify" if obj.get("type") == "identify" else event.name
    truth.record(name, event.person.id, float(event.time), plants)
    truth.planted |= _planted_values(event)


def _line_files(
    truth: Truth,
    event_list: list[Event],
    shape: Callable[[Event], Shaped],
    names: list[str],
    malformed: int,
    opener: Callable[[Path], Any],
    display: Callable[[Path], str] = str,
) -> None:
    """Split events over files of JSON lines, with broken lines among them."""
    per_file = -(-len(event_list) // len(names))
    broken_at = {(i + 1) * len(event_list) // (malformed + 1) for i in range(malformed)}
    index = 0
    for name in names:
        path = truth.root / name
        line = 0
        with opener(path) as out:
            for event in event_list[index : index + per_file]:
                if index in broken_at:
                    line += 1
                    canary = _canary(index)
                    generic = truth.format == "jsonl"
                    out.write(_broken(len(truth.malformed), canary, generic) + b"\n")
                    truth.malformed.append(f"{display(path)}:{line}")
                    truth.planted.add(canary)
                obj, plants = shape(event)
                line += 1
                out.write(orjson.dumps(obj) + b"\n")
                truth.written.append((f"{display(path)}:{line}", obj))
                _account(truth, event, plants, obj)
                index += 1
        truth.files.append(path)


def _write_mixpanel(root: Path, evs: list[Event], malformed: int) -> Truth:
    truth = _new_truth("mixpanel", root)
    half = len(evs) // 2
    _line_files(
        truth, evs[:half], mixpanel_shape, ["export-1.jsonl"], malformed, open_w
    )
    second = _new_truth("mixpanel", root)
    _line_files(
        second, evs[half:], mixpanel_shape, ["export-2.jsonl.gz"], malformed, gzip_w
    )
    return _combine(truth, second)


def _combine(a: Truth, b: Truth) -> Truth:
    for event_name, n in b.by_event.items():
        a.by_event[event_name] += n
    a.events += b.events
    a.people_ids |= b.people_ids
    for kind, c in b.by_type.items():
        _merge_count(a.by_type.setdefault(kind, Count()), c)
    for key, c in b.by_property.items():
        _merge_count(a.by_property.setdefault(key, Count()), c)
    _merge_count(a.affected, b.affected)
    a.malformed += b.malformed
    a.planted |= b.planted
    a.files += b.files
    a.written += b.written
    firsts = [t for t in (a.first, b.first) if t is not None]
    lasts = [t for t in (a.last, b.last) if t is not None]
    a.first = min(firsts) if firsts else None
    a.last = max(lasts) if lasts else None
    return a


def _merge_count(into: Count, other: Count) -> None:
    into.events += other.events
    into.people_ids |= other.people_ids


def open_w(path: Path) -> Any:
    return open(path, "wb")


def gzip_w(path: Path) -> Any:
    return gzip.open(path, "wb", compresslevel=5)


def _write_segment(root: Path, evs: list[Event], malformed: int) -> Truth:
    truth = _new_truth("segment", root)
    (root / "2024-05-01").mkdir(exist_ok=True)
    names = ["2024-05-01/part-0000.gz", "2024-05-01/part-0001.gz"]
    _line_files(truth, evs, segment_shape, names, malformed, gzip_w)
    return truth


def _write_jsonl(root: Path, evs: list[Event], malformed: int) -> Truth:
    truth = _new_truth("jsonl", root)
    _line_files(truth, evs, generic_shape, ["events.jsonl"], malformed, open_w)
    return truth


def _write_amplitude(root: Path, evs: list[Event], malformed: int) -> Truth:
    truth = _new_truth("amplitude", root)
    archive_path = root / "export.zip"
    members = [
        "187520/187520_2024-05-01_8#0.json.gz",
        "187520/187520_2024-05-01_9#0.json.gz",
    ]
    buffers: dict[str, io.BytesIO] = {}

    class _Member:
        def __init__(self, path: Path) -> None:
            self.name = path.relative_to(root).as_posix()
            self.buffer = io.BytesIO()
            self.gz = gzip.GzipFile(fileobj=self.buffer, mode="wb")

        def __enter__(self) -> gzip.GzipFile:
            return self.gz

        def __exit__(self, *exc: object) -> None:
            self.gz.close()
            buffers[self.name] = self.buffer

    _line_files(
        truth,
        evs,
        amplitude_shape,
        members,
        malformed,
        _Member,
        display=lambda p: f"{archive_path}!{p.relative_to(root).as_posix()}",
    )
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_STORED) as archive:
        for name in members:
            archive.writestr(name, buffers[name].getvalue())
    truth.files = [archive_path]
    return truth


def _array_file(
    truth: Truth,
    path: Path,
    evs: list[Event],
    shape: Callable[[Event], Shaped],
    malformed: int,
) -> None:
    """A JSON array with non-object elements as the malformed entries."""
    broken_at = {(i + 1) * len(evs) // (malformed + 1) for i in range(malformed)}
    position = 0
    with open(path, "wb") as out:
        out.write(b"[\n")
        for index, event in enumerate(evs):
            if index in broken_at:
                out.write(b"  " + orjson.dumps([_canary(index)]) + b",\n")
                truth.malformed.append(f"{path}:[{position}]")
                truth.planted.add(_canary(index))
                position += 1
            obj, plants = shape(event)
            out.write(b"  " + orjson.dumps(obj, option=orjson.OPT_INDENT_2))
            out.write(b",\n" if index < len(evs) - 1 else b"\n")
            truth.written.append((f"{path}:[{position}]", obj))
            _account(truth, event, plants, obj)
            position += 1
        out.write(b"]\n")
    truth.files.append(path)


def _write_json(root: Path, evs: list[Event], malformed: int) -> Truth:
    truth = _new_truth("json", root)
    _array_file(truth, root / "events.json", evs, generic_shape, malformed)
    return truth


def _write_posthog_json(root: Path, evs: list[Event], malformed: int) -> Truth:
    truth = _new_truth("posthog-json", root)
    _array_file(truth, root / "events.json", evs, posthog_shape, malformed)
    return truth


def _csv_file(
    truth: Truth,
    path: Path,
    evs: list[Event],
    header: list[str],
    row_of: Callable[[Event], tuple[dict[str, Any], list[str], list[tuple[str, str]]]],
    malformed: int,
) -> None:
    broken_at = {(i + 1) * len(evs) // (malformed + 1) for i in range(malformed)}
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        line = 1
        for index, event in enumerate(evs):
            if index in broken_at:
                line += 1
                writer.writerow([_canary(index)] * (len(header) + 2))
                truth.malformed.append(f"{path}:{line}")
                truth.planted.add(_canary(index))
            obj, row, plants = row_of(event)
            line += 1
            writer.writerow(row)
            truth.written.append((f"{path}:{line}", obj))
            _account(truth, event, plants, obj)
    truth.files.append(path)


def _write_csv(root: Path, evs: list[Event], malformed: int) -> Truth:
    truth = _new_truth("csv", root)
    header = ["event", "user_id", "time", *CSV_PROPERTIES]

    def row_of(event: Event) -> tuple[dict[str, Any], list[str], list[Any]]:
        obj, plants = generic_shape(event)
        row = _csv_row(obj, header)
        written = {c: v for c, v in zip(header, row, strict=True) if v != ""}
        return written, row, plants

    _csv_file(truth, root / "events.csv", evs, header, row_of, malformed)
    return truth


def _write_posthog_csv(root: Path, evs: list[Event], malformed: int) -> Truth:
    """PostHog's exporter: scalar columns, then flattened ``properties.*``."""
    truth = _new_truth("posthog-csv", root)
    header = ["uuid", "event", "distinct_id", "timestamp"]
    header += [f"properties.{key}" for key in CSV_PROPERTIES]

    def row_of(event: Event) -> tuple[dict[str, Any], list[str], list[Any]]:
        obj, plants = posthog_shape(event)
        flat = {k: v for k, v in obj.items() if k != "properties"}
        flat.update({f"properties.{k}": v for k, v in obj["properties"].items()})
        row = _csv_row(flat, header)
        written = {c: v for c, v in zip(header, row, strict=True) if v != ""}
        return written, row, plants

    _csv_file(truth, root / "events.csv", evs, header, row_of, malformed)
    return truth


_WRITERS: dict[str, Callable[[Path, list[Event], int], Truth]] = {
    "mixpanel": _write_mixpanel,
    "posthog-csv": _write_posthog_csv,
    "posthog-json": _write_posthog_json,
    "segment": _write_segment,
    "amplitude": _write_amplitude,
    "json": _write_json,
    "jsonl": _write_jsonl,
    "csv": _write_csv,
}


# -- the benchmark's big export ---------------------------------------------


# insert ids spelled in letters only, so no run of digits looks like a phone
_LETTERS = bytes.maketrans(b"0123456789", b"ghijklmnop")


@dataclass
class BigExport:
    files: list[Path]
    bytes: int  # on disk
    raw_bytes: int  # uncompressed
    events: int
    malformed: int
    by_type: Counter[str]  # events per planted type


def write_big_mixpanel(
    directory: str | os.PathLike[str],
    target_bytes: int,
    *,
    files: int = 4,
    compress: bool = False,
    seed: int = 11,
    people: int = 200_000,  # at most a million: ids have six digits
    pool: int = 4096,
) -> BigExport:
    """A Mixpanel export of at least ``target_bytes`` (uncompressed), fast.

    Lines come from a pool of ``pool`` pre-rendered events whose distinct id
    and insert id are filled in per line, so ids vary over ``people`` people
    without rendering JSON per event. One malformed line is planted per file.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    templates = []
    round_kinds: Counter[str] = Counter()
    for event in events(seed, pool, 500):
        obj, plants = mixpanel_shape(event)
        obj["properties"]["distinct_id"] = "@ID@"
        obj["properties"]["$insert_id"] = "@INS@"
        if event.person.id == event.person.email:
            plants = [p for p in plants if p[0] != "distinct_id"]
        head, rest = orjson.dumps(obj).split(b"@ID@")
        middle, tail = rest.split(b"@INS@")
        templates.append((head, middle, tail + b"\n"))
        round_kinds.update({kind for _, kind in plants})
    rng = random.Random(seed)
    per_file = -(-target_bytes // files)
    result = BigExport([], 0, 0, 0, 0, Counter())
    counter = 0
    for number in range(files):
        name = f"mixpanel-{number:03d}.jsonl" + (".gz" if compress else "")
        path = root / name
        with contextlib.ExitStack() as stack:
            raw = stack.enter_context(open(path, "wb"))
            out: Any = raw
            if compress:
                out = stack.enter_context(
                    gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1)
                )
            out.write(b'{"event": "Signed Up", "properties": {"email": "cut.short\n')
            result.malformed += 1
            written = 0
            order = list(range(len(templates)))
            while written < per_file:
                rng.shuffle(order)
                parts = []
                for slot in order:
                    head, middle, tail = templates[slot]
                    person = counter * 2654435761 % people
                    insert = (b"%024x" % counter).translate(_LETTERS)
                    parts.append(head + b"u-%06d" % person + middle + insert + tail)
                    counter += 1
                result.by_type.update(round_kinds)
                block = b"".join(parts)
                out.write(block)
                written += len(block)
                result.events += len(parts)
        result.raw_bytes += written
        result.bytes += path.stat().st_size
        result.files.append(path)
    return result
