"""Finished connection states -> rows of the flows table (analysis.schema.FLOW_COLUMNS), whole columns at once.

A state is kept by direction (analysis.tcp.state); here the roles are
final, so each two-wide field becomes its ``_client`` and ``_server``
columns, each direction code becomes ``client``/``server``, and the ids
become text (rule 5 of analysis.tcp.flows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.schema import FLOW_COLUMN_NAMES
from analysis.tcp import sides
from analysis.tcp.facts import first_rst
from analysis.tcp.flows import connection_texts
from analysis.tcp.history import CONN_STATE_RULES, HISTORY_LEGEND, conn_state_codes, histories
from analysis.tcp.roles import client_endpoints
from analysis.tcp.sides import SIDES
from analysis.tcp.state import States

_STATE_TEXTS = pa.array([rule.state for rule in CONN_STATE_RULES], pa.large_string())
_PORTS = 65536


@dataclass(frozen=True)
class Names:
    """What the ids of a pass stand for."""

    addresses: np.ndarray  # address id -> text (an endpoint is address id * 65536 + port)
    vlans: np.ndarray  # VLAN stack id -> text ('10;20', '' untagged)
    files: tuple[str, ...] = ("",)  # file index -> name


def _int(values: np.ndarray) -> pd.arrays.IntegerArray:
    """-1 as <NA>."""
    values = np.asarray(values, dtype=np.int64)
    return pd.arrays.IntegerArray(np.where(values >= 0, values, 0), values < 0)


class _Roles:
    """Per connection: which direction is the client's (0 or 1)."""

    def __init__(self, states: States, names: Names):
        self.client_ep, self.guessed = client_endpoints(states)
        self.client_d = (self.client_ep != states["first_src"]).astype(np.int64)

    def split(self, pair: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """An (n, 2) by-direction field -> (the client's, the server's)."""
        swap = self.client_d == 1
        return np.where(swap, pair[:, 1], pair[:, 0]), np.where(swap, pair[:, 0], pair[:, 1])

    def side(self, direction: np.ndarray) -> np.ndarray:
        """Direction codes -> side codes (0 client, 1 server; -1 stays)."""
        return np.where(direction >= 0, direction ^ self.client_d, -1)


def flows_table(states: States, names: Names) -> pd.DataFrame:
    """The flows-table rows of these finished connections, in the given order."""
    roles = _Roles(states, names)
    columns: dict[str, object] = {}
    columns.update(_identity(states, names, roles))
    columns.update(_close_facts(states, roles))
    columns.update(_late_facts(states, roles))
    letters = states["letters"].reshape(len(states), len(HISTORY_LEGEND), 2)
    by_role = np.where(roles.client_d[:, None, None] == 1, letters[:, :, ::-1], letters)
    columns["history"] = histories(by_role)
    columns["conn_state"] = _conn_states(states, roles, by_role)
    return pd.DataFrame({name: columns[name] for name in FLOW_COLUMN_NAMES}, copy=False)


def _identity(states: States, names: Names, roles: _Roles) -> dict[str, object]:
    first_src, first_dst = states["first_src"], states["first_dst"]
    server_ep = np.where(first_src == roles.client_ep, first_dst, first_src)
    flow, client, server = connection_texts(roles.client_ep, server_ep,
                                            states["nth"], names.addresses)
    packets_c, packets_s = roles.split(states["packets"])
    bytes_c, bytes_s = roles.split(states["bytes"])
    isn_c, isn_s = roles.split(states["isn"])
    first_ts, last_ts = states["first_ts"], states["last_ts"]
    files = pd.array(np.asarray(names.files, dtype=object), dtype="string")
    return {
        "conn": states["conn"].copy(), "flow": flow, "client": client, "server": server,
        "role_guessed": roles.guessed, "ip_version": states["ip_version"].astype(np.int8),
        "vlan": pd.array(names.vlans[states["vlan"]], dtype="string"),
        "packets": packets_c + packets_s, "packets_client": packets_c, "packets_server": packets_s,
        "bytes_client": bytes_c, "bytes_server": bytes_s,
        "first_frame": states["first_frame"].copy(), "last_frame": states["last_frame"].copy(),
        "first_ts_ns": first_ts.copy(), "last_ts_ns": last_ts.copy(), "duration_s": (last_ts - first_ts) / 1e9,
        "first_file": files.take(states["first_file"]), "last_file": files.take(states["last_file"]),
        "isn_client": _int(isn_c), "isn_server": _int(isn_s),
    }


def _first_of(states: States, roles: _Roles, name: str) -> dict[str, object]:
    """``{name}_frame_<side>``, ``{name}_ts_ns_<side>`` and the ``first_{name}_*`` trio."""
    frames, times = states[f"{name}_frame"], states[f"{name}_ts"]
    out: dict[str, object] = {}
    for label, frame, ts in zip(SIDES, roles.split(frames), roles.split(times)):
        out[f"{name}_frame_{label}"], out[f"{name}_ts_ns_{label}"] = _int(frame), _int(ts)
    second = (frames[:, 1] >= 0) & ((frames[:, 0] < 0) | (frames[:, 1] < frames[:, 0]))
    frame = np.where(second, frames[:, 1], frames[:, 0])
    out[f"first_{name}_by"] = sides.names(roles.side(np.where(frame >= 0, second.astype(np.int64), -1)))
    out[f"first_{name}_frame"] = _int(frame)
    out[f"first_{name}_ts_ns"] = _int(np.where(second, times[:, 1], times[:, 0]))
    return out


def _close_facts(states: States, roles: _Roles) -> dict[str, object]:
    out = {**_first_of(states, roles, "fin"), **_first_of(states, roles, "rst")}
    late_ts = states["late_ts"]
    out["data_after_fin_by"] = sides.names(roles.side(states["late_d"]))
    out["data_after_fin_frame"], out["data_after_fin_ts_ns"] = _int(states["late_frame"]), _int(late_ts)
    out["data_after_fin_len"] = _int(states["late_len"])
    # new payload after the peer's FIN, by sequence range: from where the side had got to before the FIN (or where its
    # late payload starts) to the furthest end after it; retransmissions and segments that fill a gap count once
    late_top = states["late_top"]
    late = np.where(late_top >= 0, np.maximum(late_top - np.maximum(states["early_end"], states["late_start"]), 0), 0)
    for label, after, before, first in zip(SIDES, roles.split(late), roles.split(states["early_bytes"]),
                                           roles.split(states["payload_ts"])):
        out[f"bytes_after_peer_fin_{label}"], out[f"bytes_before_peer_fin_{label}"] = after, before
        out[f"first_payload_ts_ns_{label}"] = _int(first)
    answer_ts = states["answer_ts"]
    out["rst_answer_frame"], out["rst_answer_ts_ns"] = _int(states["answer_frame"]), _int(answer_ts)
    out["rst_answer_delay_ns"] = out["rst_answer_ts_ns"] - out["data_after_fin_ts_ns"]
    return out


def _late_facts(states: States, roles: _Roles) -> dict[str, object]:
    out: dict[str, object] = {"lost_after_rst_bytes": states["lost_bytes"].copy(),
                              "lost_after_rst_frame": _int(states["lost_frame"])}
    rst_frame, rst_d = first_rst(states)
    has_rst = rst_frame >= 0
    by_second = rst_d == 1
    acked = np.where(by_second, states["acked"][:, 1], states["acked"][:, 0])
    peer_end = np.where(by_second, states["peer_end"][:, 0], states["peer_end"][:, 1])
    out["unacked_at_rst_bytes"] = _int(np.where(has_rst & (acked >= 0), np.maximum(peer_end - acked, 0), -1))
    # where the RST sender's window went to 0 for good before its first RST (analysis.tcp.windows)
    for field in ("frame", "ts"):
        zero = states[f"zero_window_{field}"]
        out[f"zero_window_{field}" + ("_ns" if field == "ts" else "")] = _int(
            np.where(by_second, zero[:, 1], np.where(has_rst, zero[:, 0], -1)))
    half_close = states["hc_frame"] >= 0
    out["half_close_by"] = sides.names(roles.side(np.where(half_close, 1 - states["late_d"], -1)))
    out["half_close_frame"], out["half_close_ts_ns"] = _int(states["hc_frame"]), _int(states["hc_ts"])
    return out


def _conn_states(states: States, roles: _Roles, letters: np.ndarray) -> pd.array:
    """conn_state from the letters (S, H) and the close facts, by role."""
    seen = letters >= 0  # [conn, letter, client/server]
    letter = {h.letter: k for k, h in enumerate(HISTORY_LEGEND)}
    fin_c, fin_s = roles.split(states["fin_frame"])
    rst_c, rst_s = roles.split(states["rst_frame"])
    _, rst_d = first_rst(states)
    _, packets_s = roles.split(states["packets"])
    codes = conn_state_codes({
        "client_syn": seen[:, letter["S"], 0],
        "server_synack": seen[:, letter["H"], 1],
        "client_fin": fin_c >= 0, "server_fin": fin_s >= 0,
        "client_rst": rst_c >= 0, "server_rst": rst_s >= 0,
        "client_rst_first": roles.side(rst_d) == 0,
        "server_sent": packets_s > 0,
    })
    return pd.array(_STATE_TEXTS.take(pa.array(codes)), dtype="string")
