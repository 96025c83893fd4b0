"""Every connection's causal chain as numbered steps, the ladder's, for all connections of the table at once.

The ladder (analysis.plots.ladder) numbers a Diagnosis' evidence this way: the items that have words
(analysis.plots.highlights.EVIDENCE_WORDS), ordered by time then label, one per timeline row (when two
labels name the same row, the words listed first in EVIDENCE_WORDS win), badged ❶❷❸ in that order
(analysis.plots.style.badge). Here the same rules run over whole columns of the connection table, where
analysis.diagnosis.evidence.EVIDENCE says each item lives, so that 80,000 connections get their chains
without a Diagnosis each; tests/analysis/annotate hold the two equal on every sample bundle.

A step also gets the measurement behind its words where the table has one (:data:`FACTS`): the bytes
sent after the FIN and how long after it, the RST's delay and the kernel's reason for it.
"""

from __future__ import annotations

import string
from collections import namedtuple
from collections.abc import Callable

import numpy as np
import pandas as pd

from analysis.diagnosis.evidence import EVIDENCE, Where
from analysis.diagnosis.explain import duration
from analysis.plots.highlights import EVIDENCE_WORDS
from analysis.tcp import sides

#: The columns of :func:`chain_steps`' table.
STEP_COLUMNS = ("row", "conn", "number", "label", "words", "facts", "source", "ts_ns", "frame", "actor", "detail")
_RANK = {label: n for n, label in enumerate(EVIDENCE_WORDS)}
_NUMBERED = tuple(where for where in EVIDENCE if EVIDENCE_WORDS[where.label.value])  # every label has an entry


def _reason(step) -> str | None:
    return f"reason {step.rst_reason}" if isinstance(step.rst_reason, str) else None


#: Evidence label -> the facts a comment adds to the step's words, from the step and its connection's row.
FACTS: dict[str, Callable] = {
    "late_data": lambda s: f"{s.length} bytes, {duration(s.ts_ns - s.first_fin_ts_ns)} after the {s.closer}'s FIN",
    "rst_answer": lambda s: "; ".join(filter(None, [f"{duration(s.rst_answer_delay_ns)} after the data",
                                                    _reason(s)])),
    "first_rst": _reason,
}
#: what a fact is made from: the step's time, and these of the step or its connection's row
_FactRow = namedtuple("_FactRow", ("ts_ns", "length", "first_fin_ts_ns", "closer", "rst_answer_delay_ns", "rst_reason"))


def chain_steps(table: pd.DataFrame) -> pd.DataFrame:
    """The numbered steps of every connection of ``table`` (the connection table): one row per step, with
    ``row`` (the connection's position in ``table``), ``number`` (0 for ❶), the ``words`` of the ladder and
    the ``facts`` behind them, the ``frame`` of a packet step (-1 for an event's), and its ``ts_ns``,
    ``source``, ``actor`` and ``detail`` (the syscall line, the application's text)."""
    roles = _roles(table)
    items = [found for where in _NUMBERED if (found := _items(table, where, roles)) is not None]
    if not items:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in STEP_COLUMNS})
    steps = pd.concat(items, ignore_index=True).sort_values(["row", "ts_ns", "label"], kind="stable")
    # one step per timeline row, in the order the rows first come; the preferred words win
    steps["at"] = steps.groupby(["row", "ts_ns", "frame", "actor"], sort=False, dropna=False).ngroup()
    steps = steps.sort_values(["at", "rank"], kind="stable").drop_duplicates("at").reset_index(drop=True)
    steps["number"] = steps.groupby("row").cumcount()
    steps["words"] = _words(steps)
    steps["conn"] = table["conn"].to_numpy(np.int64)[steps["row"].to_numpy()]
    steps["facts"] = _facts(steps, table)
    return steps[list(STEP_COLUMNS)]


