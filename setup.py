"""The one compiled part: analysis/pcap/_walk.c (see analysis/pcap/walk.py).

Optional: without a C compiler and Python headers the install still works
and the reader falls back to the same loop in Python (slower on big files).
Everything else about the package is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("analysis.pcap._walk", ["analysis/pcap/_walk.c"], optional=True)])
