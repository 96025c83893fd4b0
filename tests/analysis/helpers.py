"""Small builders for tests: a flows table with just the columns the event parsers use."""

import pandas as pd

from analysis.schema import validate


def validate_source(rows: pd.DataFrame) -> None:
    """A source's rows fit the schema; only t_rel (computed by the merge) may still be empty."""
    validate(rows.assign(t_rel=rows["t_rel"].fillna(0.0)))


def flows_table(*rows: tuple[str, str, int]) -> pd.DataFrame:
    """(client endpoint, server endpoint, first_ts_ns) -> a minimal flows frame."""
    return pd.DataFrame({
        "conn": range(len(rows)),
        "flow": [f"{c}>{s}" for c, s, _ in rows],
        "client": [c for c, _, _ in rows],
        "server": [s for _, s, _ in rows],
        "first_ts_ns": [t for _, _, t in rows],
    })


SEED = ("127.0.0.1:51850", "127.0.0.1:3917", 1795472645634597152)
SEED_FLOW = "127.0.0.1:51850>127.0.0.1:3917"
V6 = ("[::1]:47164", "[::1]:3931", 1795473337642000000)
V6_FLOW = "[::1]:47164>[::1]:3931"
