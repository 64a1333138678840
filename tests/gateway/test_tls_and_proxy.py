"""HTTPS from the configured certificate, and the client address: from the
connection, or from a forwarding header set by a trusted proxy, truncated
before it is stored or forwarded."""

from __future__ import annotations

import json
import sqlite3
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from starlette.datastructures import Headers

from harness import GatewayProcess, write_config
from redline.destinations.local import LocalStore
from redline.gateway._client_ip import ClientAddress
from standins.mixpanel import MixpanelStandin

from .conftest import UPSTREAM_ENV, UPSTREAM_TOKEN, mixpanel_destination, wait_for

CLIENT = "198.51.100.77"
CLIENT_NET = "198.51.100.0"
SPOOFED = "203.0.113.9"


# -- TLS -------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _write_cert(ca: trustme.CA, directory: Path, name: str) -> None:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(directory / f"{name}-key.pem"))
    # the leaf first, then the chain up to (not including) the root
    for i, blob in enumerate(cert.cert_chain_pems):
        blob.write_to_path(str(directory / f"{name}.pem"), append=i > 0)


def _serve_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "redline.cli", "serve", "--config", str(config)]


@contextmanager
def _https_gateway(config: Path, log: Path, verify: ssl.SSLContext) -> Iterator[str]:
    port = _port_of(config)
    url = f"https://127.0.0.1:{port}"
    with open(log, "ab") as out:
        proc = subprocess.Popen(_serve_command(config), stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"gateway exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(url + "/healthz", verify=verify, timeout=1).is_success:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def _port_of(config: Path) -> int:
    from redline import config as config_mod

    return config_mod.load(config).server.port


def test_gateway_serves_https_with_the_configured_certificate(
    tmp_path: Path, ca: trustme.CA
) -> None:
    _write_cert(ca, tmp_path, "server")
    # relative paths are relative to the config file
    config = write_config(
        tmp_path,
        extra="  tls: {cert_file: server.pem, key_file: server-key.pem}\n",
    )
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    insert_id = "tls-" + uuid.uuid4().hex[:8]
    event = {
        "event": "checkout",
        "properties": {"token": "demo", "distinct_id": "u", "$insert_id": insert_id},
    }

    with _https_gateway(config, tmp_path / "gateway.log", trusted) as url:
        response = httpx.post(
            url + "/track?verbose=1",
            data={"data": json.dumps(event)},
            verify=trusted,
        )
        with pytest.raises(httpx.ConnectError):
            # a client that does not trust the test CA refuses the server
            httpx.get(url + "/healthz", timeout=5)
        with pytest.raises(httpx.HTTPError):
            # and nothing is served in clear text on the TLS port
            httpx.get(url.replace("https://", "http://") + "/healthz", timeout=5)
        with LocalStore.in_dir(tmp_path / "data") as store:
            wait_for(lambda: store.count() == 1)
            stored = store.query()

    assert response.json() == {"status": 1, "error": None}
    assert response.url.scheme == "https"
    assert stored[0]["properties"]["$insert_id"] == insert_id
    assert "https://127.0.0.1:" in (tmp_path / "gateway.log").read_text()


@pytest.mark.parametrize("problem", ["missing key", "key of another certificate"])
def test_unloadable_tls_files_stop_start_up_with_a_config_error(
    tmp_path: Path, ca: trustme.CA, problem: str
) -> None:
    _write_cert(ca, tmp_path, "server")
    _write_cert(ca, tmp_path, "other")
    key = "absent-key.pem" if problem == "missing key" else "other-key.pem"
    config = write_config(
        tmp_path, extra=f"  tls: {{cert_file: server.pem, key_file: {key}}}\n"
    )

    result = subprocess.run(
        _serve_command(config), capture_output=True, text=True, timeout=30
    )

    assert result.returncode == 2
    assert "server.tls" in result.stderr
    assert key in result.stderr
    assert "fix:" in result.stderr
    assert "Traceback" not in result.stderr
    assert "BEGIN" not in result.stderr  # no key material
    # refused before anything was created
    assert not (tmp_path / "data").exists()


# -- the client address through a real gateway -------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[MixpanelStandin]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(UPSTREAM_ENV, UPSTREAM_TOKEN)
        with MixpanelStandin(token=UPSTREAM_TOKEN) as standin:
            yield standin


def _gateway(
    factory: pytest.TempPathFactory, upstream: MixpanelStandin, extra: str
) -> Iterator[GatewayProcess]:
    # `redline serve` itself: the thread harness leaves uvicorn's own
    # X-Forwarded-For handling on, which serve() turns off
    directory = factory.mktemp("clientip")
    fragments = mixpanel_destination(upstream)
    config = write_config(
        directory,
        destinations=fragments["destinations"] + "  local:\n    type: local\n",
        forward=fragments["forward"] + "      - destination: local\n",
        extra=extra,
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(UPSTREAM_ENV, UPSTREAM_TOKEN)
        with GatewayProcess(config, directory / "gateway.log") as gw:
            yield gw


@pytest.fixture(scope="module")
def direct(
    tmp_path_factory: pytest.TempPathFactory, upstream: MixpanelStandin
) -> Iterator[GatewayProcess]:
    yield from _gateway(tmp_path_factory, upstream, "")


@pytest.fixture(scope="module")
def behind_proxy(
    tmp_path_factory: pytest.TempPathFactory, upstream: MixpanelStandin
) -> Iterator[GatewayProcess]:
    # the default trusted_proxies: the loopback addresses only
    yield from _gateway(
        tmp_path_factory, upstream, "  client_ip_header: X-Forwarded-For\n"
    )


@pytest.fixture(scope="module")
def behind_two_proxies(
    tmp_path_factory: pytest.TempPathFactory, upstream: MixpanelStandin
) -> Iterator[GatewayProcess]:
    yield from _gateway(
        tmp_path_factory,
        upstream,
        "  client_ip_header: X-Forwarded-For\n"
        "  trusted_proxies: [127.0.0.1/32, 10.0.0.0/8]\n",
    )


def _send(
    gw: GatewayProcess,
    headers: Any = None,
    query: str = "",
    **properties: Any,
) -> str:
    insert_id = "ip-" + uuid.uuid4().hex[:12]
    event = {
        "event": "checkout",
        "properties": {
            "token": "demo",
            "distinct_id": "u",
            "time": 1764230410,
            "$insert_id": insert_id,
            "plan": "pro",
            **properties,
        },
    }
    response = httpx.post(
        f"{gw.url}/track?verbose=1{query}",
        data={"data": json.dumps(event)},
        headers=headers,
    )
    assert response.json() == {"status": 1, "error": None}
    return insert_id


def _forwarded(upstream: MixpanelStandin, insert_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def arrived() -> bool:
        found[:] = [
            e["properties"]
            for e in upstream.events_for("track")
            if e["properties"]["$insert_id"] == insert_id
        ]
        return bool(found)

    wait_for(arrived, timeout=10)
    assert len(found) == 1
    return found[0]


def _stored_record(gw: GatewayProcess, insert_id: str) -> dict[str, Any]:
    # the export shape LocalStore.query returns leaves the address out; the
    # stored record keeps it
    path = gw.config.data_dir / "store.db"
    rows: list[str] = []

    def arrived() -> bool:
        with sqlite3.connect(path) as conn:
            rows[:] = [
                r[0]
                for r in conn.execute(
                    "SELECT record FROM events WHERE insert_id = ?", (insert_id,)
                )
            ]
        return bool(rows)

    wait_for(arrived, timeout=10)
    record: dict[str, Any] = json.loads(rows[0])
    return record


def _assert_never_stored_whole(gw: GatewayProcess, address: str) -> None:
    for name in ("store.db", "store.db-wal", "outbox.db", "outbox.db-wal"):
        path = gw.config.data_dir / name
        if path.exists():
            assert address.encode() not in path.read_bytes(), name


def test_without_a_header_setting_the_connection_address_is_used(
    direct: GatewayProcess, upstream: MixpanelStandin
) -> None:
    # a forwarding header means nothing unless the config names it
    insert_id = _send(direct, headers={"X-Forwarded-For": CLIENT})

    assert _forwarded(upstream, insert_id)["ip"] == "127.0.0.0"
    assert _stored_record(direct, insert_id)["ip"] == "127.0.0.0"


@pytest.mark.parametrize(
    ("gateway_name", "chain", "client"),
    [
        # the loopback proxy appended the address it saw
        ("behind_proxy", CLIENT, CLIENT_NET),
        # 10.0.0.1 is not trusted here: it is the client as far as we know
        ("behind_proxy", f"{CLIENT}, 10.0.0.1", "10.0.0.0"),
        # an address the client put in front of the chain is skipped
        ("behind_two_proxies", f"{SPOOFED}, {CLIENT}, 10.0.0.1", CLIENT_NET),
        ("behind_two_proxies", f"{CLIENT}, 10.0.0.1", CLIENT_NET),
        # every hop trusted: the leftmost is the client
        ("behind_two_proxies", "10.1.2.3, 10.0.0.1", "10.1.2.0"),
        # garbage where the client should be: fall back to the peer
        ("behind_two_proxies", "not-an-ip, 10.0.0.1", "127.0.0.0"),
    ],
)
def test_a_forwarded_chain_resolves_to_the_first_untrusted_hop_truncated(
    request: pytest.FixtureRequest,
    upstream: MixpanelStandin,
    gateway_name: str,
    chain: str,
    client: str,
) -> None:
    gw: GatewayProcess = request.getfixturevalue(gateway_name)

    insert_id = _send(gw, headers={"X-Forwarded-For": chain})

    assert _forwarded(upstream, insert_id)["ip"] == client
    assert _stored_record(gw, insert_id)["ip"] == client
    assert CLIENT not in upstream.raw_text()
    _assert_never_stored_whole(gw, CLIENT)


def test_a_client_line_before_the_proxy_line_is_not_believed(
    behind_proxy: GatewayProcess, upstream: MixpanelStandin
) -> None:
    # the client sends its own header; the proxy adds a second line rather
    # than appending to the first
    headers = [("X-Forwarded-For", SPOOFED), ("X-Forwarded-For", CLIENT)]

    insert_id = _send(behind_proxy, headers=headers)

    assert _forwarded(upstream, insert_id)["ip"] == CLIENT_NET


def test_ip_0_forwards_no_address_at_all(
    behind_proxy: GatewayProcess, upstream: MixpanelStandin
) -> None:
    insert_id = _send(behind_proxy, headers={"X-Forwarded-For": CLIENT}, query="&ip=0")

    assert "ip" not in _forwarded(upstream, insert_id)
    assert _stored_record(behind_proxy, insert_id)["ip"] is None


def test_an_address_in_the_event_wins_and_is_truncated_too(
    behind_proxy: GatewayProcess, upstream: MixpanelStandin
) -> None:
    insert_id = _send(
        behind_proxy, headers={"X-Forwarded-For": CLIENT}, ip="192.0.2.200"
    )

    assert _forwarded(upstream, insert_id)["ip"] == "192.0.2.0"
    assert "192.0.2.200" not in upstream.raw_text()


# -- ClientAddress on its own ----------------------------------------------------


def _xff(*lines: str) -> Headers:
    return Headers(raw=[(b"x-forwarded-for", line.encode()) for line in lines])


LOOPBACK = ("127.0.0.1/32", "::1/128")


@pytest.mark.parametrize(
    ("trusted", "peer", "headers", "expected"),
    [
        # an untrusted peer's header is ignored, whatever it says
        (LOOPBACK, "198.51.100.7", _xff(SPOOFED), "198.51.100.7"),
        (("10.0.0.0/8",), "127.0.0.1", _xff(SPOOFED), "127.0.0.1"),
        # no header, or an empty one: the peer
        (LOOPBACK, "127.0.0.1", Headers(), "127.0.0.1"),
        (LOOPBACK, "127.0.0.1", _xff(""), "127.0.0.1"),
        (LOOPBACK, "127.0.0.1", _xff(" , ,"), "127.0.0.1"),
        # garbage where the client should be: the peer, never the garbage
        (LOOPBACK, "127.0.0.1", _xff("not-an-ip"), "127.0.0.1"),
        (LOOPBACK, "127.0.0.1", _xff("<script>alert(1)</script>"), "127.0.0.1"),
        (LOOPBACK, "127.0.0.1", _xff(f"{CLIENT}, junk"), "127.0.0.1"),
        (LOOPBACK, "127.0.0.1", _xff(f"{CLIENT}:51234"), "127.0.0.1"),
        (LOOPBACK, "127.0.0.1", _xff("999.1.2.3"), "127.0.0.1"),
        # garbage left of the client does not matter
        (LOOPBACK, "127.0.0.1", _xff(f"junk, {CLIENT}"), CLIENT),
        # IPv6 clients and proxies
        (LOOPBACK, "::1", _xff("2001:db8::1"), "2001:db8::1"),
        (
            ("2001:db8:ffff::/48",),
            "2001:db8:ffff::3",
            _xff("2001:db8::1, 2001:db8:ffff::2"),
            "2001:db8::1",
        ),
        (("2001:db8:ffff::/48",), "2001:db8:aaaa::3", _xff(CLIENT), "2001:db8:aaaa::3"),
        # an IPv4 proxy seen through a dual-stack socket is still trusted
        (("10.0.0.0/8",), "::ffff:10.0.0.5", _xff(CLIENT), CLIENT),
        # a header sent on several lines is read as one list
        (LOOPBACK, "127.0.0.1", _xff(SPOOFED, CLIENT), CLIENT),
    ],
)
def test_client_address_resolution(
    trusted: tuple[str, ...], peer: str, headers: Headers, expected: str
) -> None:
    resolver = ClientAddress("X-Forwarded-For", trusted)

    assert resolver.resolve(peer, headers) == expected


def test_no_header_configured_means_the_peer_whatever_is_sent() -> None:
    resolver = ClientAddress(None, LOOPBACK)

    assert resolver.resolve("127.0.0.1", _xff(CLIENT)) == "127.0.0.1"


def test_no_peer_means_no_address() -> None:
    resolver = ClientAddress("X-Forwarded-For", LOOPBACK)

    assert resolver.resolve(None, _xff(CLIENT)) is None


def test_header_name_is_matched_without_regard_to_case() -> None:
    resolver = ClientAddress("X-Real-IP", LOOPBACK)

    assert resolver.resolve("127.0.0.1", {"x-real-ip": CLIENT}) == CLIENT
    assert resolver.resolve("127.0.0.1", Headers({"X-REAL-IP": CLIENT})) == CLIENT
