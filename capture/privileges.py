"""Preflight: are we root, and are the tools this run needs installed?

Both checks raise an AbortscopeError whose message is the one line the CLI
prints: the exact sudo command to re-run, or the apt-get command to install.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys

from analysis.errors import AbortscopeError

#: command -> Debian package that provides it (keep in step with tools/install-system-deps.sh)
DEBIAN_PACKAGE_OF: dict[str, str] = {
    "tcpdump": "tcpdump",
    "dumpcap": "tshark",
    "editcap": "wireshark-common",
    "tshark": "tshark",
    "strace": "strace",
    "go": "golang-go",
    "curl": "curl",
    "node": "nodejs",
    "chromium": "chromium",
    "nginx": "nginx",
    "mount": "mount",
    "tail": "coreutils",
}

#: what needs root, for the message
ROOT_REASON = "packet capture on lo, strace of the server and the kernel's tracefs need root"


class NeedsRootError(AbortscopeError):
    """Not running as root."""


class MissingToolError(AbortscopeError):
    """A program the run drives is not installed."""


def sudo_command(argv: list[str] | None = None) -> str:
    """The command line to re-run this very command under sudo, with the absolute program path.

    sudo resets PATH, so a bare `abortscope` from a venv would not be found.
    """
    argv = list(sys.argv if argv is None else argv)
    program = argv[0]
    if program.endswith("__main__.py"):  # python -m abortscope
        return shlex.join(["sudo", sys.executable, "-m", "abortscope", *argv[1:]])
    if os.sep not in program:
        program = shutil.which(program) or program
    return shlex.join(["sudo", os.path.abspath(program), *argv[1:]])


def require_root(argv: list[str] | None = None) -> None:
    if os.geteuid() != 0:
        raise NeedsRootError(f"{ROOT_REASON}; run: {sudo_command(argv)}")


def missing_tools(tools: list[str]) -> list[str]:
    return [tool for tool in dict.fromkeys(tools) if shutil.which(tool) is None]


def require_tools(tools: list[str]) -> None:
    missing = missing_tools(tools)
    if missing:
        packages = sorted({DEBIAN_PACKAGE_OF.get(tool, tool) for tool in missing})
        raise MissingToolError(
            f"missing {', '.join(missing)}; install with: sudo apt-get install -y {' '.join(packages)}"
        )
