"""Timeline exports (csv, json lines, parquet) with the schema's column names.

The one place that turns a timeline into a file format: the CLI, the run
bundle's timeline.csv and the golden tests all go through here.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import pandas as pd

from analysis.schema import COLUMN_NAMES

FORMATS = ("csv", "json", "parquet")
#: categoricals become plain strings so every reader sees the same values
_CATEGORY_COLUMNS = ("source", "actor", "kind")


def exportable(events: pd.DataFrame, columns: tuple[str, ...] | list[str] = COLUMN_NAMES) -> pd.DataFrame:
    frame = events.loc[:, list(columns)].copy()
    for column in _CATEGORY_COLUMNS:
        if column in frame:
            frame[column] = frame[column].astype("string")
    return frame


def to_csv_text(events: pd.DataFrame, columns: tuple[str, ...] | list[str] = COLUMN_NAMES) -> str:
    # t_rel to the nanosecond: the timeline's resolution, and stable text for goldens
    return exportable(events, columns).to_csv(index=False, float_format="%.9f", lineterminator="\n")


def export(events: pd.DataFrame, format: str, output: Path | IO[str]) -> None:
    """Write ``events`` as ``format`` to a path (or, for csv/json, an open text stream)."""
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}: choose one of {', '.join(FORMATS)}")
    if format == "parquet":
        exportable(events).to_parquet(output, index=False)
        return
    text = to_csv_text(events) if format == "csv" else exportable(events).to_json(orient="records", lines=True)
    if isinstance(output, (str, Path)):
        Path(output).write_text(text)
    else:
        output.write(text)
