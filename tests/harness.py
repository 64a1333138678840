"""Running real gateways for tests: in a thread (uvicorn, full lifespan)
or as a separate `redline serve` process that can be killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from redline import config as config_mod
from redline.gateway.server import build

HASH_KEY_ENV = "REDLINE_TEST_HASH_KEY"
HASH_KEY = "test-hash-key-0123456789abcdef0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(
    directory: Path,
    *,
    forward: str = "      - destination: local\n",
    destinations: str = "  local:\n    type: local\n",
    policy: Path | None = None,
    extra: str = "",
    port: int | None = None,
) -> Path:
    """A config file in ``directory`` with the demo project (key "demo")."""
    policy_line = f"policy: {policy}\n" if policy else ""
    text = (
        f"server:\n  host: 127.0.0.1\n  port: {port or free_port()}\n"
        f"  data_dir: {directory / 'data'}\n{extra}"
        "outbox:\n  retry_initial_seconds: 0.05\n  retry_max_seconds: 0.5\n"
        f"{policy_line}"
        f"destinations:\n{destinations}"
        f"projects:\n  demo:\n    ingest_keys: [demo, demo-2]\n    forward:\n{forward}"
    )
    path = directory / "redline.yaml"
    path.write_text(text)
    # the gateway refuses a config that names secret files if others can
    # read it
    path.chmod(0o600)
    return path


class GatewayThread:
    def __init__(self, config: config_mod.Config) -> None:
        self.config = config
        self.gateway = build(config)
        self.url = f"http://127.0.0.1:{config.server.port}"
        uv = uvicorn.Config(
            self.gateway.app(),
            host="127.0.0.1",
            port=config.server.port,
            log_config=None,
            access_log=False,
            # as `redline serve` does: forwarding headers are the
            # gateway's business (client_ip_header), not uvicorn's
            proxy_headers=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(uv)
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> GatewayThread:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=15)


@contextmanager
def gateway_thread(config_path: Path) -> Iterator[GatewayThread]:
    with GatewayThread(config_mod.load(config_path)) as gw:
        yield gw


class GatewayProcess:
    """`redline serve` in a child process; stderr goes to a file."""

    def __init__(
        self,
        config_path: Path,
        log_path: Path,
        env: dict[str, str] | None = None,
        *,
        own_group: bool = False,
    ):
        self.config = config_mod.load(config_path)
        self.url = f"http://127.0.0.1:{self.config.server.port}"
        self._args = [
            sys.executable,
            "-m",
            "redline.cli",
            "serve",
            "--config",
            str(config_path),
        ]
        self._log_path = log_path
        self._env = {**os.environ, **(env or {})}
        # a process group of its own, as a shell job or a service has: a
        # signal to the group reaches the gateway and its children
        self._own_group = own_group
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> GatewayProcess:
        # the child holds its own copy of the descriptor
        with open(self._log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self._args,
                stderr=log,
                stdout=log,
                env=self._env,
                start_new_session=self._own_group,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("gateway did not become healthy")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
