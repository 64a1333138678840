"""A hostile or careless client against a real gateway.

Every attack goes through HTTP to a running gateway that forwards to the
Mixpanel stand-in and to the local store, next to a good record in the same
request (last, so that once it has arrived the attack has too). Then: the
client got Mixpanel's answer, the good record arrived, and the planted
values appear nowhere: not upstream, not in an answer, not in the log, not
in the outbox, the dead letters or the local store.

Attacks that were holes once and attacks that were always handled sit in
the same table, so that both stay handled. One request per attack and a
single wait keep the module fast.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from harness import GatewayThread, gateway_thread, write_config
from redline._logs import JsonFormatter
from standins.mixpanel import MixpanelStandin

from .conftest import UPSTREAM_ENV, UPSTREAM_TOKEN, mixpanel_destination, wait_for

pytestmark = pytest.mark.slow

NOW = int(time.time()) - 60
CARD = "4012888888881881"
CARD_2 = "5555555555554444"
CARD_3 = "4111111111111111"

KEEP_EVERYTHING = """\
version: 1
defaults:
  unknown_events: keep
  unknown_properties: keep
  client_ip: keep
all_events:
  properties:
    $current_url: url
events:
  "page_*":
    properties:
      title: keep
"""


def email(canary: str) -> str:
    return f"{canary}@example.com"


def track(name: str = "checkout", **properties: Any) -> dict[str, Any]:
    return {
        "event": name,
        "properties": {
            "token": "demo",
            "distinct_id": "u-1",
            "time": NOW,
            **properties,
        },
    }


def profile(**fields: Any) -> dict[str, Any]:
    return {"$token": "demo", "$distinct_id": "u-1", **fields}


def group(**fields: Any) -> dict[str, Any]:
    return {"$token": "demo", "$group_key": "company", "$group_id": "acme", **fields}


@dataclasses.dataclass(frozen=True)
class Attack:
    records: list[Any]
    canaries: tuple[str, ...]
    endpoint: Literal["track", "engage", "groups"] = "track"
    gateway: Literal["allow", "keep"] = "allow"
    # how the request is written: JSON text of the records instead of
    # ``records`` (for duplicate keys), base64 broken into lines, or a
    # whole request body of its own
    raw: str | None = None
    transport: Literal["form", "base64-lines", "body"] = "form"
    body: bytes | None = None
    # refused as a whole with Mixpanel's error answer
    refused: bool = False


ATTACKS: dict[str, Attack] = {
    # -- names --------------------------------------------------------
    "email in an unknown event name": Attack(
        [track("signup " + email("zqevt1"))], ("zqevt1",)
    ),
    "email in an unknown event name, events kept": Attack(
        [track("signup " + email("zqevt2"))], ("zqevt2",), gateway="keep"
    ),
    "email in a glob-matched event name": Attack(
        [track("page_" + email("zqevt3"), title="t")], ("zqevt3",), gateway="keep"
    ),
    "email as a property name, allowlist": Attack(
        [track(**{email("zqkey1"): 1, "plan": "pro"})], ("zqkey1",)
    ),
    "email as a property name, properties kept": Attack(
        [track("e", **{email("zqkey2"): 1})], ("zqkey2",), gateway="keep"
    ),
    "email as a nested property name": Attack(
        [track(plan={email("zqkey3"): 1})], ("zqkey3",)
    ),
    "email as a top-level record key": Attack(
        [{**track(), email("zqtop1"): "x", "note": email("zqtop2")}],
        ("zqtop1", "zqtop2"),
    ),
    "email as a top-level record key, properties kept": Attack(
        [{**track("e"), email("zqtop3"): "x", "note": email("zqtop4")}],
        ("zqtop3", "zqtop4"),
        gateway="keep",
    ),
    # -- identifiers --------------------------------------------------
    "card number as insert id": Attack(
        [track(**{"$insert_id": "4012-8888-8888-1881"})], ("4012-8888-8888-1881",)
    ),
    "email as distinct id": Attack(
        [track(distinct_id=email("zqdid1"))], ("zqdid1",), gateway="keep"
    ),
    "full-width email as distinct id": Attack(
        [track(distinct_id="ｚｑｄｉｄ２＠ｅｘａｍｐｌｅ．ｃｏｍ")],  # noqa: RUF001
        ("ｚｑｄｉｄ２",),  # noqa: RUF001
        gateway="keep",
    ),
    "card number as a numeric distinct id": Attack(
        [track(distinct_id=int(CARD_2))], (CARD_2,), gateway="keep"
    ),
    "very long distinct id": Attack(
        [track(distinct_id="x" * 70_000 + email("zqdid3"))],
        ("zqdid3",),
        gateway="keep",
    ),
    "email in the ip field, address kept": Attack(
        [track("e", ip=email("zqip1"))], ("zqip1",), gateway="keep"
    ),
    "full address in the ip field": Attack(
        [track(ip="203.0.113.177")], ("203.0.113.177",)
    ),
    # -- profiles and groups ------------------------------------------
    "email as the value of $delete": Attack(
        [profile(**{"$delete": email("zqdel1")})], ("zqdel1",), endpoint="engage"
    ),
    "email in $unset, properties kept": Attack(
        [profile(**{"$unset": [email("zqun1")]})],
        ("zqun1",),
        endpoint="engage",
        gateway="keep",
    ),
    "email in a $union value": Attack(
        [profile(**{"$union": {"plan": [email("zqun2")]}})],
        ("zqun2",),
        endpoint="engage",
    ),
    "email in $ignore_time": Attack(
        [profile(**{"$ignore_time": email("zqign1"), "$set": {"plan": "p"}})],
        ("zqign1",),
        endpoint="engage",
    ),
    "email as a group key": Attack(
        [group(**{"$group_key": email("zqgk1"), "$set": {"plan": "p"}})],
        ("zqgk1",),
        endpoint="groups",
    ),
    "email as a group id": Attack(
        [group(**{"$group_id": email("zqgid1"), "$set": {"plan": "p"}})],
        ("zqgid1",),
        endpoint="groups",
    ),
    # -- URLs -----------------------------------------------------------
    "unclosed IPv6 host": Attack(
        [track(**{"$current_url": "https://[::1/reset?t=zqurl1"})], ("zqurl1",)
    ),
    "host that changes under NFKC": Attack(
        [track(**{"$current_url": "https://zqurl2\u2100x.example.com/"})], ("zqurl2",)
    ),
    "javascript URL": Attack(
        [track(**{"$current_url": "javascript:void('zqurl3')"})], ("zqurl3",)
    ),
    "data URL": Attack(
        [track(**{"$current_url": "data:text/plain,zqurl4"})], ("zqurl4",)
    ),
    "backslashes before userinfo": Attack(
        [track(**{"$current_url": "https:/\\\\zqurl5:pw@h.example.com/"})],
        ("zqurl5",),
    ),
    "userinfo without password": Attack(
        [track(**{"$current_url": "https://zqurl6@h.example.com/x"})], ("zqurl6",)
    ),
    "fragment with a token": Attack(
        [track(**{"$current_url": "https://h.example.com/#access_token=zqurl7"})],
        ("zqurl7",),
    ),
    "double-encoded email in the path": Attack(
        [track(**{"$current_url": "https://h.example.com/u/zqurl8%2540example.com"})],
        ("zqurl8",),
    ),
    "email as a kept query key": Attack(
        [track(**{"$current_url": f"https://h.example.com/?utm_{email('zqurl9')}=1"})],
        ("zqurl9",),
    ),
    "schemeless URL with a secret query": Attack(
        [track(**{"$current_url": "app.example.com/reset?t=zqurl10"})],
        ("zqurl10",),
        gateway="keep",
    ),
    "session id in matrix parameters": Attack(
        [
            track(
                **{
                    "$current_url": "https://h.example.com/c;jsessionid="
                    "zqurl11abcdef0123456789abcdef0123456789"
                }
            )
        ],
        ("zqurl11",),
    ),
    "email host": Attack(
        [track(**{"$current_url": "https://zqurl12%40example.com/"})], ("zqurl12",)
    ),
    "URL with an email in a kept property": Attack(
        [track(plan="https://h.example.com/?e=" + email("zqurl13"))], ("zqurl13",)
    ),
    # -- values ---------------------------------------------------------
    "string longer than the scanner reads": Attack(
        [track(plan="x" * 70_000 + " zqlong1")], ("zqlong1",)
    ),
    "email nested deeper than the engine walks": Attack(
        [track(plan=json.loads("[" * 20 + json.dumps(email("zqdeep1")) + "]" * 20))],
        ("zqdeep1",),
    ),
    "record nested deeper than the adapter reads": Attack(
        [track(plan=json.loads("[" * 40 + json.dumps("zqdeep2") + "]" * 40))],
        ("zqdeep2",),
    ),
    "lone surrogate in a record": Attack(
        [],
        ("zqsur1",),
        raw='{"event":"checkout","properties":{"token":"demo",'
        '"plan":"zqsur1 \\ud800"}}',
    ),
    "card number as a number": Attack([track(plan=int(CARD))], (CARD,)),
    "integer wider than 64 bits": Attack([track(plan=2**70 + 1)], (str(2**70 + 1),)),
    "time wider than 64 bits": Attack(
        [track(time=10**30, plan="zqtime1")], ("zqtime1",)
    ),
    "duplicate keys, email first": Attack(
        [],
        ("zqdup1",),
        raw='{"event":"checkout","properties":{"token":"demo","plan":"zqdup1",'
        f'"plan":"pro","time":{NOW}}}}}',
    ),
    "duplicate keys, email last": Attack(
        [],
        ("zqdup2",),
        raw='{"event":"checkout","properties":{"token":"demo","plan":"pro",'
        f'"time":{NOW},"plan":"{email("zqdup2")}"}}}}',
    ),
    "wrong ingest key in a batch": Attack(
        [{"event": "checkout", "properties": {"token": "zqkey9", "plan": "zqtok1"}}],
        ("zqkey9", "zqtok1"),
    ),
    "base64 broken into lines": Attack(
        [track(plan="mail " + email("zqb64a"))], ("zqb64a",), transport="base64-lines"
    ),
    # -- whole requests refused -----------------------------------------
    "data field given twice": Attack(
        [],
        ("zqform1",),
        transport="body",
        body=b"data=%5B%5D&data=zqform1",
        refused=True,
    ),
    "gzip inside base64": Attack(
        [],
        ("zqgz1",),
        transport="body",
        body=b"data="
        + base64.b64encode(gzip.compress(json.dumps([track(plan="zqgz1")]).encode())),
        refused=True,
    ),
    "JSON with NaN": Attack(
        [],
        ("zqnan1",),
        transport="body",
        body=b'data=[{"event":"zqnan1","properties":{"n":NaN}}]',
        refused=True,
    ),
}


def good_record(endpoint: str, marker: str) -> dict[str, Any]:
    if endpoint == "engage":
        return profile(**{"$set": {"plan": marker}})
    if endpoint == "groups":
        return group(**{"$set": {"plan": marker}})
    return track(plan=marker, **{"$insert_id": marker})


def request_body(attack: Attack, marker: str) -> bytes:
    if attack.transport == "body":
        assert attack.body is not None
        return attack.body
    good = json.dumps(good_record(attack.endpoint, marker))
    records = [json.dumps(record) for record in attack.records]
    if attack.raw is not None:
        records.append(attack.raw)
    data = "[" + ",".join([*records, good]) + "]"
    if attack.transport == "base64-lines":
        encoded = base64.b64encode(data.encode()).decode()
        data = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    return httpx.QueryParams({"data": data}).__str__().encode()


@dataclasses.dataclass
class Outcome:
    status: int
    answer: str
    marker: str


@dataclasses.dataclass
class Run:
    outcomes: dict[str, Outcome]
    upstream: MixpanelStandin
    log: io.StringIO
    data_dirs: list[Path]

    def places(self) -> dict[str, bytes]:
        found = {
            "upstream": self.upstream.raw_text().encode(),
            "log": self.log.getvalue().encode(),
            "answers": "\n".join(o.answer for o in self.outcomes.values()).encode(),
        }
        for directory in self.data_dirs:
            for file in directory.iterdir():
                found[f"{directory.parent.name}/{file.name}"] = file.read_bytes()
        return found


@pytest.fixture(scope="module")
def log_lines() -> Iterator[io.StringIO]:
    """Every log record of the module, as the gateway writes it in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    redline = logging.getLogger("redline")
    level = redline.level
    root.addHandler(handler)
    redline.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    redline.setLevel(level)


