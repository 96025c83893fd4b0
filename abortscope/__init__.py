"""abortscope: the command-line shell over two libraries.

    capture/   root-side harness: runs servers and clients, records packets,
               syscalls, kernel events and app events into a run bundle
    analysis/  sans-IO analyzer: capture files + event logs -> one timeline,
               flows, diagnosis, plots (never imports capture, never needs root)
    abortscope/ this package: the CLI only (typer + rich); the only place that
               prints or exits

Dependency direction: abortscope -> capture -> analysis.
"""

__version__ = "0.1.0"
