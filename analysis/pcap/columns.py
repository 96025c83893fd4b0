"""Turn engine output (plain arrays or lists, one per column) into the packet table."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .table import PACKET_COLUMNS


def empty_packets() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, (dtype, _) in PACKET_COLUMNS.items()})


def packet_frame(columns: Mapping[str, object]) -> pd.DataFrame:
    """A DataFrame with exactly PACKET_COLUMNS (names, order, dtypes)."""
    lengths = {len(columns[name]) for name in PACKET_COLUMNS}  # type: ignore[arg-type]
    if lengths == {0}:
        return empty_packets()
    data = {}
    for name, (dtype, _) in PACKET_COLUMNS.items():
        values = columns[name]
        if dtype == "string":
            if isinstance(values, pd.api.extensions.ExtensionArray) and values.dtype == pd.StringDtype():
                data[name] = values
            else:
                data[name] = pd.array(np.asarray(values, dtype=object), dtype="string")
        else:
            data[name] = np.asarray(values).astype(dtype, copy=False)
    return pd.DataFrame(data, copy=False)  # the arrays are ours: no second copy of a big table