@pytest.fixture(scope="module")
def upstream() -> Iterator[MixpanelStandin]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(UPSTREAM_ENV, UPSTREAM_TOKEN)
        with MixpanelStandin(token=UPSTREAM_TOKEN) as mp:
            yield mp


def _gateway(directory: Path, mp: MixpanelStandin, policy: str | None) -> Path:
    directory.mkdir()
    policy_path = None
    if policy is not None:
        policy_path = directory / "policy.yaml"
        policy_path.write_text(policy)
    fragments = mixpanel_destination(mp)
    return write_config(
        directory,
        destinations=fragments["destinations"] + "  local:\n    type: local\n",
        forward=fragments["forward"] + "      - destination: local\n",
        policy=policy_path,
    )


@pytest.fixture(scope="module")
def gateways(
    tmp_path_factory: pytest.TempPathFactory,
    upstream: MixpanelStandin,
    log_lines: io.StringIO,
) -> Iterator[dict[str, GatewayThread]]:
    base = tmp_path_factory.mktemp("adversarial")
    with (
        gateway_thread(_gateway(base / "allow", upstream, None)) as allow,
        gateway_thread(_gateway(base / "keep", upstream, KEEP_EVERYTHING)) as keep,
    ):
        yield {"allow": allow, "keep": keep}


