"""Build timeline columns in their schema dtypes directly (no per-element Python on big frames).

``schema.conform`` is the general path for small sources; a million packet
rows would spend seconds there casting strings one by one. These builders go
through numpy and Arrow (the ``string`` dtype is Arrow-backed) instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def strings_from_codes(codes: np.ndarray, names: Sequence[str] | np.ndarray) -> pd.arrays.ArrowStringArray:
    """names[codes] as a ``string`` array; a code of -1 gives <NA>."""
    codes = np.asarray(codes)
    table = pa.array(np.asarray(names, dtype=object), type=pa.large_string()) if len(names) else pa.array([], pa.large_string())
    index = pa.array(codes.astype(np.int64), mask=codes < 0)
    return pd.arrays.ArrowStringArray(pc.take(table, index).cast(pa.large_string()))


def null_strings(n: int) -> pd.arrays.ArrowStringArray:
    return pd.arrays.ArrowStringArray(pa.nulls(n, pa.large_string()))


def nullable_int(values: np.ndarray, valid: np.ndarray | None = None) -> pd.arrays.IntegerArray:
    values = np.asarray(values, dtype=np.int64)
    mask = np.zeros(len(values), dtype=bool) if valid is None else ~np.asarray(valid, dtype=bool)
    return pd.arrays.IntegerArray(values, mask)


def codes_in(values, names: Sequence[str]) -> np.ndarray:
    """Position of every value in ``names`` (-1 where absent), hashed in Arrow."""
    arr = pa.array(values.astype("string").array if isinstance(values, pd.Series) else values, type=pa.large_string())
    idx = pc.index_in(arr, value_set=pa.array(list(names), type=pa.large_string()))
    return np.asarray(idx.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def string_arrow(series: pd.Series) -> pa.Array:
    """The Arrow array behind a ``string`` Series (no per-element copy when it is Arrow-backed already; one
    array when it is several chunks, as a concatenated table's columns are)."""
    values = pa.array(series.array, type=pa.large_string(), from_pandas=True)
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def int_or_na(values) -> pd.arrays.IntegerArray:
    """Int64 from any values: whole numbers kept, <NA> for the rest (text, fractions, lists, numbers past 2^62)."""
    objects = pd.Series(values, dtype=object).reset_index(drop=True)
    numbers = pd.to_numeric(objects.where(~objects.map(lambda v: isinstance(v, (bool, list, dict)))), errors="coerce")
    whole = numbers.where((numbers.abs() < 2**62) & (numbers % 1 == 0))
    return whole.astype("Int64").array
