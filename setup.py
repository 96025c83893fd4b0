"""The one compiled part: analysis/pcap/csrc/ (see native.h there, and analysis/pcap/walk.py and decode.py).

Optional: without a C compiler and Python headers the install still works
and the reader falls back to the same loop in Python (slower on big files).
Everything else about the package is in pyproject.toml.
"""

from pathlib import Path

from setuptools import Extension, setup

CSRC = Path("analysis/pcap/csrc")
setup(ext_modules=[Extension("analysis.pcap._native", sorted(str(p) for p in CSRC.glob("*.c")),
                             depends=[str(CSRC / "native.h")], optional=True)])
