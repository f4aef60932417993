"""Serving a `Worker` over gRPC: where it listens, TLS, the health service, graceful shutdown.

The environment decides where a worker listens:

| variable | meaning |
|---|---|
| `AUTOPILOT_WORKER_ADDR` | `host:port` (default `127.0.0.1:50051`), or `unix:/path/to.sock` |
| `AUTOPILOT_WORKER_TLS_CERT`, `..._TLS_KEY` | PEM certificate chain and key: serve TLS |
| `AUTOPILOT_WORKER_TLS_CLIENT_CA` | PEM CA bundle: also require client certificates (mTLS) |
| `AUTOPILOT_WORKER_MAX_MESSAGE_BYTES` | largest request accepted (default 64 MiB) |
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from autopilot_sdk.service import SERVICE_NAME, WorkerService
from autopilot_sdk.worker import Worker

ADDR_ENV = "AUTOPILOT_WORKER_ADDR"
TLS_CERT_ENV = "AUTOPILOT_WORKER_TLS_CERT"
TLS_KEY_ENV = "AUTOPILOT_WORKER_TLS_KEY"
TLS_CLIENT_CA_ENV = "AUTOPILOT_WORKER_TLS_CLIENT_CA"
MAX_MESSAGE_BYTES_ENV = "AUTOPILOT_WORKER_MAX_MESSAGE_BYTES"
DEFAULT_ADDR = "127.0.0.1:50051"
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Large enough for a phase whose inputs list thousands of objects."""
MAX_CONCURRENT_CALLS = 16
"""Handler threads: the scheduler bounds its own concurrency; this only caps a burst."""
SHUTDOWN_GRACE_SECONDS = 30.0
"""How long in-flight calls may run after SIGTERM; Kubernetes' default grace period."""

log = logging.getLogger("autopilot_sdk")


class ServeError(Exception):
    """The worker could not start serving (bad configuration, address in use, unreadable TLS
    material). Not retryable without a change."""


@dataclass
class Tls:
    """TLS material: PEM files of the certificate chain and key, and optionally a client CA."""

    cert: Path
    key: Path
    client_ca: Path | None = None


@dataclass
class Config:
    """Where and how to serve."""

    address: str = DEFAULT_ADDR
    tls: Tls | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    grace_seconds: float = SHUTDOWN_GRACE_SECONDS
    options: list[tuple[str, Any]] = field(default_factory=list)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """The configuration the AUTOPILOT_WORKER_* variables describe.

        >>> Config.from_env({"AUTOPILOT_WORKER_ADDR": "unix:/tmp/w.sock"}).address
        'unix:/tmp/w.sock'
        """
        lookup = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = lookup.get(name, "").strip()
            return value or None

        config = cls(address=get(ADDR_ENV) or DEFAULT_ADDR)
        cert, key, ca = get(TLS_CERT_ENV), get(TLS_KEY_ENV), get(TLS_CLIENT_CA_ENV)
        if cert and key:
            config.tls = Tls(Path(cert), Path(key), Path(ca) if ca else None)
        elif cert or key:
            raise ServeError(
                f"set both {TLS_CERT_ENV} and {TLS_KEY_ENV} for TLS, or neither for plaintext"
            )
        elif ca:
            raise ServeError(
                f"{TLS_CLIENT_CA_ENV} is set but {TLS_CERT_ENV} and {TLS_KEY_ENV} are not"
            )
        size = get(MAX_MESSAGE_BYTES_ENV)
        if size is not None:
            if not size.isdigit():
                raise ServeError(f"{MAX_MESSAGE_BYTES_ENV} must be a number of bytes, not {size!r}")
            config.max_message_bytes = int(size)
        return config


class Running:
    """A started server: its bound port (TCP), and `stop` to drain it."""

    def __init__(
        self, server: grpc.Server, health_servicer: health.HealthServicer, port: int | None
    ) -> None:
        self.server = server
        self.port = port
        """The TCP port bound (useful with port 0); None on a unix socket."""
        self._health = health_servicer

    def stop(self, grace_seconds: float) -> None:
        """Stops accepting calls, reports NOT_SERVING, lets in-flight calls finish within the
        grace period, then returns."""
        self._health.enter_graceful_shutdown()
        self.server.stop(grace_seconds).wait()

    def wait(self) -> None:
        """Blocks until the server has stopped."""
        self.server.wait_for_termination()


def start(worker: Worker[Any, Any], config: Config) -> Running:
    """Starts serving `worker` in background threads and returns at once."""
    options = [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        *config.options,
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(
            max_workers=MAX_CONCURRENT_CALLS, thread_name_prefix="autopilot-call"
        ),
        options=options,
    )
    server.add_generic_rpc_handlers((WorkerService(worker).generic_handler(),))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in ("", SERVICE_NAME):
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)

    if config.address.startswith("unix:"):
        socket = Path(config.address.removeprefix("unix:").removeprefix("//"))
        if socket.is_socket():
            socket.unlink()  # left by a worker that was killed
    try:
        if config.tls is not None:
            port = server.add_secure_port(config.address, _credentials(config.tls))
        else:
            port = server.add_insecure_port(config.address)
    except RuntimeError as err:
        raise ServeError(f"cannot listen on {config.address}: {err}") from err
    server.start()
    log.info("worker %s serving %s on %s", worker.name, worker.describe().phases, config.address)
    return Running(server, health_servicer, None if config.address.startswith("unix:") else port)


def serve(worker: Worker[Any, Any], config: Config) -> None:
    """Serves `worker` until SIGTERM or SIGINT, then drains in-flight calls and returns."""
    running = start(worker, config)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: draining in-flight calls", signum)
        stopping.set()

    previous: dict[signal.Signals, Callable[..., Any] | int | None] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, on_signal)
    try:
        stopping.wait()
        running.stop(config.grace_seconds)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _credentials(tls: Tls) -> grpc.ServerCredentials:
    try:
        chain = tls.cert.read_bytes()
        key = tls.key.read_bytes()
        ca = tls.client_ca.read_bytes() if tls.client_ca else None
    except OSError as err:
        raise ServeError(f"cannot read TLS material: {err}") from err
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=ca, require_client_auth=ca is not None
    )
