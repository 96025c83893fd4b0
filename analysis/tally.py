"""The text report's numbers, gathered a chunk of the connection table at a time: verdict counts and the most
telling connections (analysis.diagnosis.most_telling), without the whole table in memory."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from analysis.diagnosis import RULES, most_telling

_CLEAN = frozenset(rule.verdict.value for rule in RULES if rule.clean)


class Tally:
    """Counts and the ``details`` most telling rows of the chunks it is given (``take``), clean ones included:
    the clean verdicts rank last, so the most telling without them are the first of these."""

    def __init__(self, details: int, verdicts: list[str] | None = None, flow: str | None = None):
        self.details, self.verdicts, self.flow = details, verdicts, flow
        self.start()

    def start(self) -> None:
        self.counts: Counter[str] = Counter()
        self.best: pd.DataFrame | None = None

    def take(self, table: pd.DataFrame) -> None:
        if self.verdicts is not None:
            table = table[table["verdict"].isin(self.verdicts)]
        if self.flow is not None:
            table = table[table["flow"] == self.flow]
        self.counts.update(table["verdict"].astype(str).value_counts().to_dict())
        head = most_telling(table, limit=self.details, include_clean=True)
        joined = head if self.best is None else pd.concat([self.best, head])
        self.best = most_telling(joined, limit=self.details, include_clean=True)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def not_clean(self) -> int:
        return sum(n for verdict, n in self.counts.items() if verdict not in _CLEAN)

    def shown(self, everything: bool) -> pd.DataFrame:
        """The rows to explain: the most telling, clean ones too when ``everything``."""
        if self.best is None:
            return pd.DataFrame()
        return self.best if everything else self.best[~self.best["verdict"].isin(list(_CLEAN))]
