"""The admin API fuzzed from its own OpenAPI document (schemathesis):
valid and invalid requests for every operation, as an admin, and no answer
is a server error; the answers that claim success match the document.
Invalid requests include invalid bearer credentials, which the document's
security scheme tells schemathesis about."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from harness import GatewayThread, gateway_thread, write_config
from redline.access import KeyStore

from .conftest import audit_records

pytestmark = pytest.mark.slow

EXAMPLES = 40


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[GatewayThread, str]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    config = write_config(tmp)
    store = KeyStore.in_dir(tmp / "data")
    _, secret = store.create_token("admin", label="fuzz")
    store.close()
    with gateway_thread(config) as gw:
        yield gw, secret.reveal()


def _operations(gw: GatewayThread) -> list[object]:
    schema = schemathesis.openapi.from_url(gw.url + "/admin/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_admin_operation_answers_with_a_server_error(
    served: tuple[GatewayThread, str], mode: GenerationMode
) -> None:
    gw, token = served
    base = gw.url + "/admin"
    headers = {"Authorization": f"Bearer {token}"}
    seen: dict[str, set[int]] = {}
    for operation in _operations(gw):
        label = operation.label  # type: ignore[attr-defined]
        statuses = seen.setdefault(label, set())

        # every operation has invalid forms: at least its credential
        _fuzz(operation, mode, base, headers, statuses)()
        if mode is GenerationMode.NEGATIVE:
            # and, with the credential made valid, its invalid parameters and
            # bodies reach validation (drawn together with a bad credential,
            # they are refused before it, so a short run may never get there)
            _fuzz(operation, mode, base, headers, statuses, own_token=True)()
    # every operation was reached, with answers of its own
    assert len(seen) == 14, seen
    assert all(seen.values())
    if mode is GenerationMode.NEGATIVE:
        # the document's bearer scheme gives every operation an invalid form,
        # a credential that is no token, refused with 401 ...
        assert all(401 in statuses for statuses in seen.values()), seen
        # ... and the 8 operations with parameters or bodies invalid ones too
        assert sum(bool(s & {400, 422}) for s in seen.values()) == 8, seen
    # and the gateway's audit log has kept up with all of it
    assert any(r["kind"] == "admin.access" for r in audit_records(gw.config.data_dir))


def _fuzz(
    operation: object,
    mode: GenerationMode,
    base: str,
    headers: dict[str, str],
    statuses: set[int],
    own_token: bool = False,
) -> Callable[[], None]:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))  # type: ignore[attr-defined]
    def run(case: schemathesis.Case) -> None:
        if own_token and case.headers:
            case.headers = {
                k: v for k, v in case.headers.items() if k.lower() != "authorization"
            }
        response = case.call(base_url=base, headers=headers)
        assert response.status_code < 500, (case.method, case.path, response.text)
        statuses.add(response.status_code)
        if response.status_code < 300:
            case.operation.validate_response(response)

    return run  # type: ignore[no-any-return]
