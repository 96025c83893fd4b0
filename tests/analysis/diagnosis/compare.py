"""Hold a connection table to the per-connection reference (reference.py): roles, signals, verdict, evidence."""

from __future__ import annotations

import re

import pandas as pd

from analysis.diagnosis.evidence import items_of
from tests.analysis.diagnosis.reference import delivered_before_rst, gather, links, reset, verdict

#: evidence whose length / errno the table keeps
LENGTHS = {"late_data", "write_after_fin", "app_write", "app_abort"}
ERRNOS = {"sk_error", "syscall_error", "write_error", "app_error"}


def differences(connections: pd.DataFrame, events: pd.DataFrame) -> list[str]:
    """What differs between each table row and the reference gathered from ``events`` (the whole timeline)."""
    problems = []
    by_conn = {conn: rows for conn, rows in events.groupby("conn", sort=False)}
    empty = events.iloc[:0]
    records = connections.to_dict("records")
    linked = links(records)
    for row in records:
        ref = gather(pd.Series(row), by_conn.get(row["conn"], empty))
        where = f"{row['flow']}:"
        problems += _derived_differences(row, ref, linked.get(row["conn"]), where)
        if (row["closer"], row["writer"]) != (ref.closer, ref.writer):
            problems.append(f"{where} roles {row['closer']}/{row['writer']} vs reference {ref.closer}/{ref.writer}")
        for name, held in ref.signals.items():
            if bool(row[name]) != held:
                problems.append(f"{where} signal {name}: table {bool(row[name])} vs reference {held}")
        if str(row["verdict"]) != verdict(ref.signals):
            problems.append(f"{where} verdict {row['verdict']} vs reference {verdict(ref.signals)}")
        got = items_of(row)
        if set(got) != set(ref.items):
            problems.append(f"{where} evidence labels {sorted(got)} vs reference {sorted(ref.items)}")
        for label in set(got) & set(ref.items):
            problems += [f"{where} {label}: {p}" for p in _item_differences(label, got[label], ref.items[label])]
    return problems


def _item_differences(label: str, got, want) -> list[str]:
    out = []
    pairs = {"ts_ns": (got.ts_ns, want.ts_ns), "frame": (got.frame, want.frame), "actor": (got.actor, want.actor)}
    if label in ERRNOS:
        pairs["errno"] = (got.errno, want.errno)
    if label in LENGTHS:
        pairs["length"] = (got.length, want.length)
    if label == "rst_reason":
        reason = re.search(r"reason=(\S+)", want.detail or "")
        pairs["reason"] = (got.detail, "reason=" + reason.group(1) if reason else None)
    elif label == "state_at_rst":
        pairs["state"] = (got.detail, want.detail)
    elif got.source in ("syscall", "app") and label not in ("read_eof", "app_write"):
        pairs["detail"] = (got.detail, want.detail)
    return [f"{name} {a!r} vs reference {b!r}" for name, (a, b) in pairs.items() if a != b]


def _cell(row, name):
    value = row.get(name)
    return None if value is None or pd.isna(value) else value


def _derived_differences(row, ref, link, where: str) -> list[str]:
    """The reset columns, delivered_before_rst and the proxy-chain link against the reference."""
    want = {
        **dict(zip(("reset_state", "reset_state_source", "reset_errno"), reset(pd.Series(row), ref))),
        "delivered_before_rst": delivered_before_rst(pd.Series(row)),
        **dict(zip(("link_conn", "link_role", "link_delay_ns"), link or (None, None, None))),
    }
    return [f"{where} {name} {_cell(row, name)!r} vs reference {value!r}" for name, value in want.items()
            if _cell(row, name) != value]
