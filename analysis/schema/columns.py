"""What a schema is: columns with a dtype, nullability, unit and meaning, and the checks and docs made from them.

Both core tables (the timeline, analysis.schema.timeline; the connection
table, analysis.schema.connections) are declared as tuples of
:class:`Column`; :func:`check` is how a frame is held to one before use, and
:func:`markdown_table` is how the README documents it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # pandas dtype
    nullable: bool
    unit: str
    doc: str


class SchemaError(ValueError):
    """A frame that does not fit its table's schema."""


def check(frame: pd.DataFrame, columns: tuple[Column, ...], table: str) -> None:
    """Raise :class:`SchemaError` unless ``frame`` has exactly ``columns``, in order, with their dtypes and nulls."""
    names = tuple(c.name for c in columns)
    if tuple(frame.columns) != names:
        missing = [n for n in names if n not in frame.columns]
        extra = [n for n in frame.columns if n not in names]
        raise SchemaError(f"{table} columns {tuple(frame.columns)} != {names}"
                          + (f" (missing {missing})" if missing else "") + (f" (unexpected {extra})" if extra else ""))
    for col in columns:
        actual = str(frame[col.name].dtype)
        if actual != col.dtype:
            raise SchemaError(f"{table} column {col.name!r} has dtype {actual}, schema says {col.dtype}")
        if not col.nullable and frame[col.name].isna().any():
            raise SchemaError(f"{table} column {col.name!r} may not be null")


def markdown_table(columns: tuple[Column, ...]) -> str:
    """A schema as a markdown table (for the README)."""
    lines = ["| column | dtype | null | unit | meaning |", "|---|---|---|---|---|"]
    for c in columns:
        doc = c.doc.replace("|", "\\|")  # "client | server" stays one cell
        lines.append(f"| `{c.name}` | {c.dtype} | {'yes' if c.nullable else 'no'} | {c.unit} | {doc} |")
    return "\n".join(lines)
