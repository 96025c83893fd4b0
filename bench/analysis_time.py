"""The analysis itself, start-up aside: `abortscope analyze --format parquet`'s work, timed inside one process.

    python bench/analysis_time.py FILE OUT.parquet
    python bench/analysis_time.py --connections FILE

Imports everything first, then times analysis.api.export_timeline (read,
connections, facts, the timeline written as parquet) on FILE and prints
{"seconds": ..., "rows": ...} as JSON. The whole-process legs cannot give
this by subtraction: the CLI reads the capture while it imports, so
"abortscope minus the import baseline" leaves out the reading it hid.

``--connections`` times ``analysis.load`` and then, apart, the connection
table (``Timeline.connections``: every connection's verdict) and prints
{"load_s": ..., "connections_s": ..., "connections": ...}.
"""

from __future__ import annotations

import importlib
import json
import sys
import time

from analysis.api import export_timeline, load

importlib.import_module("pyarrow.parquet")  # up front: part of the start-up, not of the analysis


def main(path: str, output: str) -> dict:
    started = time.perf_counter()
    rows = export_timeline(path, "parquet", output).rows
    return {"seconds": time.perf_counter() - started, "rows": rows}


def connections(path: str) -> dict:
    started = time.perf_counter()
    timeline = load(path)
    loaded = time.perf_counter()
    table = timeline.connections
    return {"load_s": loaded - started, "connections_s": time.perf_counter() - loaded, "connections": len(table)}


if __name__ == "__main__":
    print(json.dumps(connections(sys.argv[2]) if sys.argv[1] == "--connections" else main(sys.argv[1], sys.argv[2])))