@pytest.fixture(scope="module")
def run(
    gateways: dict[str, GatewayThread],
    upstream: MixpanelStandin,
    log_lines: io.StringIO,
) -> Run:
    outcomes = {}
    for n, (name, attack) in enumerate(sorted(ATTACKS.items())):
        marker = f"good-{n}"
        try:
            response = httpx.post(
                f"{gateways[attack.gateway].url}/{attack.endpoint}?verbose=1",
                content=request_body(attack, marker),
                headers={"content-type": "application/x-www-form-urlencoded"},
                timeout=30,
            )
        except httpx.HTTPError as exc:  # a crash fails this attack's tests only
            outcomes[name] = Outcome(0, type(exc).__name__, marker)
            continue
        outcomes[name] = Outcome(response.status_code, response.text, marker)

    expected = {o.marker for a, o in zip_attacks(outcomes) if not a.refused}
    data_dirs = [gw.config.data_dir for gw in gateways.values()]

    def stored() -> bytes:
        return b"".join(
            file.read_bytes() for d in data_dirs for file in d.glob("store.db*")
        )

    # a soft wait: a record that never arrives fails its own test only
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (
        expected <= _markers_upstream(upstream)
        and all(m.encode() in stored() for m in expected)
    ):
        time.sleep(0.02)
    return Run(outcomes, upstream, log_lines, data_dirs)


