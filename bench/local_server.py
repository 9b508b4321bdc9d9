"""What bench/rss.py and bench/startup.py both need of a `tokenauth serve` they start on this
machine: a free local port, and whether its /readyz answers 200 yet. Standard library only."""

import http.client
import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at the moment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(port: int) -> bool:
    """Whether `GET /readyz` on 127.0.0.1:port answers 200, over a fresh connection."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", "/readyz")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False
