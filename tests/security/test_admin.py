"""The admin API: every route refuses a missing, wrong, revoked, expired or
under-privileged token; the allowed calls work; every call, allowed or
refused, is in the audit log with the token's id and never the token."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import GatewayThread, gateway_thread, write_config
from redline.access import KeyStore

from .conftest import audit_records, track, wait_for

pytestmark = pytest.mark.slow

# the role each operation needs: pinned here, so that a route added without
# a thought about its role fails this test
NEEDED = {
    ("GET", "/projects"): "viewer",
    ("GET", "/keys"): "viewer",
    ("POST", "/keys"): "admin",
    ("POST", "/keys/{key_id}/rotate"): "admin",
    ("POST", "/keys/{key_id}/revoke"): "admin",
    ("GET", "/tokens"): "admin",
    ("POST", "/tokens"): "admin",
    ("POST", "/tokens/{token_id}/revoke"): "admin",
    ("GET", "/policy"): "viewer",
    ("POST", "/policy/reload"): "operator",
    ("GET", "/outbox"): "viewer",
    ("GET", "/dead-letters"): "viewer",
    ("POST", "/dead-letters/replay"): "operator",
    ("GET", "/findings"): "viewer",
}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/keys"): {"project": "demo", "label": "probe"},
    ("POST", "/keys/{key_id}/rotate"): {},
    ("POST", "/tokens"): {"role": "viewer"},
    ("POST", "/dead-letters/replay"): {},
}
RANK = ["viewer", "operator", "admin"]


class Admin:
    def __init__(self, gw: GatewayThread, tokens: dict[str, tuple[str, str]]):
        self.gw = gw
        self.url = gw.url + "/admin"
        # role -> (token id, token)
        self.tokens = tokens
        self.calls = 0

    def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        json: Any = None,
        header: str | None = None,
    ) -> httpx.Response:
        headers = {}
        if header is not None:
            headers["authorization"] = header
        elif token is not None:
            headers["authorization"] = f"Bearer {token}"
        self.calls += 1
        return httpx.request(
            method, self.url + path, headers=headers, json=json, timeout=10
        )

    def as_role(self, role: str, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.call(method, path, self.tokens[role][1], **kw)


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[Admin]:
    config = write_config(tmp_path)
    store = KeyStore.in_dir(tmp_path / "data")
    tokens = {}
    for role in RANK:
        made, secret = store.create_token(role, label=f"test {role}")  # type: ignore[arg-type]
        tokens[role] = (made.id, secret.reveal())
    revoked, secret = store.create_token("admin", label="gone")
    store.revoke_token(revoked.id)
    tokens["revoked"] = (revoked.id, secret.reveal())
    expired, secret = store.create_token(
        "admin", label="old", expires_at=time.time() - 1
    )
    tokens["expired"] = (expired.id, secret.reveal())
    store.close()
    with gateway_thread(config) as gw:
        yield Admin(gw, tokens)


def _concrete(path: str) -> str:
    return path.replace("{key_id}", "k_0000000000").replace(
        "{token_id}", "t_0000000000"
    )


def test_the_openapi_document_lists_exactly_the_pinned_operations(
    admin: Admin,
) -> None:
    doc = admin.call("GET", "/openapi.json").json()
    found = {
        (method.upper(), path) for path, item in doc["paths"].items() for method in item
    }
    assert found == set(NEEDED)
    # every operation says it answers 401 and 403, and needs a bearer token
    schemes = doc["components"]["securitySchemes"]
    assert set(schemes) == {"bearer"}
    assert (schemes["bearer"]["type"], schemes["bearer"]["scheme"]) == (
        "http",
        "bearer",
    )
    for item in doc["paths"].values():
        for operation in item.values():
            assert {"401", "403"} <= set(operation["responses"])
            assert operation["security"] == [{"bearer": []}]
    # not the document as a whole: it is served without a token
    assert "security" not in doc


@pytest.mark.parametrize(("method", "path"), sorted(NEEDED))
def test_each_route_refuses_missing_wrong_revoked_expired_and_low_tokens(
    admin: Admin, method: str, path: str
) -> None:
    target = _concrete(path)
    body = BODIES.get((method, path))
    cases = {
        "missing": admin.call(method, target, json=body),
        "wrong": admin.call(method, target, "rla_not-a-real-token", json=body),
        "basic": admin.call(method, target, json=body, header="Basic YWRtaW46YWRtaW4="),
        "revoked": admin.call(method, target, admin.tokens["revoked"][1], json=body),
        "expired": admin.call(method, target, admin.tokens["expired"][1], json=body),
    }
    for name, reply in cases.items():
        assert reply.status_code == 401, (name, reply.text)
        assert reply.headers["www-authenticate"] == "Bearer"
        assert reply.json() == {"detail": "a valid bearer token is required"}
    needed = NEEDED[(method, path)]
    for role in RANK[: RANK.index(needed)]:
        low = admin.as_role(role, method, target, json=body)
        assert low.status_code == 403, (role, low.text)
        assert needed in low.json()["detail"]
    # the role that suffices gets past the check (404: no such id here)
    enough = admin.as_role(needed, method, target, json=body)
    assert enough.status_code in (200, 201, 404), enough.text

    # each of these calls, refused or not, is in the audit log
    wait_for(lambda: len(_access(admin.gw.config.data_dir)) == admin.calls, timeout=5)


def _access(data_dir: Path) -> list[dict[str, Any]]:
    return [r for r in audit_records(data_dir) if r["kind"] == "admin.access"]


def test_every_call_is_audited_with_the_token_id_never_the_token(
    admin: Admin,
) -> None:
    viewer_id, viewer = admin.tokens["viewer"]
    admin.as_role("viewer", "GET", "/projects")
    admin.as_role("viewer", "POST", "/keys", json={"project": "demo", "label": "x"})
    admin.call("GET", "/findings", "rla_wrong")
    admin.call("GET", "/findings")
    admin.call("GET", "/no-such-route", viewer)

    data_dir = admin.gw.config.data_dir
    wait_for(lambda: len(_access(data_dir)) == 5, timeout=5)
    got = [r["data"] for r in _access(data_dir)]
    assert [(d["method"], d["route"], d["status"], d["outcome"]) for d in got] == [
        ("GET", "/admin/projects", 200, "allowed"),
        ("POST", "/admin/keys", 403, "refused"),
        ("GET", "/admin/findings", 401, "refused"),
        ("GET", "/admin/findings", 401, "refused"),
        ("GET", "/admin/(unknown)", 404, "refused"),
    ]
    assert [d["token_id"] for d in got] == [viewer_id, viewer_id, None, None, viewer_id]
    assert [d["auth"] for d in got] == ["ok", "ok", "unknown", "missing", "ok"]
    text = "".join(str(r) for r in audit_records(data_dir))
    for _, secret in admin.tokens.values():
        assert secret not in text
    assert "rla_wrong" not in text

    # /metrics counts the admin API under one route label, whatever the path
    metrics = httpx.get(admin.gw.url + "/metrics", timeout=10).text
    admin_lines = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in metrics.splitlines()
        if line.startswith("redline_http_requests_total{") and '"redline"' in line
    }
    labels = 'redline_http_requests_total{{route="admin",status="{}",vendor="redline"}}'
    assert admin_lines[labels.format(200)] == 1
    assert admin_lines[labels.format(401)] == 2
    assert admin_lines[labels.format(403)] == 1
    assert admin_lines[labels.format(404)] == 1


def test_an_admin_manages_keys_and_tokens_through_the_api(admin: Admin) -> None:
    made = admin.as_role(
        "admin",
        "POST",
        "/keys",
        json={
            "project": "demo",
            "label": "web",
            "origins": ["https://app.example.com"],
            "expires_at": "2099-01-01T00:00:00Z",
        },
    )
    assert made.status_code == 201, made.text
    key_id, key = made.json()["key"]["id"], made.json()["secret"]
    assert made.json()["key"]["state"] == "active"
    gw = admin.gw
    assert track(gw.url, key, origin="https://app.example.com").json()["status"] == 1

    rotated = admin.as_role("admin", "POST", f"/keys/{key_id}/rotate", json={})
    new_key = rotated.json()["secret"]
    assert rotated.json()["key"]["replaces"] == key_id
    assert track(gw.url, key).json()["status"] == 1
    assert track(gw.url, new_key).json()["status"] == 1

    revoked = admin.as_role("admin", "POST", f"/keys/{key_id}/revoke")
    assert revoked.json()["state"] == "revoked"
    wait_for(lambda: track(gw.url, key).status_code == 401, timeout=5)
    assert track(gw.url, new_key).json()["status"] == 1

    listed = admin.as_role("viewer", "GET", "/keys").text
    assert key not in listed and new_key not in listed and "digest" not in listed
    config_key = admin.as_role("admin", "POST", "/keys/cfg_0/revoke")
    assert config_key.status_code == 409

    token = admin.as_role("admin", "POST", "/tokens", json={"role": "operator"})
    assert token.status_code == 201
    new_token = token.json()["secret"]
    assert admin.call("POST", "/policy/reload", new_token).status_code == 200
    token_id = token.json()["token"]["id"]
    admin.as_role("admin", "POST", f"/tokens/{token_id}/revoke")
    assert admin.call("POST", "/policy/reload", new_token).status_code == 401

    # the changes are audited with the token that made them
    data_dir = gw.config.data_dir
    admin_id = admin.tokens["admin"][0]

    def changes() -> list[tuple[str, str]]:
        return [
            (r["kind"], r["data"]["actor"])
            for r in audit_records(data_dir)
            if r["kind"].startswith(("key.", "token."))
        ]

    wait_for(lambda: len(changes()) == 11, timeout=5)
    # the five tokens made before start, then the API's changes
    assert [k for k, _ in changes()] == [
        "token.create",
        "token.create",
        "token.create",
        "token.create",
        "token.revoke",
        "token.create",
        "key.create",
        "key.rotate",
        "key.revoke",
        "token.create",
        "token.revoke",
    ]
    assert {a for k, a in changes()[6:]} == {f"token:{admin_id}"}
    created = next(
        r["data"] for r in audit_records(data_dir) if r["kind"] == "key.create"
    )
    assert (created["key_id"], created["project"]) == (key_id, "demo")


def test_an_expired_token_is_refused_as_a_revoked_one_and_audited(
    admin: Admin,
) -> None:
    expired_id, expired = admin.tokens["expired"]
    revoked = admin.tokens["revoked"][1]
    gone = admin.call("GET", "/projects", expired)
    assert gone.status_code == 401
    assert gone.json() == admin.call("GET", "/projects", revoked).json()
    assert gone.headers["www-authenticate"] == "Bearer"

    data_dir = admin.gw.config.data_dir
    wait_for(lambda: len(_access(data_dir)) == 2, timeout=5)
    refused = _access(data_dir)[0]["data"]
    assert refused == {
        "method": "GET",
        "route": "/admin/projects",
        "status": 401,
        "outcome": "refused",
        "auth": "expired",
        "token_id": expired_id,
        "role": "admin",
    }
    assert _access(data_dir)[1]["data"]["auth"] == "revoked"
    assert expired not in "".join(str(r) for r in audit_records(data_dir))


def test_tokens_made_through_the_api_may_expire(admin: Admin) -> None:
    soon = admin.as_role(
        "admin",
        "POST",
        "/tokens",
        json={"role": "viewer", "expires_at": "2099-01-01T00:00:00"},
    )
    assert soon.status_code == 201, soon.text
    made = soon.json()["token"]
    assert (made["state"], made["expires_at"]) == ("active", 4070908800.0)
    assert admin.call("GET", "/projects", soon.json()["secret"]).status_code == 200

    listed = {t["id"]: t for t in admin.as_role("admin", "GET", "/tokens").json()}
    assert listed[admin.tokens["expired"][0]]["state"] == "expired"
    assert listed[admin.tokens["revoked"][0]]["state"] == "revoked"
    assert listed[admin.tokens["viewer"][0]]["expires_at"] is None
    assert listed[made["id"]]["state"] == "active"

    bad = admin.as_role(
        "admin", "POST", "/tokens", json={"role": "admin", "expires_at": "soon"}
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "expires_at"]


@pytest.mark.parametrize("path", ["/tokens", "/keys"])
@pytest.mark.parametrize(
    "when", ["2001-01-01T00:00:00+02:00", "2000-01-01", "1970-01-01T00:00:00Z"]
)
def test_a_key_or_token_that_would_expire_at_once_is_refused(
    admin: Admin, path: str, when: str
) -> None:
    # as `--expires` in the CLI: a time not in the future is a mistake
    body = {"expires_at": when, "label": "late"}
    body |= {"role": "admin"} if path == "/tokens" else {"project": "demo"}
    before = admin.as_role("admin", "GET", path).json()

    refused = admin.as_role("admin", "POST", path, json=body)

    assert refused.status_code == 422, refused.text
    assert refused.json() == {
        "detail": [
            {
                "loc": ["body", "expires_at"],
                "msg": "Value error, expires_at must be in the future",
                "type": "value_error",
            }
        ]
    }
    assert when not in refused.text
    # and nothing was made
    assert admin.as_role("admin", "GET", path).json() == before


def test_a_key_or_token_may_expire_a_minute_from_now(admin: Admin) -> None:
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1)
    when = soon.isoformat()

    token = admin.as_role(
        "admin", "POST", "/tokens", json={"role": "viewer", "expires_at": when}
    )
    key = admin.as_role(
        "admin",
        "POST",
        "/keys",
        json={"project": "demo", "label": "soon", "expires_at": when},
    )

    assert (token.status_code, token.json()["token"]["state"]) == (201, "active")
    assert (key.status_code, key.json()["key"]["state"]) == (201, "active")


def test_viewers_read_and_operators_replay_and_reload(admin: Admin) -> None:
    projects = admin.as_role("viewer", "GET", "/projects").json()
    assert projects == [
        {
            "name": "demo",
            "destinations": [{"name": "local", "type": "local"}],
            "active_keys": 2,
        }
    ]
    track(admin.gw.url, "demo")
    policy = admin.as_role("viewer", "GET", "/policy").json()
    assert policy["digest"] == admin.gw.gateway.engine.policy.digest
    outbox = admin.as_role("viewer", "GET", "/outbox").json()
    assert set(outbox) == {"depth", "capacity", "routes"}
    assert admin.as_role("viewer", "GET", "/dead-letters").json() == []
    findings = admin.as_role("viewer", "GET", "/findings").json()
    assert findings["events_received"] == 1
    replay = admin.as_role("operator", "POST", "/dead-letters/replay", json={})
    assert replay.json() == {"replayed": 0}
    reload = admin.as_role("operator", "POST", "/policy/reload")
    assert reload.json()["reloaded"] is False


def test_a_refused_body_is_not_echoed_back(admin: Admin) -> None:
    canary = "canary-pasted-by-mistake-" + "x" * 300
    reply = admin.as_role(
        "admin", "POST", "/keys", json={"project": "demo", "label": canary}
    )
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", "label"]
    assert "canary-pasted" not in reply.text
    broken = admin.as_role("admin", "POST", "/tokens", json=None)
    assert broken.status_code == 422


def test_an_expiring_admin_token_cannot_make_one_that_outlives_it(
    admin: Admin,
) -> None:
    made = admin.as_role(
        "admin",
        "POST",
        "/tokens",
        json={"role": "admin", "expires_at": "2030-01-01T00:00:00Z"},
    )
    assert made.status_code == 201, made.text
    expiring = made.json()["secret"]
    for body in (
        {"role": "viewer"},  # never expires
        {"role": "viewer", "expires_at": "2031-01-01T00:00:00Z"},  # later
    ):
        refused = admin.call("POST", "/tokens", expiring, json=body)
        assert refused.status_code == 403, refused.text
        assert "outlives" in refused.json()["detail"]
    # no later than its own: allowed
    ok = admin.call(
        "POST",
        "/tokens",
        expiring,
        json={"role": "viewer", "expires_at": "2029-06-01T00:00:00Z"},
    )
    assert ok.status_code == 201, ok.text
    # a token without expiry is not held back
    plain = admin.as_role("admin", "POST", "/tokens", json={"role": "viewer"})
    assert plain.status_code == 201


POLICY = """\
version: 1
events:
  checkout:
    properties:
      plan: drop
