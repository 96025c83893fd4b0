"""The two sides as codes for whole-column work: 0 client, 1 server, -1 none (one vocabulary: analysis.schema)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

SIDES = ("client", "server")
CLIENT, SERVER, NONE = 0, 1, -1
_SIDE_TEXTS = pa.array(SIDES, pa.large_string())  # the Arrow type pandas keeps


def codes(values: pd.Series | pd.api.extensions.ExtensionArray) -> np.ndarray:
    """client -> 0, server -> 1, anything else (null) -> -1, as int8."""
    values = pd.Series(values, copy=False).astype("string")
    out = np.full(len(values), NONE, dtype=np.int8)
    out[(values == "client").fillna(False).to_numpy(bool)] = CLIENT
    out[(values == "server").fillna(False).to_numpy(bool)] = SERVER
    return out


def names(side_codes: np.ndarray) -> pd.arrays.ArrowStringArray:
    """0 -> client, 1 -> server, -1 -> <NA>, as a ``string`` array."""
    side_codes = np.asarray(side_codes, dtype=np.int64)
    return pd.array(_SIDE_TEXTS.take(pa.array(side_codes, mask=side_codes < 0)), dtype="string")


def other(side_codes: np.ndarray) -> np.ndarray:
    """The peer of each side; -1 stays -1."""
    return np.where(side_codes >= 0, 1 - side_codes, NONE).astype(np.int8)
