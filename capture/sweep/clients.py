"""The browser clients in the clients registry, for the sweep's runs.

``capture.clients.CLIENTS`` is owned by the harness; until it lists the
browser clients, the sweep adds them to the registry *at run time* in its
own process (nothing is written to the registry's source), so every run
still goes through ``capture.clients.run_client`` like any other client.
"""

from __future__ import annotations

import capture.clients
from capture.clients.browser import MODES, run_browser_client

#: registry name -> one-line description (the same lines the registry should carry)
BROWSER_CLIENTS = {
    "browser": "headless Chromium: fetch() aborted with an AbortController",
    "browser-close": "headless Chromium: the tab is closed while the fetch is pending",
}


def ensure_client(name: str) -> None:
    """Make sure ``name`` is in the clients registry (adds the browser clients if missing)."""
    if name in capture.clients.CLIENTS or name not in MODES:
        return
    capture.clients.CLIENTS[name] = capture.clients.Client(name, BROWSER_CLIENTS[name], run_browser_client)
