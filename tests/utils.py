"""Small helpers shared by tests: processes and servers, waiting, metrics."""

import socket
import time


def free_port() -> int:
    """Return a loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.2) -> bool:
    """Poll predicate until it is true or timeout seconds pass; return whether it came true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def metric_value(name: str, **labels: str) -> float:
    """Return a sample of the operator metrics as /metrics would show it now (0 if absent)."""
    from console.prometheus import REGISTRY
    from core.fleet_metrics import metrics_flush

    metrics_flush()
    return REGISTRY.get_sample_value(name, labels) or 0.0
