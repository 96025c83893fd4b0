"""Versions of the programs a run depends on, for meta.json (None when not installed)."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
import threading

#: tool -> (argv asking its version, regex whose group 1 is the version)
VERSION_COMMANDS: dict[str, tuple[list[str], str]] = {
    "go": (["go", "version"], r"go version go(\S+)"),
    "curl": (["curl", "--version"], r"curl (\S+)"),
    "tcpdump": (["tcpdump", "--version"], r"tcpdump version (\S+)"),
    "libpcap": (["tcpdump", "--version"], r"libpcap version (\S+)"),
    "tshark": (["tshark", "--version"], r"TShark \(Wireshark\) (\S+)"),
    "dumpcap": (["dumpcap", "--version"], r"Dumpcap \(Wireshark\) (\S+)"),
    "strace": (["strace", "-V"], r"strace -- version (\S+)"),
    "node": (["node", "--version"], r"v?(\S+)"),
}


def tool_version(tool: str) -> str | None:
    argv, pattern = VERSION_COMMANDS[tool]
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(pattern, done.stdout + done.stderr)
    return match.group(1).rstrip(",") if match else None


def collect_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
    }
    try:
        import scapy

        versions["scapy"] = scapy.__version__
    except ImportError:
        versions["scapy"] = None
    for tool in VERSION_COMMANDS:
        versions[tool] = tool_version(tool)
    return versions


class VersionsInBackground:
    """collect_versions() started early on a thread (they take a moment); run inline if never started."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._value: dict = {}

    def _run(self) -> None:
        try:
            self._value = collect_versions()
        except Exception as exc:  # noqa: BLE001 - versions are nice to have
            self._value = {"error": str(exc)}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="versions", daemon=True)
        self._thread.start()

    def result(self, timeout_s: float) -> dict:
        if self._thread is None:
            self._run()
        else:
            self._thread.join(timeout_s)
        return self._value
