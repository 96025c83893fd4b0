"""The connection table: the flows plus every connection's diagnosis, in one pass of whole-column operations.

    roles      closer (whose FIN came first) and writer (the other side), from the close facts
    evidence   the non-packet rows that prove the story (evidence.find), one per connection and label
    signals    the booleans the verdict rules read (signals.compute)
    verdict    the first rule that holds (verdicts.verdict_codes)
    resets     what the first RST did to its receiver (analysis.tcp.resets: the state, tcp_reset()'s errno)
    links      proxy chains: a proxy's connection and its upstream connection (links.link_chains)

No Python runs per connection: the cost is a few masks over the
timeline's non-packet rows and a few arrays as long as the table. Columns
and their meaning: analysis.schema.connections.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.diagnosis import evidence
from analysis.diagnosis.links import link_chains
from analysis.diagnosis.signals import Signal, compute
from analysis.diagnosis.verdicts import RULES, Verdict, verdict_codes
from analysis.events._columns import strings_from_codes
from analysis.schema import DIAGNOSIS_COLUMNS, validate_connections
from analysis.tcp import resets, sides

_VERDICTS = pd.CategoricalDtype([v.value for v in Verdict])
_RULE_VERDICTS = np.array([list(_VERDICTS.categories).index(rule.verdict.value) for rule in RULES])


def connection_table(flows: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """One row per row of ``flows`` (analysis.tcp's table), with the diagnosis columns added.

    ``events``: timeline rows of the other sources (the packet rows, if any,
    are not needed: what they show is in the flows' close facts), in
    timeline order, with their ``conn``.
    """
    n = len(flows)
    closer, writer = roles(flows)
    row_of_conn = np.full(int(flows["conn"].max()) + 1 if n else 0, -1, dtype=np.int64)
    row_of_conn[flows["conn"].to_numpy(np.int64)] = np.arange(n)
    conn = events["conn"].to_numpy(np.int64, na_value=-1) if len(events) else np.zeros(0, np.int64)
    known = (conn >= 0) & (conn < len(row_of_conn))
    row_of_event = np.where(known, row_of_conn[np.where(known, conn, 0)], -1)
    rst_by = sides.codes(flows["first_rst_by"])
    found = evidence.find(events, row_of_event, evidence.Context(
        first_fin_ts=flows["first_fin_ts_ns"].to_numpy(np.int64, na_value=-1),
        first_rst_ts=flows["first_rst_ts_ns"].to_numpy(np.int64, na_value=-1),
        first_rst_by=rst_by,
        writer=writer))
    signals = compute(flows, found, writer)
    columns = {
        "verdict": pd.Categorical.from_codes(_RULE_VERDICTS[verdict_codes(signals, n)], dtype=_VERDICTS),
        "closer": sides.names(closer),
        "writer": sides.names(writer),
        **{str(name): values for name, values in signals.items()},
        "bytes_after_close": _of_side(flows, "bytes_after_peer_fin_{side}", writer),
        "bytes_lost": (flows["unacked_at_rst_bytes"].fillna(0).to_numpy(np.int64)
                       + flows["lost_after_rst_bytes"].to_numpy(np.int64)),
        "delivered_before_rst": _delivered_before_rst(flows, rst_by),
        **_reset(flows, rst_by, found["state_at_rst"], signals[Signal.REFUSED]),
        **{name: values for name, values in found.items() if not name.startswith("_")},
        **link_chains(flows),
    }
    diagnosis = pd.DataFrame({c.name: columns[c.name] for c in DIAGNOSIS_COLUMNS}, index=flows.index)
    table = pd.concat([flows, diagnosis], axis=1)
    validate_connections(table)
    return table


def roles(flows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(closer, writer) side codes: the writer is the side that sent data after the peer's FIN, else the
    peer of the first FIN's sender; the closer is the writer's peer (the client when nothing closed)."""
    late = sides.codes(flows["data_after_fin_by"])
    first_fin = sides.codes(flows["first_fin_by"])
    closer = np.where(late >= 0, sides.other(late), np.where(first_fin >= 0, first_fin, sides.CLIENT)).astype(np.int8)
    return closer, sides.other(closer)


def _delivered_before_rst(flows: pd.DataFrame, sender: np.ndarray) -> np.ndarray:
    """The side that did not reset had sent payload, and the RST sender had acknowledged all of it by its RST
    (``sender``: side codes of the first RST's sender)."""
    peer = sides.other(sender)
    sent = np.where(peer == sides.SERVER, flows["bytes_server"].to_numpy(np.int64), flows["bytes_client"].to_numpy(np.int64))
    return ((peer >= 0) & (sent > 0) & (flows["unacked_at_rst_bytes"] == 0).fillna(False).to_numpy(bool)
            & (flows["lost_after_rst_bytes"] == 0).to_numpy(bool))


def _reset(flows: pd.DataFrame, sender: np.ndarray, kernel_state, refused: np.ndarray) -> dict[str, object]:
    """The RST receiver's state (the kernel's, else inferred from the packets) and the errno tcp_reset() gives
    it (analysis.tcp.resets); ``sender``: side codes of the first RST's sender."""
    fin = np.where(sender == sides.SERVER, flows["fin_frame_server"].to_numpy(np.int64, na_value=-1),
                   flows["fin_frame_client"].to_numpy(np.int64, na_value=-1))
    rst = flows["first_rst_frame"].to_numpy(np.int64, na_value=-1)
    inferred = resets.inferred_state_codes(refused, (fin >= 0) & (fin < rst), rst >= 0)
    seen, traced_states = pd.factorize(pd.Series(kernel_state))  # -1: not traced
    states = [*traced_states, *resets.INFERRED_STATE.values()]
    state = np.where(seen >= 0, seen, np.where(inferred >= 0, len(traced_states) + inferred, -1))
    errnos = [resets.errno_for(s) for s in states]  # per distinct state, once
    errno_of_state = np.array([-1 if e is None else n for n, e in enumerate(errnos)] + [-1])  # the last: no state
    errno = errno_of_state[state]
    return {"reset_state": strings_from_codes(state, states),
            "reset_state_source": strings_from_codes(np.where(seen >= 0, 0, np.where(rst >= 0, 1, -1)), ("kernel", "packets")),
            "reset_errno": strings_from_codes(errno, [e or "" for e in errnos])}


def _of_side(flows: pd.DataFrame, name: str, side: np.ndarray) -> np.ndarray:
    """Per row, the value of ``name`` for that row's side (``{side}`` is client or server)."""
    client = flows[name.format(side="client")].to_numpy(np.int64)
    return np.where(side == sides.SERVER, flows[name.format(side="server")].to_numpy(np.int64), client)
