"""Many captures at once on Dask: one task each, into one Hive-partitioned Parquet dataset.

    manifest = run(["a.pcap", "ring/", ...], "dataset/", workers=2)     # a local cluster of 2 worker processes
    manifest = run(inputs, "dataset/", scheduler="tcp://10.0.0.5:8786")  # an existing cluster
    read_dataset("dataset/")                                             # every capture's connections (pandas)
    read_dataset("dataset/", engine="dask", filters=[("verdict", "==", "WRITE_AFTER_PEER_FIN_RST_EPIPE")])

The dataset::

    dataset/_manifest.json                          what was analyzed: input, sha256, counts, status, error
    dataset/connections/capture=ID/part-0.parquet   the connection table (analysis.schema.connections)
    dataset/timeline/capture=ID/part-0.parquet      the packets' timeline rows (analysis.schema.timeline)

``capture`` is a partition column (Hive style), so pandas, Dask, DuckDB
(``read_parquet('dataset/connections/*/*.parquet', hive_partitioning = true)``)
and Spark read it as is; the manifest's name starts with ``_``, which those
readers skip. A capture is a file or a directory of its rotated pieces.
Each task (analysis.batch.task) streams its capture in bounded memory; a
capture that fails is recorded with its error while the others finish; a run
again skips the captures whose sha256 the manifest already has, unless forced.
"""

from __future__ import annotations

from analysis.batch.dataset import read_dataset, read_manifest
from analysis.batch.run import capture_ids, run

__all__ = ["capture_ids", "read_dataset", "read_manifest", "run"]
