"""A first-match rules engine over whole columns: the pattern of conn_state (analysis.tcp.history) and the verdicts.

A rule names the boolean columns that must hold (``all_of``) and must not
(``none_of``); every row gets the index of the first rule whose conditions
hold, evaluated as masks over all rows at once (no Python per row). The
last rule should have no conditions, so that every row is decided.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import numpy as np


class Rule(Protocol):
    all_of: tuple[str, ...]
    none_of: tuple[str, ...]


def first_match(rules: Sequence[Rule], booleans: Mapping[str, np.ndarray], n_rows: int) -> np.ndarray:
    """Index into ``rules`` of the first rule each row satisfies (the last rule's index when none does)."""
    out = np.full(n_rows, len(rules) - 1, dtype=np.int64)
    decided = np.zeros(n_rows, dtype=bool)
    for index, rule in enumerate(rules):
        cond = ~decided
        for name in rule.all_of:
            cond &= np.asarray(booleans[name], dtype=bool)
        for name in rule.none_of:
            cond &= ~np.asarray(booleans[name], dtype=bool)
        out[cond] = index
        decided |= cond
    return out


def names_used(rules: Iterable[Rule]) -> set[str]:
    """Every boolean a rules table reads (for checking it against the vocabulary it claims)."""
    return {name for rule in rules for name in (*rule.all_of, *rule.none_of)}
