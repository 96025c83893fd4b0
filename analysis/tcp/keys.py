"""Dense ids that last across batches: addresses, endpoints, pairs and VLAN stacks, numbered as first seen.

The streamed connection pass (analysis.tcp.fold) meets the packets a batch
at a time, so what identifies a connection must mean the same in every
batch: these maps number values in order of first appearance and keep the
numbers. Lookups are whole-column (a hash factorisation of the batch, then
one binary search per *distinct* value of the batch into the sorted values
seen so far); Python runs once per distinct address or VLAN text, never per
packet.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas._libs import hashtable  # pd.factorize's hash table, kept across calls


class GrowingIds:
    """int64 values -> ids 0, 1, ... in order of first appearance, across any number of calls.

    One hash table kept from call to call (pandas' own, the one behind
    pd.factorize): a batch costs one hash lookup per row.
    """

    def __init__(self) -> None:
        self._table = hashtable.Int64HashTable()
        self._values: list[np.ndarray] = []  # the values in id order, a piece per call
        self.count = 0

    def ids(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the id of every value, the ids first given out by this call (ascending), the row where each first
        appears)."""
        fresh_values = hashtable.Int64Vector()
        ids = self._table.get_labels(np.ascontiguousarray(values, dtype=np.int64), fresh_values, self.count, -1)
        fresh_values = fresh_values.to_array()
        if not len(fresh_values):
            return ids, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        fresh_ids = self.count + np.arange(len(fresh_values))
        self._values.append(fresh_values)
        self.count += len(fresh_values)
        rows = np.flatnonzero(ids >= fresh_ids[0])
        return ids, fresh_ids, rows[first_occurrences(ids[rows] - fresh_ids[0])]

    def values(self) -> np.ndarray:
        """The value of every id, in id order."""
        if len(self._values) > 1:
            self._values = [np.concatenate(self._values)]
        return self._values[0] if self._values else np.zeros(0, dtype=np.int64)


def first_occurrences(codes: np.ndarray) -> np.ndarray:
    """The row where each code first appears, for codes numbered in order of first appearance (pd.factorize's)."""
    if not len(codes):
        return np.zeros(0, dtype=np.int64)
    running = np.maximum.accumulate(codes)
    starts = np.ones(len(codes), dtype=bool)
    np.greater(running[1:], running[:-1], out=starts[1:])
    return np.flatnonzero(starts)


class TextIds:
    """Text values (a column's categories, or its distinct strings) -> ids, in order of first appearance."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._index: dict[str, int] = {}
        self._categories = pd.Index([], dtype=object)  # the last categories seen, and their ids
        self._category_ids = np.zeros(0, dtype=np.int64)

    def ids(self, *columns: pd.Series) -> list[np.ndarray]:
        """The id of every row of each column (one numbering for all of them)."""
        if all(isinstance(c.dtype, pd.CategoricalDtype) and not c.hasnans for c in columns):
            return [self._of_categories(c.cat.categories)[c.cat.codes.to_numpy()] for c in columns]
        joined = pd.concat([c.astype("string").fillna("").reset_index(drop=True) for c in columns], ignore_index=True)
        codes, uniques = pd.factorize(joined)
        ids = self._of(np.asarray(uniques, dtype=object))[codes]
        bounds = np.cumsum([0] + [len(c) for c in columns])
        return [ids[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def _of_categories(self, categories: pd.Index) -> np.ndarray:
        """Ids of a categorical's categories. The reader's batches carry every address seen so far, in order,
        each batch's a longer list: only the new tail is looked up."""
        known = len(self._categories)
        if len(categories) >= known and categories[:known].equals(self._categories):
            tail = self._of(np.asarray(categories[known:], dtype=object))
            self._category_ids = np.concatenate([self._category_ids, tail])
        else:
            self._category_ids = self._of(np.asarray(categories, dtype=object))
        self._categories = categories
        return self._category_ids

    def _of(self, values: np.ndarray) -> np.ndarray:
        index, texts = self._index, self.texts
        out = np.empty(len(values), dtype=np.int64)
        for k, text in enumerate(values.tolist()):  # once per distinct value of the batch
            code = index.get(text)
            if code is None:
                code = index[text] = len(texts)
                texts.append(text)
            out[k] = code
        return out

    def array(self) -> np.ndarray:
        return np.asarray(self.texts, dtype=object)
