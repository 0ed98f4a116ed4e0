"""Serve a built Space app on 127.0.0.1 in a background thread, for tests that call it over HTTP."""

from __future__ import annotations

import socket
from typing import Any

# Gradio's own reachability check after starting the server (one HEAD request with a 3 s timeout)
# fails outright on a machine loaded far past its cores; the server itself is fine.
UNREACHABLE = "localhost is not accessible"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_local(app: Any, demo: Any, attempts: int = 3) -> str:
    """Launch `demo` with the app's launch_app on a free port; its URL. Retries only Gradio's
    spurious "localhost is not accessible" under load."""
    for attempt in range(attempts):
        port = free_port()
        try:
            app.launch_app(demo, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
        except ValueError as err:
            if UNREACHABLE not in str(err) or attempt == attempts - 1:
                raise
            demo.close()
            continue
        return f"http://127.0.0.1:{port}/"
    raise AssertionError("unreachable")