def zip_attacks(outcomes: dict[str, Outcome]) -> Iterator[tuple[Attack, Outcome]]:
    for name, outcome in outcomes.items():
        yield ATTACKS[name], outcome


def _markers_upstream(mp: MixpanelStandin) -> set[str]:
    found = set()
    for record in mp.events:
        for value in (
            record.get("properties", {}).get("plan"),
            record.get("$set", {}).get("plan"),
        ):
            if isinstance(value, str) and value.startswith("good-"):
                found.add(value)
    return found


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_gets_mixpanels_answer(run: Run, name: str) -> None:
    outcome = run.outcomes[name]

    if ATTACKS[name].refused:
        assert outcome.status == 400
        assert json.loads(outcome.answer)["status"] == 0
    else:
        assert outcome.status == 200
        assert json.loads(outcome.answer) == {"status": 1, "error": None}


@pytest.mark.parametrize("name", sorted(a for a in ATTACKS if not ATTACKS[a].refused))
def test_attack_does_not_take_the_good_record_down(run: Run, name: str) -> None:
    assert run.outcomes[name].marker in _markers_upstream(run.upstream)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_planted_values_appear_nowhere(run: Run, name: str) -> None:
    for place, content in run.places().items():
        for canary in ATTACKS[name].canaries:
            assert canary.encode() not in content, f"{canary!r} found in {place}"


