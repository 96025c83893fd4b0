"""The one compiled part: analysis/pcap/_native.c (see analysis/pcap/walk.py and decode.py).

Optional: without a C compiler and Python headers the install still works
and the reader falls back to the same loop in Python (slower on big files).
Everything else about the package is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("analysis.pcap._native", ["analysis/pcap/_native.c"], optional=True)])