def _words(steps: pd.DataFrame) -> np.ndarray:
    """The ladder's words for each step's (label, actor, errno): the few distinct ones formatted once each."""
    kinds = steps.groupby(["label", "actor", "errno"], sort=False, dropna=False).ngroup().to_numpy()
    _, first = np.unique(kinds, return_index=True)  # a row of each kind, in kind order
    label, actor, errno = (_objects(steps[c])[first].tolist() for c in ("label", "actor", "errno"))
    made = [EVIDENCE_WORDS[lb].format(actor=a or "a side", errno=e or "error") for lb, a, e in zip(label, actor, errno)]
    return np.array(made, dtype=object)[kinds]


def _roles(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """closer, writer and receiver (of the first RST) per row, as client/server/None."""
    receiver = sides.names(sides.other(sides.codes(table["first_rst_by"])))
    return {name: _objects(values) for name, values in
            (("closer", table["closer"]), ("writer", table["writer"]), ("receiver", receiver))}


def _objects(values) -> np.ndarray:
    """A column as Python objects, None where it is null."""
    return pd.Series(values, copy=False).to_numpy(dtype=object, na_value=None)


def _column(table: pd.DataFrame, name: str, roles: dict[str, np.ndarray]) -> pd.Series:
    """Column ``name`` of ``table``; a ``{closer}``/``{writer}`` in it is filled with each row's side."""
    fields = {field for _, field, _, _ in string.Formatter().parse(name) if field}
    if not fields:
        return table[name]
    (role,) = fields
    values = table[name.format(**{role: "client"})].copy()
    server = roles[role] == "server"
    values[server] = table[name.format(**{role: "server"})][server]
    return values


def _items(table: pd.DataFrame, where: Where, roles: dict[str, np.ndarray]) -> pd.DataFrame | None:
    """The rows of ``table`` that have this evidence item, as steps (not yet numbered)."""
    ts = _column(table, where.ts, roles)
    rows = np.flatnonzero(ts.notna().to_numpy(bool))
    if not len(rows):
        return None
    actor = roles[where.actor] if where.actor in roles else _objects(table[where.actor])

    def optional(name: str | None) -> np.ndarray:
        return _objects(_column(table, name, roles).iloc[rows]) if name else np.full(len(rows), None, dtype=object)

    frame = _column(table, where.frame, roles).iloc[rows].to_numpy(np.int64, na_value=-1) if where.frame else -1
    source = where.source.value
    if where.source_column:
        source = table[where.source_column].iloc[rows].fillna(source).to_numpy(object)
    return pd.DataFrame({
        "row": rows, "label": where.label.value, "rank": _RANK[where.label.value], "source": source,
        "ts_ns": ts.to_numpy(np.int64, na_value=0)[rows], "actor": actor[rows], "frame": frame,
        "errno": optional(where.errno), "length": optional(where.length), "detail": _filled(table, where.detail, rows),
    })  # fmt: skip


def _filled(table: pd.DataFrame, template: str | None, rows: np.ndarray) -> np.ndarray:
    """``template`` filled from each row's columns (None where it has none or a column is null)."""
    out = np.full(len(rows), None, dtype=object)
    if template is None:
        return out
    fields = [field for _, field, _, _ in string.Formatter().parse(template) if field]
    columns = {field: _objects(table[field].iloc[rows]) for field in fields}
    for i in range(len(rows)):
        values = {field: columns[field][i] for field in fields}
        if None not in values.values():
            out[i] = template.format_map(values)
    return out


def _facts(steps: pd.DataFrame, table: pd.DataFrame) -> np.ndarray:
    """Per step, what :data:`FACTS` says for its label (None for the others)."""
    out = np.full(len(steps), None, dtype=object)
    rows = steps["row"].to_numpy()
    for label, fact in FACTS.items():
        at = np.flatnonzero((steps["label"] == label).to_numpy(bool))
        columns = [_objects(steps[name])[at] if name in steps.columns else _objects(table[name].iloc[rows[at]])
                   for name in _FactRow._fields]
        out[at] = [fact(_FactRow(*values)) for values in zip(*columns)]
    return out
