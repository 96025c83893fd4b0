"""The batch dataset read back: its manifest, and a table across every capture as pandas or Dask."""

from __future__ import annotations

import json
from pathlib import Path

from analysis.batch.task import CONNECTIONS
from analysis.errors import AbortscopeError

MANIFEST = "_manifest.json"


def read_manifest(dataset: str | Path) -> dict:
    """{"captures": {id: entry}} (empty for a new dataset)."""
    path = Path(dataset) / MANIFEST
    if not path.exists():
        return {"captures": {}}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AbortscopeError(f"{path}: not a readable batch manifest ({exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("captures"), dict):
        raise AbortscopeError(f"{path}: not a batch manifest (no \"captures\" object)")
    return manifest


def write_manifest(dataset: str | Path, manifest: dict) -> None:
    path = Path(dataset) / MANIFEST
    temporary = path.with_name(f".{MANIFEST}.partial")
    temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    temporary.replace(path)


def read_dataset(dataset: str | Path, table: str = CONNECTIONS, engine: str = "pandas", filters=None):
    """``table`` ("connections" or "timeline") of every capture analyzed into ``dataset``, with its ``capture``
    column, as a pandas DataFrame (``engine="pandas"``) or a Dask one (``"dask"``); ``filters`` as pyarrow's
    (e.g. ``[("verdict", "==", "WRITE_AFTER_PEER_FIN_RST_EPIPE")]``) are applied while reading."""
    folder = Path(dataset) / table
    if not folder.is_dir():
        raise AbortscopeError(f"{dataset}: no {table} in this dataset (made by `abortscope batch --out`?)")
    if engine == "dask":
        import dask.dataframe as dd

        return dd.read_parquet(str(folder), filters=filters)
    if engine != "pandas":
        raise ValueError(f"unknown engine {engine!r}: pandas or dask")
    import pandas as pd

    return pd.read_parquet(folder, filters=filters)