def test_upstream_saw_only_well_formed_requests_and_no_crash_was_logged(
    run: Run,
) -> None:
    assert run.upstream.violations == []
    lines = [json.loads(line) for line in run.log.getvalue().splitlines()]
    assert [line for line in lines if line["level"] in ("error", "critical")] == []
    assert all(o.status < 500 for o in run.outcomes.values())


def test_exception_in_one_record_fails_that_record_alone(
    gateways: dict[str, GatewayThread],
    upstream: MixpanelStandin,
    log_lines: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway = gateways["allow"]
    engine = gateway.gateway.engine
    apply = engine.apply
    canary = "zqboom1"

    def explode(event: Any) -> Any:
        if event.properties.get("plan") == "explode":
            raise RuntimeError(f"engine broke on {canary}")
        return apply(event)

    monkeypatch.setattr(engine, "apply", explode)
    bad = track(plan="explode", note=canary)
    good = track(plan="good-boom", **{"$insert_id": "good-boom"})

    mixed = httpx.post(
        f"{gateway.url}/track?verbose=1", data={"data": json.dumps([bad, good])}
    )
    alone = httpx.post(f"{gateway.url}/track?verbose=1", data={"data": json.dumps(bad)})
    wait_for(lambda: "good-boom" in _markers_upstream(upstream), 10)

    assert mixed.status_code == 200
    assert mixed.json() == {"status": 1, "error": None}
    assert alone.status_code == 200
    assert alone.json() == {
        "status": 0,
        "error": "no valid records (record: could not be sanitised)",
    }
    log = log_lines.getvalue()
    assert "record could not be sanitised" in log
    assert '"error":"RuntimeError"' in log
    for content in (log, mixed.text, alone.text, upstream.raw_text()):
        assert canary not in content


def test_import_answer_does_not_echo_insert_ids_that_carry_card_numbers(
    gateways: dict[str, GatewayThread],
) -> None:
    def record(insert_id: str, **properties: Any) -> dict[str, Any]:
        base = {"time": NOW, "distinct_id": "u-1", "$insert_id": insert_id}
        return {"event": "checkout", "properties": {**base, **properties}}

    records = [
        record(CARD_3, token="zqkey8"),  # an unknown ingest key
        record(CARD_2, time="zqtime2"),  # fails to decode
        record("ok-echo", time="soon"),
    ]

    response = httpx.post(
        f"{gateways['allow'].url}/import", json=records, auth=("demo", "")
    )

    assert response.status_code == 400
    failed = {r["index"]: r["$insert_id"] for r in response.json()["failed_records"]}
    assert failed == {0: None, 1: None, 2: "ok-echo"}
    for canary in (CARD_3, CARD_2, "zqkey8", "zqtime2"):
        assert canary not in response.text
