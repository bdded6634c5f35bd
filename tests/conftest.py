"""Shared test fixtures: a real gateway process on a free loopback port.

Tests talk to the gateway the way users do: a separate process started with
the same command line, reached over TCP by the official SDKs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

pytest_plugins = ["tests.secret_service"]

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_program(name: str) -> str:
    """Path of a system program the test needs; skip without it, but fail under CI."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (.ci/run installs it)"
        if IN_CI:
            pytest.fail(f"{reason}; under CI a missing program is a failure")
        pytest.skip(reason)
    return path


def clear_of_minute_edge(left: float = 15.0) -> None:
    """Limits count in fixed calendar-minute windows: start with at least `left` seconds of
    the minute to go, so a window edge in the middle of a test cannot give extra calls."""
    into = time.time() % 60
    if into > 60 - left:
        time.sleep(61 - into)


def gateway_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway_cli", *args]


def run_gateway(*args: str, timeout: float = 30,
                **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(gateway_cmd(*args), capture_output=True, text=True,
                          timeout=timeout, check=False, **kwargs)  # type: ignore[call-overload]


@dataclass
class Gateway:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_gateway(tmp_path: Path, *extra: str, config: str | None = None,
                  env: dict[str, str] | None = None,
                  verify: ssl.SSLContext | None = None) -> Gateway:
    """`verify`: the gateway serves HTTPS, probed with this context (trusting its CA)."""
    scheme = "http" if verify is None else "https"
    port = free_port()
    env = dict(os.environ if env is None else env)
    # Each gateway keeps its state (client keys, control socket) in the test's own dir.
    env.setdefault("GATEWAY_HOME", str(tmp_path / "gateway-home"))
    args = ["serve", "--port", str(port), *extra]
    if config is not None:
        config_path = tmp_path / "gateway.toml"
        config_path.write_text(config)
        args += ["--config", str(config_path)]
    log_path = tmp_path / f"gateway-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(gateway_cmd(*args), stdout=log, stderr=subprocess.STDOUT,
                                   env=env)
    # Generous: start-up verification hashes the environment, which a busy machine slows.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}:\n"
                               f"{log_path.read_text()}")
        try:
            if httpx.get(f"{scheme}://127.0.0.1:{port}/health", timeout=0.5,
                         verify=verify if verify is not None else True).status_code == 200:
                return Gateway(process, port, log_path, scheme)
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"gateway did not answer /health in time:\n{log_path.read_text()}")


def stop_gateway(gateway: Gateway) -> None:
    gateway.process.terminate()
    try:
        gateway.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        gateway.process.kill()
        gateway.process.wait()


@pytest.fixture(params=["asyncio", "uvloop"])
def on_each_loop(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs the test twice: its `asyncio.run` calls on asyncio's loop, then on uvloop,
    the two loops `gateway serve` can serve on (server/event_loop.py). For the code that
    runs inside the served process: the upstream client, the Redis client, deadlines."""
    if request.param == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        yield request.param
    finally:
        asyncio.set_event_loop_policy(None)


@pytest.fixture(autouse=True)
def _private_gateway_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the state directory of the user running the suite."""
    monkeypatch.setenv("GATEWAY_HOME", str(tmp_path / "gateway-home"))


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One gateway on its defaults (no config), shared by the tests that only read."""
    gw = start_gateway(tmp_path_factory.mktemp("gateway"))
    yield gw
    stop_gateway(gw)