"""
# a hash key pasted inline (line 4) and a misspelt action (line 8)
CANARY_KEY = "canary-hash-key-0123456789abcdef"
BROKEN_POLICY = f"""\
version: 1
hash:
  key_id: k1
  key: {CANARY_KEY}
events:
  checkout:
    properties:
      plan: drpo
"""


def test_a_refused_policy_reload_is_an_error_naming_file_line_and_column(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    config = write_config(tmp_path, policy=policy)
    store = KeyStore.in_dir(tmp_path / "data")
    made, secret = store.create_token("operator", label="reloads")
    store.close()
    with gateway_thread(config) as gw:
        admin = Admin(gw, {"operator": (made.id, secret.reveal())})
        kept = gw.gateway.engine.policy.digest
        same = admin.as_role("operator", "POST", "/policy/reload")
        assert same.status_code == 200
        assert same.json() == {"reloaded": False, "digest": kept}

        policy.write_text(BROKEN_POLICY)
        refused = admin.as_role("operator", "POST", "/policy/reload")
        assert refused.status_code == 409, refused.text
        body = refused.json()
        assert body["detail"] == "policy reload refused: the policy in force is kept"
        assert body["digest"] == kept
        assert body["errors"][0].startswith(f"{policy}:4:8: hash.key: ")
        assert body["errors"][1].startswith(f"{policy}:8:13: events.checkout")
        assert CANARY_KEY not in refused.text
        # the old policy still serves
        assert gw.gateway.engine.policy.digest == kept
        # and the document declares the answer
        doc = httpx.get(admin.url + "/openapi.json", timeout=10).json()
        declared = doc["paths"]["/policy/reload"]["post"]["responses"]["409"]
        assert declared["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ReloadRefusedOut"
        }

        # and the admin call is audited as what it was
        def reloads() -> list[dict[str, Any]]:
            return [
                r["data"]
                for r in _access(gw.config.data_dir)
                if r["data"]["route"] == "/admin/policy/reload"
            ]

        wait_for(lambda: len(reloads()) == 2)
        assert [(r["status"], r["outcome"]) for r in reloads()] == [
            (200, "allowed"),
            (409, "refused"),
        ]


def test_replaying_a_route_that_does_not_exist_is_404(admin: Admin) -> None:
    unknown = admin.as_role(
        "operator", "POST", "/dead-letters/replay", json={"route": "web/nope"}
    )
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["detail"].startswith("no route with that name")
    assert "web/nope" not in unknown.text
    # a route of the config, with nothing dead, and every route: 200
    known = admin.as_role(
        "operator", "POST", "/dead-letters/replay", json={"route": "demo/local"}
    )
    assert known.json() == {"replayed": 0}
    every = admin.as_role("operator", "POST", "/dead-letters/replay", json={})
    assert every.json() == {"replayed": 0}
    doc = httpx.get(admin.url + "/openapi.json", timeout=10).json()
    assert "404" in doc["paths"]["/dead-letters/replay"]["post"]["responses"]
